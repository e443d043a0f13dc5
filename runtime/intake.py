"""Turning an HTTP request into the plain data a script sees (never an aiohttp object)."""

from __future__ import annotations

from aiohttp import web

from runtime.errors import ApiError
from sandbox import RequestData

# Every request a script makes through fetch() carries this header; the webhook intake refuses
# it, so a script cannot call its own (or another module's) webhook in a loop.
HOP_HEADER = "X-Voip-Runtime-Hop"


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    if request.content_length is not None and request.content_length > max_bytes:
        raise body_too_large(max_bytes)
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise body_too_large(max_bytes)
    return body


def body_too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"the request body is larger than {max_bytes} bytes"
    )


def refuse_loops(request: web.Request) -> None:
    if HOP_HEADER in request.headers:
        raise ApiError(
            508, "loop_detected", "a script's own fetch() may not call a webhook of this service"
        )


def request_data(request: web.Request, body: bytes, public_base: str | None) -> RequestData:
    """The FetchRequest's fields: the full URL as called, headers in order, body as text."""
    url = f"{public_base}{request.rel_url}" if public_base else str(request.url)
    text = body.decode("utf-8", errors="replace") if body else None
    return RequestData(
        method=request.method,
        url=url,
        headers=tuple((name, value) for name, value in request.headers.items()),
        body=text,
    )
