"""What aiohttp's per-connection protocol is told (`handler_args`): the service's HTTP edge.

- `auto_decompress` off: request bodies are decoded by `runtime/bodies.py`, which checks them
  to the end and counts the decoded bytes against the limit.
- `keepalive_timeout` from the configuration (aiohttp's own default is an hour).
- `edge`, the app's one middleware (one coroutine layer per request, not three): the request's
  deadlines (`runtime/deadlines.py`), then `checked_headers`: header values are valid Unicode
  from here on (aiohttp hands a raw 0xFF over as the lone surrogate U+DCFF, which fails
  wherever it is encoded: a cookie's signature check, a credential's hash), and the Host header
  makes a URL, and a request outside webhooks carries at most one Authorization header; then
  errors as JSON (`runtime/errors.json_errors`); then, for the paths under
  a prefix that registered one (`scope_middleware`: the console's error pages), that part's
  own middleware. A webhook or an API request does not pass through the console's.
- a logger that reports a malformed request (a bad request line, an oversized or invalid
  header) as one warning line instead of an error with a traceback: it is the client's
  mistake, answered 400, 414 or 431 before the app sees it (`runtime/edge_protocol.py`), and
  anyone on the internet can send one (so: ten lines a minute at most, then a count,
  `runtime/logs.Throttled`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from runtime.config import HttpConfig
from runtime.deadlines import request_began
from runtime.edge_protocol import MAX_REQUEST_HEADERS, parse_error
from runtime.errors import ApiError, Handler, json_errors
from runtime.logs import Throttled
from runtime.text import valid_text

log = logging.getLogger("runtime.http.edge")


class Middleware(Protocol):
    """An aiohttp middleware, as it is called (the handler by keyword, as aiohttp does)."""

    def __call__(self, request: web.Request, *, handler: Handler
                 ) -> Awaitable[web.StreamResponse]: ...


# (prefix, middleware): run inside json_errors for the prefix itself and the paths below it.
SCOPED_MIDDLEWARES = web.AppKey("edge_scoped_middlewares", list[tuple[str, Middleware]])


class ClientErrorLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with a client's malformed request as one warning line (a few
    a minute, then a count: anyone can send them as fast as they like)."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self.malformed = Throttled(logger, "malformed requests refused")

    def exception(self, msg: object, *args: object, exc_info: Any = True,
                  **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(error, HttpProcessingError):
            # What the client was answered (runtime/edge_protocol.py), not the bytes it sent.
            answer = parse_error(error)
            self.malformed.log(logging.WARNING, f"{msg}: %s %s", *args, answer.status,
                               answer.message)
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def handler_args(config: HttpConfig) -> Mapping[str, Any]:
    return {
        "auto_decompress": False,
        "max_headers": MAX_REQUEST_HEADERS,
        "keepalive_timeout": config.keepalive_timeout_seconds,
        "logger": ClientErrorLogger(logging.getLogger("aiohttp.server")),
    }


# The request's full URL as text (`str(request.url)`), kept by what makes it: building a
# yarl URL from the Host header and joining the request target to it was the costliest step
# of a request's way in, and a provider calls the same webhook URL time after time. Anyone
# may send any Host and target, so the table is emptied when full.
URL_TEXT: Any = (web.RequestKey("runtime_url_text", str)
                 if hasattr(web, "RequestKey") else "runtime_url_text")
MAX_URL_TEXTS = 4096
_url_texts: dict[tuple[str, str, str, str], str] = {}


def url_text(request: web.BaseRequest) -> str:
    """`str(request.url)`; ValueError for a Host header that makes no URL, as that raises.

    The URL is a function of the scheme, the Host header (or the socket's address), and the
    request line's method and target (aiohttp's `rel_url` is parsed from these two alone):
    the same four give the same text, so it is built once for them."""
    key = (request.scheme, request.host, request.method, request.raw_path)
    text = _url_texts.get(key)
    if text is None:
        text = str(request.url)
        if len(_url_texts) >= MAX_URL_TEXTS:
            _url_texts.clear()
        _url_texts[key] = text
    return text


def checked_headers(request: web.Request) -> web.Request | web.Response:
    """Header values as valid Unicode (contract §3), before any handler reads them: bytes that
    are not UTF-8 become U+FFFD. An ASCII request (nearly every one) passes untouched. And a
    Host header that makes no URL (`x:99999`, a name IDNA refuses) is a 400 here, not a
    ValueError wherever `request.url` is first read. The URL's text is kept in the request
    (`URL_TEXT`) for the webhook intake. Outside webhooks (whose headers are the script's to
    read), more than one Authorization header is a 400: which credential the request meant is
    not ours to guess (aiohttp's `headers.get` would quietly take the first)."""
    headers = request.headers
    if len(headers.getall("Authorization", ())) > 1 and not request.path.startswith("/hooks/"):
        return ApiError(400, "ambiguous_credentials",
                        "the request carries more than one Authorization header; send one "
                        "credential").response()
    # One C-level pass over the values joined, not a generator step per header.
    if not "".join(headers.values()).isascii():
        request = request.clone(headers=[(name, valid_text(value))
                                         for name, value in headers.items()])
    try:
        request[URL_TEXT] = url_text(request)
    except ValueError:  # UnicodeError (IDNA) is one
        return ApiError(400, "bad_request", "the Host header does not name a host").response()
    return request


def scope_middleware(app: web.Application, prefix: str, middleware: Middleware) -> None:
    """Run `middleware` for `prefix` and the paths below it only, inside the JSON errors (as
    the innermost app middleware would run, but without a coroutine layer more for every
    other request)."""
    app.setdefault(SCOPED_MIDDLEWARES, []).append((prefix, middleware))


def scoped(request: web.Request, handler: Handler) -> Handler:
    """`handler`, wrapped in the scoped middlewares whose prefix covers the request's path."""
    for prefix, middleware in request.app.get(SCOPED_MIDDLEWARES, ()):
        path = request.path
        if path == prefix or path.startswith(prefix + "/"):
            handler = functools.partial(middleware, handler=handler)
    return handler


@web.middleware
async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request's way in, in this order: the deadlines' clocks, the headers' text, errors
    as JSON, then a scoped middleware if the path has one. One middleware rather than four:
    each is a coroutine and a wrapper more on every request."""
    connection = request_began(request)
    try:
        checked = checked_headers(request)
        if isinstance(checked, web.Response):
            return checked
        return await json_errors(checked, scoped(checked, handler))
    finally:
        if connection is not None:
            connection.request_ended()
