"""A fetched response's body, inflated here rather than by aiohttp: off the event loop, never
past the size limit.

aiohttp inflates a compressed body on the event loop as it streams in. A few kilobytes of gzip
that inflate to the 5 MiB limit held the loop, and with it every tenant's requests, about 25 ms
per fetch, ten fetches a call. Here the bytes on the wire are read first (bounded by what the
limit allows compressed data to take), then inflated in a thread (zlib releases the GIL),
stopping one byte past the limit, so a gzip bomb costs at most the limit's worth of output.
"""

from __future__ import annotations

import zlib
from typing import Final

# What a request says it accepts unless its script says otherwise: the codings read here.
ACCEPTED_CODINGS: Final = "gzip, deflate"
# Below this much on the wire, a body with no coding is decoded on the loop: a thread hop
# costs more than decoding it.
INLINE_BYTES: Final = 64 * 1024
# The most compressed input the inflater is given at once (see `_inflate`).
FEED_BYTES: Final = 4096
# Members of one gzip body: each is a new inflater (some 10 us); servers send one.
MAX_GZIP_MEMBERS: Final = 1000


class BodyRefused(Exception):
    """A body that cannot be given to the script; the message says why, for the script."""


def too_large(limit: int) -> str:
    return f"response too large: more than {limit} bytes"


def wire_limit(limit: int, coding: str) -> int:
    """The most bytes a body of at most `limit` decoded bytes can take on the wire. Deflate's
    worst case (stored blocks) adds 5 bytes per 64 KiB block and a small header and trailer."""
    if is_identity(coding):
        return limit
    return limit + limit // 1000 + 1024


def is_identity(coding: str) -> bool:
    return coding.strip().lower() in ("", "identity")


def inflate(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` with its `Content-Encoding` undone, at most `limit` bytes of it."""
    name = coding.strip().lower()
    if name in ("", "identity"):
        return raw
    if name in ("gzip", "x-gzip"):
        return _inflate(raw, 16 + zlib.MAX_WBITS, limit, members=True)
    if name == "deflate":
        # HTTP's "deflate" is the zlib format; some servers send bare deflate data, which
        # browsers accept, and so does this.
        try:
            return _inflate(raw, zlib.MAX_WBITS, limit, members=False)
        except BodyRefused:
            return _inflate(raw, -zlib.MAX_WBITS, limit, members=False)
    raise BodyRefused(
        f"unsupported content encoding: {coding.strip()[:40]!r} (gzip and deflate are read; "
        "ask for one of them with an Accept-Encoding header)"
    )


def _inflate(raw: bytes, wbits: int, limit: int, *, members: bool) -> bytes:
    """Inflate one stream (or, for gzip, its members one after another) up to `limit` bytes.

    The inflater is given FEED_BYTES at a time: at the end of a stream zlib copies what it
    was given past it (`unused_data`), which for a body given whole made a body of many tiny
    gzip members cost the square of its size (a 5 MiB response of empty members: minutes of
    the service's CPU, mostly holding the GIL the event loop needs)."""
    out = bytearray()
    view = memoryview(raw)
    # Bytes after the end of the stream: a gzip file may hold several members, read one
    # after another; NUL padding or, for deflate, anything after the end is ignored, as
    # aiohttp did. Past `padded` there are only NULs.
    padded = len(raw.rstrip(b"\0"))
    at = 0
    for _member in range(MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits)
        while True:
            piece = view[at:at + FEED_BYTES]
            try:
                out += inflater.decompress(piece, limit + 1 - len(out))
            except zlib.error as failure:
                raise BodyRefused(f"bad compressed body: {failure}") from None
            if len(out) > limit:
                raise BodyRefused(too_large(limit))
            if inflater.eof:
                at += len(piece) - len(inflater.unused_data)
                break
            at += len(piece)  # all of it read: the output stayed within its bound
            if at >= len(raw):
                raise BodyRefused("bad compressed body: it ends before its compressed data does")
        if not (members and at < padded):
            return bytes(out)
    raise BodyRefused(f"bad compressed body: more than {MAX_GZIP_MEMBERS} gzip members")
