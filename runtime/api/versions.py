"""Script versions: upload (checked in the sandbox first), list, read, activate, roll back.

A script is compiled and contract-checked in a worker process before anything is stored (the
compiler meets hostile input there, not here); a refused script leaves no version behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import Field, StrictBool

from runtime.api.common import Body, found, page, read_body, reply
from runtime.api.modules import changed, module_json, owned_module
from runtime.auth import TenantAuth, require_tenant
from runtime.errors import ApiError
from runtime.openapi import documented
from runtime.openapi.models import CheckOut, ModuleOut, PageQuery, VersionList, VersionOut, dump
from runtime.store.base import Tx
from runtime.store.errors import Conflict
from runtime.store.models import JSON, ScriptVersion
from runtime.typedefs import POOL, STORE
from sandbox import DEFAULT_LIMITS
from sandbox.outcome import CompileProblem, Outcome

routes = web.RouteTableDef()

MAX_SOURCE_BYTES = DEFAULT_LIMITS.source_bytes


class SourceBody(Body):
    source: str


class NewVersionBody(Body):
    source: str
    activate: StrictBool = False  # `0`, `"yes"` are refused, not read as booleans
    base_version_id: str | None = Field(default=None, max_length=64)


class ScriptRefused(ApiError):
    """422 `invalid_script` with every problem found, each with its line."""

    def __init__(self, message: str, problems: list[CompileProblem]) -> None:
        super().__init__(422, "invalid_script", message)
        self.problems = problems

    def response(self) -> web.Response:
        return web.json_response(
            {"error": self.code, "message": self.message,
             "problems": [p.to_json() for p in self.problems]},
            status=self.status,
        )


def refusal(outcome: Outcome) -> ScriptRefused:
    error = outcome.error
    if error is None:
        message = f"the script could not be checked (limit: {outcome.limit or 'unknown'})"
        return ScriptRefused(message, [CompileProblem(None, message)])
    problems = list(error.problems) or [CompileProblem(error.line, error.message)]
    return ScriptRefused(error.message, problems)


async def checked(request: web.Request, tenant_id: str, source: str) -> None:
    """Raise 422 unless the source compiles and meets the contract (nothing is stored).

    Each tenant's checks are a scheduling group of their own: one tenant's slow checks make
    only its own checks yield to other work (sandbox.scheduler), not everyone's uploads.
    """
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        message = f"the script is {size} bytes; the limit is {MAX_SOURCE_BYTES} (64 KiB)"
        raise ScriptRefused(message, [CompileProblem(None, message)])
    outcome = await request.app[POOL].check(source, group=f"check:{tenant_id}")
    if not outcome.ok:
        raise refusal(outcome)


def version_json(version: ScriptVersion, active_id: str | None, *, source: bool = False
                 ) -> dict[str, JSON]:
    data: dict[str, JSON] = {
        "id": version.id,
        "module_id": version.module_id,
        "number": version.number,
        "sha256": version.sha256,
        "created_at": version.created_at,
        "created_by_key_id": version.created_by_key_id,
        "base_version_id": version.base_version_id,
        "active": version.id == active_id,
    }
    if source:
        data["source"] = version.source
    return dump(VersionOut, data)


Added = tuple[ScriptVersion | None, str | None]  # the version, and the module's active id after


def add_version_unit(auth: TenantAuth, module_id: str, body: NewVersionBody
                     ) -> Callable[[Tx], Awaitable[Added]]:
    """Store the version unless it would overwrite an activation the client did not see."""

    async def unit(tx: Tx) -> Added:
        module = await tx.get_module(auth.tenant_id, module_id)
        if module is None:
            return None, None
        base = body.base_version_id
        if body.activate and base is not None and module.active_version_id != base:
            raise Conflict(
                f"version {base} is no longer the active version of the module; someone "
                "else changed it: load the active version, merge, and upload again"
            )
        version = await tx.add_version(
            auth.tenant_id, module_id, body.source, created_by_key_id=auth.key_id,
            base_version_id=base, activate=body.activate,
        )
        active_id = version.id if body.activate and version else module.active_version_id
        return version, active_id

    return unit


@routes.post("/api/v1/modules/{module_id}/versions")
@documented("Upload a script version", auth="tenant", body=NewVersionBody,
            response=VersionOut, status=201, errors=[404, 409], error_notes={
                409: "`base_version_id` is no longer the active version.",
                422: "or `invalid_script`: the script does not compile or breaks the "
                     "contract; every problem is in `problems`, each with its line."})
async def add_version(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    body = await read_body(request, NewVersionBody)
    if body.base_version_id is not None:
        found(await request.app[STORE].get_version(
            auth.tenant_id, module.id, body.base_version_id), f"version {body.base_version_id}")
    await checked(request, auth.tenant_id, body.source)
    version, active_id = await request.app[STORE].write(
        add_version_unit(auth, module.id, body)
    )
    changed(request, module.id)
    return reply(version_json(found(version, "module"), active_id), status=201)


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
    updated = found(await request.app[STORE].activate_version(
        auth.tenant_id, module.id, request.match_info["version_id"]), "version")
    changed(request, module.id)
    return reply(await module_json(request, updated))


@routes.post("/api/v1/modules/{module_id}/rollback")
@documented("Activate the version before the active one", auth="tenant",
            response=ModuleOut, errors=[404, 409], error_notes={
                409: "no active version, or the active one is the first."})
async def rollback(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    updated = found(
        await request.app[STORE].rollback_version(auth.tenant_id, module.id), "module"
    )
    changed(request, module.id)
    return reply(await module_json(request, updated))


@routes.post("/api/v1/check")
@documented("Check a script without storing it", auth="tenant", body=SourceBody,
            response=CheckOut, error_notes={
                422: "or `invalid_script`, with every problem and its line in `problems`."})
async def check(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, SourceBody)
    await checked(request, auth.tenant_id, body.source)
    return reply(dump(CheckOut, {"ok": True}))
