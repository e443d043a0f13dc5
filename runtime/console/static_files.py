"""The console's static files: served by the service itself, gzipped, with ETags.

Files are read once and kept in memory with their gzipped form (they are small and few); an
`If-None-Match` answers 304. URLs carry a short content hash so a new release is never served
from a stale cache.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


_cache: dict[str, StaticFile] = {}


def load(relative: str) -> StaticFile | None:
    cached = _cache.get(relative)
    if cached is not None:
        return cached
    try:
        path = (STATIC_DIR / relative).resolve()
        if STATIC_DIR not in path.parents or not path.is_file():
            return None
    except (OSError, ValueError):  # a NUL byte, a name too long: no such file either
        return None
    content_type = TYPES.get(path.suffix)
    if content_type is None:
        return None
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    item = StaticFile(body, gzip.compress(body, compresslevel=9, mtime=0), f'"{digest[:20]}"',
                      content_type)
    _cache[relative] = item
    return item


def static_url(relative: str) -> str:
    item = load(relative)
    version = item.etag.strip('"')[:10] if item else "missing"
    return f"/console/static/{relative}?v={version}"


async def serve_static(request: web.Request) -> web.StreamResponse:
    relative = request.match_info["path"]
    item = load(relative) if ".." not in relative.split("/") else None
    if item is None:
        raise web.HTTPNotFound()
    headers = {
        "ETag": item.etag,
        "Vary": "Accept-Encoding",
        "Cache-Control": "public, max-age=31536000, immutable" if "v" in request.query
        else "no-cache",
    }
    if request.headers.get("If-None-Match") == item.etag:
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=item.gzipped,
                            headers={**headers, "Content-Type": item.content_type})
    return web.Response(body=item.body, headers={**headers, "Content-Type": item.content_type})
