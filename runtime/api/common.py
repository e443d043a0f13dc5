"""What every API handler shares: reading bodies with pydantic, pagination, JSON replies."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from runtime.bodies import api_body_limit
from runtime.bodies import read_body as read_whole_body
from runtime.errors import ApiError, bad_request, not_found
from runtime.store.models import to_json

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_PAGE = 500


class Body(BaseModel):
    """Base of API request bodies: unknown fields are refused by name."""

    model_config = ConfigDict(extra="forbid")


async def read_json(request: web.Request) -> Any:
    raw = await read_whole_body(request, api_body_limit(request))
    if not raw:
        raise bad_request("a JSON body is required")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {error}") from None


async def read_body(request: web.Request, model: type[ModelT]) -> ModelT:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
            for e in error.errors()
        ]
        first = problems[0]
        raise ApiError(
            422, "invalid", f"{first['field']}: {first['message']}", details=problems
        ) from None


def page(request: web.Request, default: int = 100) -> tuple[int, int]:
    """`?limit=&offset=` with bounds; a malformed value is a 400, not a silent default."""
    try:
        limit = int(request.query.get("limit", default))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise bad_request("limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise bad_request(f"limit must be 1..{MAX_PAGE} and offset 0 or more")
    return limit, offset


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(to_json(data), status=status)


def found(value: ModelT | Any, what: str) -> Any:
    """The value, or a 404 when it is None (another tenant's ids look exactly like unknown)."""
    if value is None:
        raise not_found(what)
    return value
