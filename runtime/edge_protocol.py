"""aiohttp's per-connection protocol, answering what aiohttp answers by itself (before the app
sees a request, or after) in the service's way.

aiohttp answers a request it cannot parse itself (`RequestHandler.handle_error`): a request
line over 8,190 bytes, a header over its limits or too many of them, a bad HTTP version, a
bare LF, broken chunked framing. Its answer was plain text echoing the offending bytes back,
always 400; every other error of the service is `{"error", "message"}` (runtime/errors.py).
`EdgeRequestHandler` is aiohttp's protocol with these changed:

- a request line too long is `414 uri_too_long`, a header line too long or too many header
  lines `431 headers_too_large`, anything else the parser refuses `400 bad_request` naming
  what it found (without the request's bytes: they may be anything, and 8 KB of them). The
  connection is closed after it: the parser cannot find the next request's start;
- framing broken in the body of a request the app is already handling (a chunk size that is
  not hex in a later segment) is told to the body's reader at once (`runtime/bodies.py`
  answers 400 `bad_body`), where aiohttp's parser only stopped feeding it and queued a second
  answer: the reader waited for the body's deadline (a 408 half a minute later);
- an HTTP error aiohttp raises before the app's middleware runs (`Expect:` other than
  `100-continue` is its `417` from the route's expect handler) is given the shape the
  middleware gives the rest (runtime/errors.json_errors);
- an answer on a connection aiohttp is closing (the service stopping) says `Connection:
  close`, so that the client does not send its next request on it, to be lost unanswered.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import __version__ as aiohttp_version
from aiohttp import http_parser, web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

try:  # aiohttp's private parts this protocol reads (see `supported`)
    from aiohttp.web_protocol import _ErrInfo
except ImportError:  # pragma: no cover - another aiohttp than the one pinned
    _ErrInfo = None  # type: ignore[assignment,misc]

from runtime.errors import HTTP_ERROR_CODES, ApiError

# Header lines a request may carry (aiohttp's default, said here so that a dry run's composed
# request is held to the same: runtime/operations/dry_runs.py); a request with more is a 431.
MAX_REQUEST_HEADERS = 128
# The parser's words for a message with more header lines than `max_headers`.
TOO_MANY_HEADERS = "Too many headers received"
# What aiohttp's C parser reports as the too-long line when it is the request line: the target
# it was collecting (a bytearray); a header's name or value is bytes. Its pure-Python parser
# reports the whole line, which starts with the method and a space only on the request line.
_C_PARSER = http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy
_PY_REQUEST_LINE = re.compile(r"b['\"][!#$%&'*+.^_`|~0-9A-Za-z-]+ ")
MAX_REASON_CHARS = 200
_log = logging.getLogger(__name__)


def is_request_line(error: LineTooLong) -> bool:
    """Whether the line over the limit is the request line (else a header line)."""
    line = str(error.args[0]) if error.args else ""
    if _C_PARSER:
        return line.startswith("bytearray(")
    return _PY_REQUEST_LINE.match(line) is not None


def reason(error: HttpProcessingError) -> str:
    """The parser's words for what it found, without the excerpt of the request it quotes:
    `Bad status line:\\n  Invalid HTTP version:\\n\\n  b'GET / HTTP/9.9'\\n  ^` is
    `Bad status line: Invalid HTTP version`."""
    words: list[str] = []
    for line in (error.message or "").splitlines():
        if not line.strip():
            break
        words.append(line.strip())
    text = " ".join(words).rstrip(":").strip() or type(error).__name__
    return text[:MAX_REASON_CHARS]


def parse_error(error: BaseException | None) -> ApiError:
    """The answer to a request the parser refused with `error`."""
    if isinstance(error, LineTooLong):
        limit = error.args[1] if len(error.args) > 1 else "its limit of"
        if is_request_line(error):
            return ApiError(414, "uri_too_long",
                            f"the request line is longer than {limit} bytes")
        return ApiError(431, "headers_too_large",
                        f"a request header line is longer than {limit} bytes")
    if isinstance(error, HttpProcessingError):
        if error.message.startswith(TOO_MANY_HEADERS):
            return ApiError(431, "headers_too_large",
                            f"the request has more than {MAX_REQUEST_HEADERS} header lines")
        if isinstance(error, BadHttpMethod) and error.message.startswith("Received HTTPS"):
            return ApiError(400, "bad_request",
                            "malformed request: TLS (https) sent to a plain HTTP port")
        return ApiError(400, "bad_request", f"malformed request: {reason(error)}")
    return ApiError(400, "bad_request", "malformed request")


def error_answer(status: int, error: BaseException | None) -> ApiError:
    """What `handle_error` answers: the parser's refusals as above; a 500 (an exception
    outside the app's JSON errors) or a 504 in the shape of the service's own."""
    if status == 400:
        return parse_error(error)
    if status == 500:
        return ApiError(500, "internal", "internal server error")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return ApiError(status, "http_error", phrase)


# The private attributes of aiohttp's protocol and server read below: another aiohttp version
# may lack them, and then the service runs on aiohttp's own protocol (plain-text answers to
# what it cannot parse) rather than fail to start.
_HANDLER_SLOTS = ("_messages", "_current_request", "_close", "_force_close")
_SERVER_NAMES = ("_kwargs", "_loop")


def supported() -> bool:
    """Whether this aiohttp has the private parts `EdgeRequestHandler` reads."""
    slots = set(getattr(RequestHandler, "__slots__", ()))
    server_names = set(web.Server.__init__.__code__.co_names)
    return (_ErrInfo is not None and all(name in slots for name in _HANDLER_SLOTS)
            and all(name in server_names for name in _SERVER_NAMES))


def protocol_factory(server: web.Server) -> Callable[[], RequestHandler]:
    """The per-connection protocol for `server`: EdgeRequestHandler where this aiohttp allows
    it (logged once otherwise), else aiohttp's own."""
    if supported():
        return EdgeRequestHandler.factory(server)
    _log.warning("aiohttp %s lacks what runtime/edge_protocol.py reads: requests it cannot "
                 "parse are answered in its own plain text", aiohttp_version)
    return server


class EdgeRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, with its own answers given as the service's."""

    __slots__ = ()

    @classmethod
    def factory(cls, server: web.Server) -> Callable[[], EdgeRequestHandler]:
        """A protocol factory like `server` itself (`Server.__call__`), making these."""
        # aiohttp keeps the handler arguments (`handler_args`) and the loop on the server.
        kwargs: dict[str, Any] = dict(server._kwargs)
        loop: asyncio.AbstractEventLoop = server._loop
        return lambda: cls(server, loop=loop, **kwargs)

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        # aiohttp's own first: it logs (runtime/edge.ClientErrorLogger) and refuses when an
        # answer has begun already. Its plain-text answer is then replaced.
        super().handle_error(request, status, exc, message)
        response = error_answer(status, exc).response()
        response.force_close()
        return response

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        if isinstance(resp, web.HTTPException) and resp.status >= 400:
            # Raised outside the app's middleware (which answers every other one as JSON).
            words = (resp.text or resp.reason or "").strip()[:MAX_REASON_CHARS]
            code = HTTP_ERROR_CODES.get(resp.status, "http_error")
            resp = ApiError(resp.status, code, words).response()
        if self._close or self._force_close:
            # The connection ends after this answer (the service is stopping, or aiohttp gave
            # up on it): saying so keeps the client from sending its next request on it, to
            # be lost unanswered when it closes.
            resp.force_close()
        return await super().finish_response(request, resp, start_time)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # The parser failing in the body of the request being handled queues an error as the
        # only message: the body's reader is told instead, and the connection ends after its
        # answer (the error is not answered a second time).
        messages = self._messages
        request = self._current_request
        if len(messages) != 1 or request is None:
            return
        message, _ = messages[0]
        payload = request.content
        if not isinstance(message, _ErrInfo) or payload.is_eof():
            return
        messages.clear()
        error = message.exc
        words = reason(error) if isinstance(error, HttpProcessingError) else "broken framing"
        payload.set_exception(RequestPayloadError(words))
        payload.feed_eof()  # nothing more will come: aiohttp need not linger for it
        self.close()
