"""Tenants and their API keys: the operator creates both; a tenant lists and revokes its keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from runtime.api.common import Body, found, optional_page, page, read_body, reply
from runtime.auth import require_operator, require_tenant
from runtime.errors import bad_request
from runtime.hub import Credential, CredentialEnded, EndReason
from runtime.openapi import documented
from runtime.openapi.models import (
    NAME_SCHEMA,
    PLAIN_NAME,
    ApiKeyList,
    ApiKeyOut,
    NewApiKeyOut,
    PageQuery,
    TenantDeleted,
    TenantDeleteQuery,
    TenantList,
    WholeListQuery,
    dump,
)
from runtime.store.models import ApiKey, Tenant
from runtime.tenant_removal import TenantRemoval
from runtime.typedefs import HUB, MODULES, POOL, STORE

routes = web.RouteTableDef()


class NewTenantBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                    PLAIN_NAME, NAME_SCHEMA]


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
@documented("List tenants (oldest first)", auth="operator", query=PageQuery,
            response=TenantList)
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


def dry_run_flag(request: web.Request) -> bool:
    raw = request.query.get("dry_run", "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise bad_request(f"dry_run: {raw!r} is not true or false")
    return raw in ("true", "1")


@routes.delete("/api/v1/tenants/{tenant_id}")
@documented("Delete a tenant with everything it owns", auth="operator",
            query=TenantDeleteQuery, response=TenantDeleted, errors=[404],
            description="Modules, versions, storage, bindings, calls and their history, "
                        "contacts, activity, notifications, executions, users, user tokens "
                        "and API keys. `?dry_run=true` answers the counts and deletes nothing. "
                        "Otherwise the tenant is closed first (its keys and tokens stop "
                        "working, its webhook URLs answer 404, its live sockets and console "
                        "sessions close with 4403 `tenant deleted`), then its rows are "
                        "deleted in batches; the counts are those found when it closed. "
                        "From the close on the tenant is no longer listed or shown (404) and "
                        "takes no new API key. A deletion cut short (the service stopped, the "
                        "storage failed) is finished by repeating the request, or by the "
                        "service's next start; a dry run still counts what is left.")
async def delete_tenant(request: web.Request) -> web.Response:
    require_operator(request)
    dry_run = dry_run_flag(request)
    tenant_id = request.match_info["tenant_id"]
    removal = TenantRemoval(request.app[STORE], request.app[HUB], request.app[MODULES],
                            request.app.get(POOL))
    if dry_run:
        counts = await removal.counts(tenant_id)
    else:
        # Shielded: a client that stops waiting (a long deletion) does not cut it short.
        counts = await asyncio.shield(removal.delete(tenant_id))
    found(counts, "tenant")
    return reply(dump(TenantDeleted, {"tenant_id": tenant_id, "dry_run": dry_run,
                                      "counts": counts}))


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
@documented("List the tenant's API keys", auth="tenant", query=WholeListQuery,
            response=ApiKeyList, description="Newest first; all of them unless `limit` is given.")
async def list_keys(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = optional_page(request)
    keys = await request.app[STORE].list_api_keys(auth.tenant_id, limit, offset)
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
