"""Users of a tenant (the operators calls are shown to) and their tokens."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from runtime.api.common import Body, found, page, read_body, reply
from runtime.auth import require_tenant
from runtime.store.models import to_json
from runtime.typedefs import STORE

routes = web.RouteTableDef()

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class NewUserBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    email: Email | None = None


@routes.post("/api/v1/users")
async def create_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, NewUserBody)
    user = await request.app[STORE].create_user(auth.tenant_id, body.name, body.email)
    return reply(user, status=201)


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = page(request)
    return reply({"users": await request.app[STORE].list_users(auth.tenant_id, limit, offset)})


@routes.get("/api/v1/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    user = await request.app[STORE].get_user(auth.tenant_id, request.match_info["user_id"])
    return reply(found(user, "user"))


@routes.post("/api/v1/users/{user_id}/tokens")
async def create_token(request: web.Request) -> web.Response:
    """A new user token; its secret is in this answer and nowhere else, ever."""
    auth = await require_tenant(request)
    created = found(await request.app[STORE].create_user_token(
        auth.tenant_id, request.match_info["user_id"]), "user")
    token, secret = created
    return reply({"id": token.id, "user_id": token.user_id, "prefix": token.prefix,
                  "created_at": to_json(token.created_at), "token": secret}, status=201)
