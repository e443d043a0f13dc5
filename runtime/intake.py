"""Turning an HTTP request into the plain data a script sees (never an aiohttp object).

Every way a request reaches a script comes through here: a webhook (`request_data`), and a
request composed as JSON for a dry run, a replay or `voip-runtime run --request`
(`composed_request`). Either way its text is valid Unicode (contract §3): header values, the
URL, the query and the body are UTF-8, with undecodable bytes as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from runtime.edge import URL_TEXT, url_text
from runtime.errors import ApiError
from runtime.text import valid_text
from sandbox import RequestData

# Every request a script makes through fetch() carries this header; the webhook intake refuses
# it, so a script cannot call its own (or another module's) webhook in a loop.
HOP_HEADER = "X-Voip-Runtime-Hop"


def refuse_loops(request: web.Request) -> None:
    if HOP_HEADER in request.headers:
        raise ApiError(
            508, "loop_detected", "a script's own fetch() may not call a webhook of this service"
        )


def valid_request(data: RequestData) -> RequestData:
    """`data` with every text field valid Unicode."""
    headers = tuple((valid_text(name), valid_text(value)) for name, value in data.headers)
    return RequestData(
        method=valid_text(data.method),
        url=valid_text(data.url),
        headers=headers,
        body=None if data.body is None else valid_text(data.body),
    )


def request_data(request: web.Request, body: bytes, public_base: str | None) -> RequestData:
    """The FetchRequest's fields: the full URL as called, headers in order, body as text."""
    # The edge made the URL's text already (`runtime/edge.checked_headers`).
    url = f"{public_base}{request.rel_url}" if public_base else (
        request.get(URL_TEXT) or url_text(request))
    raw = request.headers
    headers = tuple(raw.items())
    # ASCII (nearly every request) is valid as it is; valid_text on each name and value would
    # give back the same objects. (Checked on the names and values joined: one C-level pass
    # each rather than a generator step per header.)
    if not ("".join(raw.keys()).isascii() and "".join(raw.values()).isascii()):
        headers = tuple((valid_text(name), valid_text(value)) for name, value in headers)
    return RequestData(
        method=valid_text(request.method),
        url=valid_text(url),
        headers=headers,
        # Decoding with "replace" leaves no lone surrogate: the text is valid as it comes.
        body=body.decode("utf-8", errors="replace") if body else None,
    )


def composed_request(data: Mapping[str, Any]) -> RequestData:
    """A request given as JSON `{"method", "url", "headers", "body"}` (whose strings may carry
    lone-surrogate escapes such as `"\\udcff"`), as a webhook would have delivered it."""
    return valid_request(RequestData.from_json(data))
