"""Modules of a tenant: create, read, change, delete, rotate the webhook token (contract §1).

Also what the other management routers share about modules: the one the route names, its JSON
(secret settings masked). The fields and bodies are runtime/operations/module_fields.py.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import page, read_body, reply
from runtime.api.usage import health_json
from runtime.auth import TenantAuth, require_tenant
from runtime.openapi import documented
from runtime.openapi.models import ModuleList, ModuleOut, PageQuery, dump
from runtime.operations import modules as module_ops
from runtime.operations.executions import shown_health
from runtime.operations.module_fields import (
    ModulePatchBody,
    NewModuleBody,
    masked_settings,
)
from runtime.operations.modules import tenant_module
from runtime.operations.modules import webhook_url as module_webhook_url
from runtime.operations.services import services
from runtime.store.models import JSON, Module, utc_now
from runtime.store.retention import ModuleHealth
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()


# --- module JSON ------------------------------------------------------------------------------


def webhook_url(request: web.Request, module: Module) -> str:
    return module_webhook_url(request.app[CONFIG], module)


async def module_json(request: web.Request, module: Module,
                      health: ModuleHealth | None = None) -> dict[str, JSON]:
    """The module's JSON; `health` when the caller has it (a list reads all at once)."""
    if health is None:
        found_health = await request.app[STORE].module_health(module.tenant_id, utc_now())
        health = found_health.get(module.id, ModuleHealth(module.id))
    active = None
    if module.active_version_id is not None:
        version = await request.app[STORE].get_version(
            module.tenant_id, module.id, module.active_version_id
        )
        if version is not None:
            active = {"id": version.id, "number": version.number}
    return dump(ModuleOut, {
        "id": module.id,
        "name": module.name,
        "description": module.description,
        "region": module.region,
        "settings": masked_settings(module),
        "secrets": list(module.secrets),
        "allowlist": list(module.allowlist),
        "webhook_url": webhook_url(request, module),
        "active_version": active,
        "created_at": module.created_at,
        "updated_at": module.updated_at,
        "health": health_json(shown_health(health, module)),
    })


async def owned_module(request: web.Request, auth: TenantAuth) -> Module:
    """The module named by the route's `module_id`, or a 404 (also for another tenant's)."""
    return await tenant_module(services(request), auth.tenant_id,
                               request.match_info["module_id"])


# --- handlers -------------------------------------------------------------------------------


@routes.post("/api/v1/modules")
@documented("Create a module", auth="tenant", body=NewModuleBody, response=ModuleOut,
            status=201, errors=[409],
            error_notes={409: "a module of that name exists (`conflict`, its id in "
                              "`details.module_id`), or the tenant has "
                              "tenant_limits.max_modules modules (`limit_reached`)."})
async def create_module(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, NewModuleBody)
    module = await module_ops.create_module(services(request), auth.tenant_id, body)
    return reply(await module_json(request, module), status=201)


@routes.get("/api/v1/modules")
@documented("List modules (by name)", auth="tenant", query=PageQuery, response=ModuleList)
async def list_modules(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = page(request)
    modules = await request.app[STORE].list_modules(auth.tenant_id, limit, offset)
    health = await request.app[STORE].module_health(auth.tenant_id, utc_now())
    return reply({"modules": [await module_json(request, m, health.get(m.id, ModuleHealth(m.id)))
                              for m in modules]})


@routes.get("/api/v1/modules/{module_id}")
@documented("Read a module", auth="tenant", response=ModuleOut, errors=[404])
async def get_module(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    return reply(await module_json(request, await owned_module(request, auth)))


@routes.patch("/api/v1/modules/{module_id}")
@documented("Change a module", auth="tenant", body=ModulePatchBody, response=ModuleOut,
            errors=[404, 409], error_notes={409: "a module of that name exists."})
async def update_module(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    body = await read_body(request, ModulePatchBody)
    updated = await module_ops.update_module(services(request), module, body)
    return reply(await module_json(request, updated))


@routes.delete("/api/v1/modules/{module_id}")
@documented("Delete a module", auth="tenant", status=204, errors=[404])
async def delete_module(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    await module_ops.delete_module(services(request), auth.tenant_id,
                                   request.match_info["module_id"])
    return web.Response(status=204)


@routes.post("/api/v1/modules/{module_id}/webhook-token")
@documented("Give the module a new webhook URL", auth="tenant", response=ModuleOut,
            errors=[404])
async def rotate_webhook_token(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await module_ops.new_webhook_token(services(request), auth.tenant_id,
                                                request.match_info["module_id"])
    return reply(await module_json(request, module))

