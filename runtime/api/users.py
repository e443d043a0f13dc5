"""Users of a tenant (the operators calls are shown to) and their tokens."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from runtime.api.common import Body, found, page, read_body, reply
from runtime.auth import require_tenant
from runtime.openapi import documented
from runtime.openapi.models import NewUserTokenOut, PageQuery, UserList, dump, not_blank
from runtime.store.models import User
from runtime.typedefs import STORE

routes = web.RouteTableDef()

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class NewUserBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                    not_blank()]
    email: Email | None = None


@routes.post("/api/v1/users")
@documented("Create a user", auth="tenant", body=NewUserBody, response=User, status=201,
            errors=[409], error_notes={409: "a user of that name exists."})
async def create_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, NewUserBody)
    user = await request.app[STORE].create_user(auth.tenant_id, body.name, body.email)
    return reply(user, status=201)


@routes.get("/api/v1/users")
@documented("List users (by name)", auth="tenant", query=PageQuery, response=UserList)
async def list_users(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = page(request)
    return reply({"users": await request.app[STORE].list_users(auth.tenant_id, limit, offset)})


@routes.get("/api/v1/users/{user_id}")
@documented("Read a user", auth="tenant", response=User, errors=[404])
async def get_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    user = await request.app[STORE].get_user(auth.tenant_id, request.match_info["user_id"])
    return reply(found(user, "user"))


@routes.post("/api/v1/users/{user_id}/tokens")
@documented("Create a user token", auth="tenant", response=NewUserTokenOut, status=201,
            errors=[404])
async def create_token(request: web.Request) -> web.Response:
    """A new user token; its secret is in this answer and nowhere else, ever."""
    auth = await require_tenant(request)
    created = found(await request.app[STORE].create_user_token(
        auth.tenant_id, request.match_info["user_id"]), "user")
    token, secret = created
    return reply(dump(NewUserTokenOut, {
        "id": token.id, "user_id": token.user_id, "prefix": token.prefix,
        "created_at": token.created_at, "token": secret,
    }), status=201)
