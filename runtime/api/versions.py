"""Script versions: upload (checked in the sandbox first), list, read, activate, roll back
(the operations are runtime/operations/versions.py, shared with the console's editor)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field, StrictBool

from runtime.api.common import Body, found, page, read_body, reply
from runtime.api.modules import module_json, owned_module
from runtime.auth import require_tenant
from runtime.openapi import documented
from runtime.openapi.models import CheckOut, ModuleOut, PageQuery, VersionList, VersionOut, dump
from runtime.operations import versions as version_ops
from runtime.operations.services import services
from runtime.operations.versions import (
    NewVersion,
    SourceBody,
    check_script,
    save_version,
    version_json,
)
from runtime.typedefs import STORE

routes = web.RouteTableDef()

class NewVersionBody(Body):
    source: str
    activate: StrictBool = False  # `0`, `"yes"` are refused, not read as booleans
    base_version_id: str | None = Field(default=None, max_length=64)


@routes.post("/api/v1/modules/{module_id}/versions")
@documented("Upload a script version", auth="tenant", body=NewVersionBody,
            response=VersionOut, status=201, errors=[404, 409, 429], error_notes={
                409: "`base_version_id` is no longer the active version (`conflict`), or the "
                     "module has tenant_limits.max_versions_per_module versions, or the "
                     "source would take the tenant's versions past "
                     "tenant_limits.max_source_bytes (`limit_reached`; `details` has the "
                     "quota, the bytes `used` and those the upload is `adding`).",
                422: "or `invalid_script`: the script does not compile or breaks the "
                     "contract; every problem is in `problems`, each with its line."})
async def add_version(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    body = await read_body(request, NewVersionBody)
    saved = await save_version(services(request), module, auth.key_id, NewVersion(
        source=body.source, activate=body.activate, base_version_id=body.base_version_id))
    return reply(version_json(saved.version, saved.active_id), status=201)


@routes.get("/api/v1/modules/{module_id}/versions")
@documented("List a module's script versions", auth="tenant", query=PageQuery,
            response=VersionList, errors=[404])
async def list_versions(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    limit, offset = page(request)
    versions = await request.app[STORE].list_versions(auth.tenant_id, module.id, limit, offset)
    return reply({"versions": [version_json(v, module.active_version_id) for v in versions]})


@routes.get("/api/v1/modules/{module_id}/versions/{version_id}")
@documented("Read a script version with its source", auth="tenant", response=VersionOut,
            errors=[404])
async def get_version(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    version = found(await request.app[STORE].get_version(
        auth.tenant_id, module.id, request.match_info["version_id"]), "version")
    return reply(version_json(version, module.active_version_id, source=True))


@routes.post("/api/v1/modules/{module_id}/versions/{version_id}/activate")
@documented("Activate a script version", auth="tenant", response=ModuleOut,
            errors=[404])
async def activate_version(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    updated = await version_ops.activate_version(services(request), module,
                                     request.match_info["version_id"])
    return reply(await module_json(request, updated))


@routes.post("/api/v1/modules/{module_id}/rollback")
@documented("Activate the version before the active one", auth="tenant",
            response=ModuleOut, errors=[404, 409], error_notes={
                409: "no active version, or the active one is the first."})
async def rollback(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    updated = await version_ops.rollback_version(services(request), module)
    return reply(await module_json(request, updated))


@routes.post("/api/v1/check")
@documented("Check a script without storing it", auth="tenant", body=SourceBody,
            response=CheckOut, errors=[429], error_notes={
                422: "or `invalid_script`, with every problem and its line in `problems`.",
                429: "the tenant's rate of checks, dry runs and function runs "
                     "(tenant_limits.runs_per_second, run_burst) is spent."})
async def check(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, SourceBody)
    await check_script(services(request), auth.tenant_id, body.source)
    return reply(dump(CheckOut, {"ok": True}))
