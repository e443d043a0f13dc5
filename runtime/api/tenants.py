"""Tenants and their API keys: the operator creates both; a tenant lists and revokes its keys."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from runtime.api.common import Body, found, page, read_body, reply
from runtime.auth import require_operator, require_tenant
from runtime.store.models import ApiKey, to_json
from runtime.typedefs import STORE

routes = web.RouteTableDef()


class NewTenantBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def key_json(key: ApiKey) -> dict[str, object]:
    return {"id": key.id, "tenant_id": key.tenant_id, "prefix": key.prefix,
            "created_at": to_json(key.created_at), "revoked_at": to_json(key.revoked_at)}


@routes.post("/api/v1/tenants")
async def create_tenant(request: web.Request) -> web.Response:
    require_operator(request)
    body = await read_body(request, NewTenantBody)
    tenant = await request.app[STORE].create_tenant(body.name)
    return reply(tenant, status=201)


@routes.get("/api/v1/tenants")
async def list_tenants(request: web.Request) -> web.Response:
    require_operator(request)
    limit, offset = page(request)
    return reply({"tenants": await request.app[STORE].list_tenants(limit, offset)})


@routes.get("/api/v1/tenants/{tenant_id}")
async def get_tenant(request: web.Request) -> web.Response:
    require_operator(request)
    tenant = await request.app[STORE].get_tenant(request.match_info["tenant_id"])
    return reply(found(tenant, "tenant"))


@routes.post("/api/v1/tenants/{tenant_id}/keys")
async def create_key(request: web.Request) -> web.Response:
    """A new API key; its secret is in this answer and nowhere else, ever."""
    require_operator(request)
    key, secret = await request.app[STORE].create_api_key(request.match_info["tenant_id"])
    data = key_json(key)
    del data["revoked_at"]
    return reply({**data, "key": secret}, status=201)


@routes.get("/api/v1/keys")
async def list_keys(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    keys = await request.app[STORE].list_api_keys(auth.tenant_id)
    return reply({"keys": [key_json(k) for k in keys]})


@routes.delete("/api/v1/keys/{key_id}")
async def revoke_key(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    revoked = await request.app[STORE].revoke_api_key(
        auth.tenant_id, request.match_info["key_id"]
    )
    found(revoked or None, "API key")
    return web.Response(status=204)
