"""Tenants and their API keys: the operator creates both; a tenant lists and revokes its keys."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from runtime.api.common import Body, found, page, read_body, reply
from runtime.auth import require_operator, require_tenant
from runtime.hub import Credential, CredentialEnded, EndReason
from runtime.openapi import documented
from runtime.openapi.models import (
    ApiKeyList,
    ApiKeyOut,
    NewApiKeyOut,
    PageQuery,
    TenantList,
    dump,
    not_blank,
)
from runtime.store.models import ApiKey, Tenant
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()


class NewTenantBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                    not_blank()]


def key_json(key: ApiKey) -> dict[str, object]:
    return dump(ApiKeyOut, {"id": key.id, "tenant_id": key.tenant_id, "prefix": key.prefix,
                            "created_at": key.created_at, "revoked_at": key.revoked_at})


@routes.post("/api/v1/tenants")
@documented("Create a tenant", auth="operator", body=NewTenantBody, response=Tenant,
            status=201)
async def create_tenant(request: web.Request) -> web.Response:
    require_operator(request)
    body = await read_body(request, NewTenantBody)
    tenant = await request.app[STORE].create_tenant(body.name)
    return reply(tenant, status=201)


@routes.get("/api/v1/tenants")
@documented("List tenants", auth="operator", query=PageQuery, response=TenantList)
async def list_tenants(request: web.Request) -> web.Response:
    require_operator(request)
    limit, offset = page(request)
    return reply({"tenants": await request.app[STORE].list_tenants(limit, offset)})


@routes.get("/api/v1/tenants/{tenant_id}")
@documented("Read a tenant", auth="operator", response=Tenant, errors=[404])
async def get_tenant(request: web.Request) -> web.Response:
    require_operator(request)
    tenant = await request.app[STORE].get_tenant(request.match_info["tenant_id"])
    return reply(found(tenant, "tenant"))


@routes.post("/api/v1/tenants/{tenant_id}/keys")
@documented("Create an API key for a tenant", auth="operator", response=NewApiKeyOut,
            status=201, errors=[404])
async def create_key(request: web.Request) -> web.Response:
    """A new API key; its secret is in this answer and nowhere else, ever."""
    require_operator(request)
    key, secret = await request.app[STORE].create_api_key(request.match_info["tenant_id"])
    return reply(dump(NewApiKeyOut, {"id": key.id, "tenant_id": key.tenant_id,
                                     "prefix": key.prefix, "created_at": key.created_at,
                                     "key": secret}), status=201)


@routes.get("/api/v1/keys")
@documented("List the tenant's API keys", auth="tenant", response=ApiKeyList)
async def list_keys(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    keys = await request.app[STORE].list_api_keys(auth.tenant_id)
    return reply({"keys": [key_json(k) for k in keys]})


@routes.delete("/api/v1/keys/{key_id}")
@documented("Revoke an API key", auth="tenant", status=204, errors=[404],
            description="The key stops working at once, for the API and for console sessions "
                        "opened with it, on every node.")
async def revoke_key(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    revoked = await request.app[STORE].revoke_api_key(
        auth.tenant_id, request.match_info["key_id"]
    )
    found(revoked or None, "API key")
    key_id = request.match_info["key_id"]
    await request.app[HUB].end(CredentialEnded(Credential("api_key", key_id),
                                               EndReason.KEY_REVOKED))
    return web.Response(status=204)
