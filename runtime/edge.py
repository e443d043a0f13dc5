"""What aiohttp's per-connection protocol is told (`handler_args`): the service's HTTP edge.

- `auto_decompress` off: request bodies are decoded by `runtime/bodies.py`, which checks them
  to the end and counts the decoded bytes against the limit.
- `keepalive_timeout` from the configuration (aiohttp's own default is an hour).
- `valid_header_text`, a middleware: header values are valid Unicode from here on (aiohttp
  hands a raw 0xFF over as the lone surrogate U+DCFF, which fails wherever it is encoded: a
  cookie's signature check, a credential's hash), and the Host header makes a URL.
- a logger that reports a malformed request (a bad request line, an oversized or invalid
  header) as one warning line instead of an error with a traceback: it is the client's
  mistake, answered 400 by aiohttp before the app sees it, and anyone on the internet can
  send one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from runtime.config import HttpConfig
from runtime.errors import ApiError, Handler
from runtime.text import valid_text

log = logging.getLogger("runtime.http.edge")


class ClientErrorLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with a client's malformed request as one warning line."""

    def exception(self, msg: object, *args: object, exc_info: Any = True,
                  **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(error, HttpProcessingError):
            first_line = (error.message or type(error).__name__).strip().splitlines()[0]
            self.logger.warning(f"{msg}: %s %s", *args, error.code, first_line[:200])
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


def handler_args(config: HttpConfig) -> Mapping[str, Any]:
    return {
        "auto_decompress": False,
        "keepalive_timeout": config.keepalive_timeout_seconds,
        "logger": ClientErrorLogger(logging.getLogger("aiohttp.server")),
    }


@web.middleware
async def valid_header_text(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Header values as valid Unicode (contract §3), before any handler reads them: bytes that
    are not UTF-8 become U+FFFD. An ASCII request (nearly every one) passes untouched. And a
    Host header that makes no URL (`x:99999`, a name IDNA refuses) is a 400 here, not a
    ValueError wherever `request.url` is first read."""
    headers = request.headers
    if not all(value.isascii() for value in headers.values()):
        request = request.clone(headers=[(name, valid_text(value))
                                         for name, value in headers.items()])
    try:
        request.url  # noqa: B018 - built once (aiohttp keeps it); building it checks the Host
    except ValueError:  # UnicodeError (IDNA) is one
        return ApiError(400, "bad_request", "the Host header does not name a host").response()
    return await handler(request)
