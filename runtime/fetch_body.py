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
    """Inflate one stream (or, for gzip, its members one after another) up to `limit` bytes."""
    out = bytearray()
    data = raw
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as failure:
            raise BodyRefused(f"bad compressed body: {failure}") from None
        if len(out) > limit:
            raise BodyRefused(too_large(limit))
        if not inflater.eof:
            raise BodyRefused("bad compressed body: it ends before its compressed data does")
        data = inflater.unused_data
        # Bytes after the end of the stream: a gzip file may hold several members, read one
        # after another; anything else after the end is ignored, as aiohttp did.
        if not (members and data.strip(b"\0")):
            return bytes(out)
