"""What every API handler shares: pagination and JSON replies.

Reading bodies (`Body`, `read_body`) lives in runtime/json_body.py and `found` in
runtime/errors.py, shared with the console; they are re-exported here so handlers keep one
import line.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runtime.errors import found
from runtime.json_body import Body, read_body, read_json
from runtime.query_params import MAX_OFFSET, query_whole_number
from runtime.store.models import to_json

__all__ = ["MAX_PAGE", "Body", "found", "optional_page", "page", "read_body", "read_json",
           "reply"]

MAX_PAGE = 500


def page(request: web.Request, default: int = 100) -> tuple[int, int]:
    """`?limit=&offset=` with bounds; a malformed value is a 400 naming it, not a silent
    default."""
    return (query_whole_number(request, "limit", default, 1, MAX_PAGE),
            query_whole_number(request, "offset", 0, 0, MAX_OFFSET))


def optional_page(request: web.Request) -> tuple[int | None, int]:
    """`?limit=&offset=` for a list answered whole when no `limit` is given (limit None): its
    clients read all of it before it could be paged. Bounds and errors as `page`'s."""
    limit = (query_whole_number(request, "limit", 0, 1, MAX_PAGE)
             if "limit" in request.query else None)
    return limit, query_whole_number(request, "offset", 0, 0, MAX_OFFSET)


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(to_json(data), status=status)
