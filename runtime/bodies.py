"""Reading a request's body whole: every byte, however it arrives, within a deadline and a limit.

Every place the service reads a body (webhook intake, the JSON API, the console's forms) comes
here. aiohttp's `request.content.read(n)` returns whatever has arrived so far, not n bytes: a
body sent in several TCP segments was cut at the first. Here the stream is read to its end.

- **The limit counts every byte**, and for a compressed body the decoded bytes as well as the
  bytes on the wire: decoding stops as soon as the limit is passed, so a small gzip body that
  would inflate to gigabytes costs at most the limit.
- **Content-Encoding is decoded here**, not by aiohttp (its decoding is switched off in
  `runtime/edge.py`): aiohttp passes an unknown or stacked coding through undecoded and accepts
  a truncated gzip stream, and its decoding errors surface as 500s. Here `gzip` and `deflate`
  are decoded and checked to the end of the stream; a body that is not what its header says is
  a 400; another coding is a 415.
- **The deadline**: the whole body must arrive within `http.body_timeout_seconds` of the request
  starting; a client that dribbles is answered 408 and its connection closed (the connection
  watchdog in `runtime/deadlines.py` closes it even where no handler reads the body).
"""

from __future__ import annotations

import asyncio
import zlib
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDict, MultiDictProxy

from runtime.deadlines import request_deadline
from runtime.errors import ApiError
from runtime.typedefs import CONFIG

GZIP_MAGIC = b"\x1f\x8b"
SUPPORTED_CODINGS = ("gzip", "deflate")
FORM_TYPE = "application/x-www-form-urlencoded"


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is larger than {max_bytes} bytes")


def not_as_encoded(coding: str) -> ApiError:
    return ApiError(400, "bad_encoding",
                    f"the body is not valid {coding} data, as its Content-Encoding says")


# The most input one call of the decompressor is given. At the end of a gzip member zlib copies
# what it was given beyond it (`unused_data`): a body of many tiny members (an empty one is 20
# bytes: 52,000 in a megabyte) given whole made that the square of the body's size, 3.7 s of
# the event loop, everyone's webhooks waiting, for one 1 MiB webhook.
FEED_BYTES = 4096
# Members of one gzip body. Each costs a new decompressor (some 10 us): a megabyte of empty
# members still held the event loop half a second. Clients send one; a body joined from a few
# gzip files is read as gzip.decompress reads it, up to this many.
MAX_GZIP_MEMBERS = 1000


class ZlibDecoder:
    """gzip (any number of members, as `gzip.decompress` reads them) or deflate (zlib-wrapped,
    as HTTP says, or raw, as some clients send it: told apart by the first byte, like aiohttp)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._decompressor: zlib._Decompress | None = None
        self._started = False
        self._members = 0

    def _new(self, first: bytes | memoryview) -> zlib._Decompress:
        if self.coding == "gzip":
            return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        # RFC 1950: a zlib stream's first byte has compression method 8 in its low bits.
        wbits = zlib.MAX_WBITS if first[0] & 0x0F == 8 else -zlib.MAX_WBITS
        return zlib.decompressobj(wbits=wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes of `data`, at most `room + 1` of them (one more means: over the limit;
        decoding stops there, so a small body that would inflate to gigabytes costs nothing)."""
        out = bytearray()
        view = memoryview(data)
        at = 0
        while at < len(view):
            if self._decompressor is None:
                # After the end of the stream only another gzip member may follow.
                another_member = self.coding == "gzip" and GZIP_MAGIC.startswith(
                    bytes(view[at:at + 2]))
                if self._started and not another_member:
                    raise not_as_encoded(self.coding)
                self._members += 1
                if self._members > MAX_GZIP_MEMBERS:
                    raise ApiError(400, "bad_encoding", f"the body has more than "
                                   f"{MAX_GZIP_MEMBERS} gzip members; send it as one")
                self._decompressor = self._new(view[at:at + 1])
                self._started = True
            piece = view[at:at + FEED_BYTES]
            try:
                out += self._decompressor.decompress(piece, room + 1 - len(out))
            except zlib.error:
                raise not_as_encoded(self.coding) from None
            if len(out) > room:
                return bytes(out)
            if self._decompressor.eof:
                # What zlib did not read of the piece starts the next member.
                at += len(piece) - len(self._decompressor.unused_data)
                self._decompressor = None
            else:
                at += len(piece)  # all of it read: the output stayed within its bound
        return bytes(out)

    def finish(self) -> None:
        """The body ended: refuse it unless its stream was complete."""
        if not self._started or self._decompressor is not None:
            raise not_as_encoded(self.coding)  # empty, or cut before the end of its stream


