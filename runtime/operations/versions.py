"""Script versions: checking a script in the sandbox, saving one (optionally activating it),
activating another, rolling back. Every change forgets the webhook path's cached module.

A script is compiled and contract-checked in a worker process before anything is stored (the
compiler meets hostile input there, not here); a refused script leaves no version behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.errors import ApiError, found
from runtime.json_body import Body
from runtime.openapi.models import VersionOut, dump
from runtime.operations import caps
from runtime.operations.modules import module_changed
from runtime.operations.services import Services
from runtime.ratelimit import Refused
from runtime.store.base import Tx
from runtime.store.errors import Conflict
from runtime.store.models import JSON, Module, ScriptVersion
from sandbox import DEFAULT_LIMITS
from sandbox.outcome import CompileProblem, Outcome

MAX_SOURCE_BYTES = DEFAULT_LIMITS.source_bytes


class SourceBody(Body):
    source: str


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


def check_group(tenant_id: str) -> str:
    """The sandbox scheduling group of a tenant's script checks (dropped with the tenant)."""
    return f"check:{tenant_id}"


async def check_script(services: Services, tenant_id: str, source: str) -> None:
    """Raise 422 unless the source compiles and meets the contract (nothing is stored).

    Each tenant's checks are a scheduling group of their own: one tenant's slow checks make
    only its own checks yield to other work (sandbox.scheduler), not everyone's uploads. Each
    check starts a worker, so it spends the tenant's run rate and its budget of checks'
    worker starts (sandbox.check_burst; `Refused`, 429, past either).
    """
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        message = f"the script is {size} bytes; the limit is {MAX_SOURCE_BYTES} (64 KiB)"
        raise ScriptRefused(message, [CompileProblem(None, message)])
    services.runner.limiter.admit_run(tenant_id)
    group = check_group(tenant_id)
    outcome = await services.pool.check(source, group=group)
    if outcome.limit == "restarts" and outcome.error is not None:
        # Not the script's problem: its checks started workers too often (sandbox/pool.py);
        # a 429 the builder can retry, not a 422 listing the budget as a problem of the script.
        raise Refused(outcome.error.message + " (sandbox.check_burst, sandbox.checks_per_minute)",
                      services.pool.seconds_until_starts(group))
    if not outcome.ok:
        raise refusal(outcome)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version to save. With `activate` and a `base_version_id`, saving refuses (409) when
    the base is no longer the active version, unless `overwrite` says the person saw that."""

    source: str
    activate: bool = False
    base_version_id: str | None = None
    overwrite: bool = False


@dataclass(frozen=True, slots=True)
class Saved:
    version: ScriptVersion
    active_id: str | None  # the module's active version after the save


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


def add_version_unit(tenant_id: str, key_id: str | None, module_id: str, new: NewVersion
                     ) -> Callable[[Tx], Awaitable[Added]]:
    """Store the version unless it would overwrite an activation the client did not see."""

    async def unit(tx: Tx) -> Added:
        module = await tx.get_module(tenant_id, module_id)
        if module is None:
            return None, None
        base = new.base_version_id
        if (new.activate and not new.overwrite and base is not None
                and module.active_version_id != base):
            raise Conflict(
                f"version {base} is no longer the active version of the module; someone "
                "else changed it: load the active version, merge, and upload again"
            )
        version = await tx.add_version(
            tenant_id, module_id, new.source, created_by_key_id=key_id,
            base_version_id=base, activate=new.activate,
        )
        active_id = version.id if new.activate and version else module.active_version_id
        return version, active_id

    return unit


async def save_version(services: Services, module: Module, key_id: str | None,
                       new: NewVersion) -> Saved:
    """Check the script, then store it as the module's next version (activated if asked).

    404 for an unknown base version or module, 422 `invalid_script` for a refused script, 409
    `conflict` when activating over a change the client did not see (see `NewVersion`), 409
    `limit_reached` when the module has tenant_limits.max_versions_per_module, or when the
    source would take the tenant's versions past tenant_limits.max_source_bytes."""
    store = services.store
    tenant_id = module.tenant_id
    size = caps.source_bytes(new.source)
    await caps.has_room(services, caps.VERSIONS, module.id)  # before the check's worker
    if size <= MAX_SOURCE_BYTES:  # (a larger one is refused as too large, by the check)
        await caps.has_source_room(services, tenant_id, size)
    if new.base_version_id is not None:
        found(await store.get_version(tenant_id, module.id, new.base_version_id),
              f"version {new.base_version_id}")
    await check_script(services, tenant_id, new.source)
    add = add_version_unit(tenant_id, key_id, module.id, new)
    limit = caps.limit_of(services, caps.VERSIONS)
    quota = caps.source_limit(services)

    async def unit(tx: Tx) -> Added:
        await caps.require_room(tx, limit, caps.VERSIONS, module.id)
        await caps.require_source_room(tx, quota, tenant_id, size)
        return await add(tx)

    version, active_id = await store.write(unit)
    module_changed(services, module.id)
    return Saved(found(version, "module"), active_id)


async def active_version_details(services: Services, module: Module) -> dict[str, Any] | None:
    """The module's active version as a conflict names it (who changed what, and when)."""
    if module.active_version_id is None:
        return None
    active = await services.store.get_version(module.tenant_id, module.id,
                                              module.active_version_id)
    if active is None:
        return None
    return {"id": active.id, "number": active.number,
            "created_at": active.created_at.isoformat(),
            "created_by_key_id": active.created_by_key_id}


async def activate_version(services: Services, module: Module, version_id: str) -> Module:
    """Make a version of the module the active one (404 for an unknown version)."""
    updated = found(await services.store.activate_version(module.tenant_id, module.id,
                                                          version_id), "version")
    module_changed(services, module.id)
    return updated


class ActiveMovedOn(Exception):
    """A rollback's transaction found another active version than the client saw."""


async def rollback_version(services: Services, module: Module, *,
                           from_version_id: str | None = None) -> Module:
    """Activate the version before the active one (409 without one to go back to).

    `from_version_id`: the active version the client saw; another one active now (a second
    click, someone else's change) is a 409 and nothing changes. Checked in the write's own
    transaction, so two rollbacks sent at once from one page step back once."""
    tenant_id = module.tenant_id

    async def unit(tx: Tx) -> Module | None:
        if from_version_id is not None:
            current = await tx.get_module(tenant_id, module.id)
            if current is None:
                return None
            if current.active_version_id != from_version_id:
                raise ActiveMovedOn
        return await tx.rollback_version(tenant_id, module.id)

    try:
        updated = found(await services.store.write(unit), "module")
    except ActiveMovedOn:
        active = await services.store.get_active_version(tenant_id, module.id)
        now = f"version {active.number} is" if active else "no version is"
        raise Conflict("nothing was rolled back: the active version changed since this page "
                       f"was drawn (a second click, or someone else); {now} active now"
                       ) from None
    module_changed(services, module.id)
    return updated
