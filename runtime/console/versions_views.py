"""Versions of a module's script: list, side-by-side diff, activate, roll back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from runtime.console.diffs import CONTEXT, side_by_side
from runtime.console.modules_views import owned, text
from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    form_of,
    page,
    render,
    require_builder,
    see_other,
    store_errors,
)
from runtime.errors import ApiError, found
from runtime.operations import versions as version_ops
from runtime.operations.services import Services, services
from runtime.query_params import MAX_OFFSET
from runtime.store.base import Store
from runtime.store.models import ExecutionFilter, ExecutionOutcome, Module, ScriptVersion
from runtime.typedefs import STORE

routes = web.RouteTableDef()

COUNT_CAP = 500
VERSIONS_PAGE = 100
FROM_FIELD = "from_version_id"  # the rollback form's: the active version the page showed


async def failed_count(request: web.Request, session: Session, module: Module,
                       version_id: str) -> tuple[int, bool]:
    """Failed executions of a version (webhooks run the active version, so: while active)."""
    rows = await request.app[STORE].list_execution_summaries(
        session.tenant_id, ExecutionFilter(module_id=module.id, version_id=version_id),
        COUNT_CAP, 0)
    failed = sum(1 for e in rows if e.outcome is not ExecutionOutcome.OK and not e.dry_run)
    return failed, len(rows) >= COUNT_CAP


async def render_versions(request: web.Request, session: Session, module: Module, *,
                          error: str | None = None, status: int = 200) -> web.Response:
    store = request.app[STORE]
    try:
        offset = min(max(0, int(request.query.get("offset", "0"))), MAX_OFFSET)
    except ValueError:
        offset = 0
    # One more than a page: whether there are older versions to link to (the newest 100 were
    # all the page showed: a module saved more often than that had its first ones out of
    # reach, to compare, open or activate).
    versions = await store.list_versions(session.tenant_id, module.id, VERSIONS_PAGE + 1,
                                         offset)
    older = len(versions) > VERSIONS_PAGE
    versions = versions[:VERSIONS_PAGE]
    keys = {k.id: k for k in await store.list_api_keys(session.tenant_id)}
    rows = []
    for version in versions:
        failed, capped = await failed_count(request, session, module, version.id)
        key = keys.get(version.created_by_key_id or "")
        rows.append({"version": version, "key": key, "failed": failed, "capped": capped,
                     "active": version.id == module.active_version_id})
    return render(request, "versions.html", {
        "module": module, "rows": rows, "error": error,
        "notice": request.query.get("done"),
        "rollback_to": await rollback_target(store, session.tenant_id, module, versions, offset),
        "offset": offset, "page": VERSIONS_PAGE, "older": older,
    }, status=status)


async def rollback_target(store: Store, tenant_id: str, module: Module,
                          listed: list[ScriptVersion], offset: int = 0
                          ) -> ScriptVersion | None:
    """The version a rollback would activate (the store's rule: the one numbered just below
    the active one), or None when there is none, so the page offers no rollback it would
    refuse. Usually both are among the listed (newest) versions; an older active one is
    looked up. `listed` is the page of versions from `offset` on, newest first."""
    if module.active_version_id is None:
        return None
    active = next((v for v in listed if v.id == module.active_version_id), None) or \
        await store.get_version(tenant_id, module.id, module.active_version_id)
    if active is None:
        return None
    wanted = active.number - 1
    previous = next((v for v in listed if v.number == wanted), None)
    if previous is None and listed and wanted >= 1:
        # Numbers go 1, 2, 3...: newest first, the one numbered `wanted` sits at this offset.
        page = await store.list_versions(tenant_id, module.id, 1,
                                         offset + listed[0].number - wanted)
        previous = page[0] if page and page[0].number == wanted else None
    return previous


@routes.get(PREFIX + "/modules/{module_id}/versions")
@page
async def versions_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_versions(request, session, await owned(request, session))


Change = Callable[[Services, Module, Mapping[str, Any]], Awaitable[Module]]


async def change_active(request: web.Request, change: Change, done: str
                        ) -> web.StreamResponse:
    """Activate or roll back from the versions page (`change` gets the posted form): the page
    again with the store's refusal, or back to it saying what was done."""
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    try:
        with store_errors():
            await change(services(request), module, form)
    except ApiError as error:
        return await render_versions(request, session, module, error=error.message,
                                     status=error.status)
    raise see_other(f"{PREFIX}/modules/{module.id}/versions?done={done}")


@routes.post(PREFIX + "/modules/{module_id}/versions/{version_id}/activate")
@page
async def activate(request: web.Request) -> web.StreamResponse:
    version_id = request.match_info["version_id"]
    return await change_active(
        request, lambda ops, module, _: version_ops.activate_version(ops, module, version_id),
        "activated")


def shown(form: Mapping[str, Any]) -> str | None:
    """The active version the rollback form's page showed ("" for none); None from a form
    without the field (a page drawn before it had one): then no check, as before."""
    return text(form, FROM_FIELD) if FROM_FIELD in form else None


@routes.post(PREFIX + "/modules/{module_id}/rollback")
@page
async def rollback(request: web.Request) -> web.StreamResponse:
    """Roll back from the active version the page showed (its form says which): the button
    names the version it goes to, and a second click or someone else's change meanwhile
    must not step back a version further than that."""
    return await change_active(
        request, lambda ops, module, form: version_ops.rollback_version(
            ops, module, from_version_id=shown(form)),
        "rolled-back")


@routes.get(PREFIX + "/modules/{module_id}/diff")
@page
async def diff_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    store = request.app[STORE]
    a_id, b_id = request.query.get("a", ""), request.query.get("b", "")
    left = found(await store.get_version(session.tenant_id, module.id, a_id), "version a")
    right = found(await store.get_version(session.tenant_id, module.id, b_id), "version b")
    full = request.query.get("full") == "1"
    diff = side_by_side(left.source, right.source, context=None if full else CONTEXT)
    return render(request, "diff.html", {"module": module, "left": left, "right": right,
                                         "rows": diff.rows, "changes": diff.changed,
                                         "full": full, "context": CONTEXT})