def content_coding(request: web.Request) -> str | None:
    """The one content coding to undo, or None; several, or one we cannot decode, is a 415."""
    header = request.headers.get("Content-Encoding", "")
    if not header:
        return None  # nearly every request: nothing to parse
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = ["gzip" if c == "x-gzip" else c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in SUPPORTED_CODINGS:
        raise ApiError(415, "unsupported_encoding",
                       f"Content-Encoding {header!r} is not supported: send the body as is, "
                       f"or with one of: {', '.join(SUPPORTED_CODINGS)}",
                       headers={"Accept-Encoding": ", ".join(SUPPORTED_CODINGS)})
    return codings[0]


class BodyAccumulator:
    """A body's chunks as they come: the limit on the wire bytes and on the decoded ones."""

    __slots__ = ("decoder", "max_bytes", "parts", "size", "wire")

    def __init__(self, max_bytes: int, decoder: ZlibDecoder | None) -> None:
        self.max_bytes = max_bytes
        self.decoder = decoder
        self.parts: list[bytes] = []
        self.wire = self.size = 0

    def add(self, chunk: bytes) -> None:
        max_bytes = self.max_bytes
        self.wire += len(chunk)
        if self.wire > max_bytes:
            raise too_large(max_bytes)
        if self.decoder is not None:
            chunk = self.decoder.feed(chunk, max_bytes - self.size)
        self.size += len(chunk)
        if self.size > max_bytes:
            raise too_large(max_bytes)
        self.parts.append(chunk)

    def body(self) -> bytes:
        if self.decoder is not None and self.wire:
            self.decoder.finish()
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, decoded: 413 past `max_bytes`, 408 past the deadline, 400 when it is not
    what its Content-Encoding says, 415 for a coding we cannot decode."""
    coding = content_coding(request)
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes)
    accumulator = BodyAccumulator(max_bytes, ZlibDecoder(coding) if coding else None)
    content = request.content
    try:
        if content.is_eof():
            # The whole body came with the headers (nearly every webhook): it is in the buffer
            # already, so there is nothing to wait for and no deadline to set.
            accumulator.add(content.read_nowait())
        else:
            await _read_arriving(request, accumulator)
    except (RequestPayloadError, HttpProcessingError) as error:
        # Framing the parser refused mid-body (a bad chunk size, a body cut short).
        raise ApiError(400, "bad_body", f"the request body is malformed: {error}") from None
    except ConnectionError:
        # The client left before its body ended: nobody reads this answer, but it ends the
        # request as any bad input does (no traceback in the log).
        raise ApiError(400, "bad_body", "the connection closed before the body ended") from None
    except asyncio.CancelledError:
        # The service is stopping and this body is still arriving halfway through the grace:
        # aiohttp fails the body with a CancelledError that cancels nothing
        # (runtime/server.handler_wait). Refused as a retry-later, not dropped unanswered.
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise ApiError(503, "unavailable", "the service is shutting down; retry",
                       headers={"Retry-After": "5"}) from None
    return accumulator.body()


async def _read_arriving(request: web.Request, accumulator: BodyAccumulator) -> None:
    """Read the rest of a body as it arrives, within the body deadline."""
    timeout = request.app[CONFIG].http.body_timeout_seconds
    try:
        async with asyncio.timeout_at(request_deadline(request, timeout)):
            while chunk := await request.content.readany():
                accumulator.add(chunk)
    except TimeoutError:
        raise ApiError(408, "request_timeout",
                       f"the request body did not arrive within {timeout:g} seconds",
                       headers={"Connection": "close"}) from None


def api_body_limit(request: web.Request) -> int:
    """The limit of the JSON API's bodies and the console's forms (webhooks have their own)."""
    return request.app[CONFIG].http.max_api_body_kib * 1024


# The fields of a console form: the largest, a module's bindings saved at once, has two for
# each of its 10,000 rows.
MAX_FORM_FIELDS = 25_000


async def read_form(request: web.Request, max_bytes: int | None = None
                    ) -> MultiDictProxy[str]:
    """An `application/x-www-form-urlencoded` body (the console's forms), read by `read_body`
    within `max_bytes` (the API's limit when None); text that is not UTF-8 becomes U+FFFD."""
    # aiohttp reports a missing Content-Type as application/octet-stream.
    if request.can_read_body and request.content_type not in (FORM_TYPE,
                                                              "application/octet-stream"):
        raise ApiError(415, "unsupported_media_type",
                       f"a form must be sent as {FORM_TYPE} (got {request.content_type})")
    body = await read_body(request, api_body_limit(request) if max_bytes is None else max_bytes)
    # Counted before parse_qsl reads it: a field costs the event loop a Python step or two,
    # and 2 MiB of "a=&" is 690,000 of them (a second of every tenant's webhooks waiting,
    # for any session posting it in a loop). A browser writes every "&" in a value as %26.
    if body.count(b"&") >= MAX_FORM_FIELDS:
        raise ApiError(413, "payload_too_large",
                       f"the form has more than {MAX_FORM_FIELDS:,} fields")
    text = body.decode("utf-8", errors="replace")
    pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    return MultiDictProxy(MultiDict(pairs))
