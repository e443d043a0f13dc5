"""Users of a tenant (the operators calls are shown to) and their tokens.

Revoking a token or deleting a user ends it everywhere at once: the API refuses it, and its
live sockets and console sessions close on every node (runtime/hub.py). A deleted user's
tokens and member bindings go with it; the calls and notifications that named the user stay,
naming nobody (their `user_id` is gone), so history and the activity stream are unchanged.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import found, optional_page, page, read_body, reply
from runtime.auth import require_tenant
from runtime.openapi import documented
from runtime.openapi.models import (
    NewUserTokenOut,
    PageQuery,
    UserList,
    UserTokenList,
    UserTokenOut,
    WholeListQuery,
    dump,
)
from runtime.operations import users as user_ops
from runtime.operations.services import services
from runtime.operations.users import NewUserBody, remove_user, revoke_token
from runtime.store.models import User, UserToken
from runtime.typedefs import STORE

routes = web.RouteTableDef()

@routes.post("/api/v1/users")
@documented("Create a user", auth="tenant", body=NewUserBody, response=User, status=201,
            errors=[409], error_notes={409: "a user of that name exists (`conflict`, its id "
                                            "in `details.user_id`), or the tenant has "
                                            "tenant_limits.max_users (`limit_reached`)."})
async def create_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, NewUserBody)
    user = await user_ops.create_user(services(request), auth.tenant_id, body)
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
            errors=[404, 409], error_notes={409: "the user has tenant_limits.max_tokens_per_user "
                                                 "live tokens (`limit_reached`)."})
async def create_token(request: web.Request) -> web.Response:
    """A new user token; its secret is in this answer and nowhere else, ever."""
    auth = await require_tenant(request)
    created = found(await user_ops.create_token(
        services(request), auth.tenant_id, request.match_info["user_id"]), "user")
    token, secret = created
    return reply(dump(NewUserTokenOut, {
        "id": token.id, "user_id": token.user_id, "prefix": token.prefix,
        "created_at": token.created_at, "token": secret,
    }), status=201)


def token_json(token: UserToken) -> dict[str, object]:
    return dump(UserTokenOut, {"id": token.id, "user_id": token.user_id, "prefix": token.prefix,
                               "created_at": token.created_at, "revoked_at": token.revoked_at})


@routes.get("/api/v1/users/{user_id}/tokens")
@documented("List a user's tokens", auth="tenant", query=WholeListQuery,
            response=UserTokenList, errors=[404],
            description="Newest first, revoked ones too; never the secrets. All of them unless "
                        "`limit` is given.")
async def list_user_tokens(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = optional_page(request)
    tokens = found(await request.app[STORE].list_user_tokens(
        auth.tenant_id, request.match_info["user_id"], limit, offset), "user")
    return reply({"tokens": [token_json(t) for t in tokens]})


@routes.delete("/api/v1/users/{user_id}/tokens/{token_id}")
@documented("Revoke a user token", auth="tenant", status=204, errors=[404],
            error_notes={404: "the user, or this token of theirs, or it was revoked already."},
            description="The token stops working at once; live sockets and console sessions "
                        "opened with it close on every node (close code 4401).")
async def revoke_user_token(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    found(await revoke_token(services(request), auth.tenant_id, request.match_info["user_id"],
                             request.match_info["token_id"]) or None, "user token")
    return web.Response(status=204)


@routes.delete("/api/v1/users/{user_id}")
@documented("Delete a user", auth="tenant", status=204, errors=[404],
            description="Its tokens and member bindings go with it; its live sockets and "
                        "console sessions close on every node (close code 4403). The calls "
                        "and notifications that named the user stay, naming nobody.")
async def delete_user(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    found(await remove_user(services(request), auth.tenant_id, request.match_info["user_id"])
          or None, "user")
    return web.Response(status=204)
