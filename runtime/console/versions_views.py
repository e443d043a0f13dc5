"""Versions of a module's script: list, side-by-side diff, activate, roll back."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from runtime.console.modules_views import owned
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
from runtime.store.models import ExecutionFilter, ExecutionOutcome, Module
from runtime.typedefs import STORE

routes = web.RouteTableDef()

COUNT_CAP = 500


async def failed_count(request: web.Request, session: Session, module: Module,
                       version_id: str) -> tuple[int, bool]:
    """Failed executions of a version (webhooks run the active version, so: while active)."""
    rows = await request.app[STORE].list_executions(
        session.tenant_id, ExecutionFilter(module_id=module.id, version_id=version_id),
        COUNT_CAP, 0)
    failed = sum(1 for e in rows if e.outcome is not ExecutionOutcome.OK and not e.dry_run)
    return failed, len(rows) >= COUNT_CAP


async def render_versions(request: web.Request, session: Session, module: Module, *,
                          error: str | None = None, status: int = 200) -> web.Response:
    store = request.app[STORE]
    versions = await store.list_versions(session.tenant_id, module.id, 100, 0)
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
    }, status=status)


@routes.get(PREFIX + "/modules/{module_id}/versions")
@page
async def versions_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_versions(request, session, await owned(request, session))


async def change_active(
    request: web.Request, change: Callable[[Services, Module], Awaitable[Module]], done: str,
) -> web.StreamResponse:
    """Activate or roll back from the versions page: the page again with the store's refusal,
    or back to it saying what was done."""
    session = await require_builder(request)
    module = await owned(request, session)
    await form_of(request, session)
    try:
        with store_errors():
            await change(services(request), module)
    except ApiError as error:
        return await render_versions(request, session, module, error=error.message,
                                     status=error.status)
    raise see_other(f"{PREFIX}/modules/{module.id}/versions?done={done}")


@routes.post(PREFIX + "/modules/{module_id}/versions/{version_id}/activate")
@page
async def activate(request: web.Request) -> web.StreamResponse:
    version_id = request.match_info["version_id"]
    return await change_active(
        request, lambda ops, module: version_ops.activate_version(ops, module, version_id),
        "activated")


@routes.post(PREFIX + "/modules/{module_id}/rollback")
@page
async def rollback(request: web.Request) -> web.StreamResponse:
    return await change_active(request, version_ops.rollback_version, "rolled-back")


def side_by_side(left: str, right: str) -> list[dict[str, Any]]:
    """Rows of a two-column diff: {"kind", "left_no", "left", "right_no", "right"}."""
    a, b = left.splitlines(), right.splitlines()
    rows: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(i2 - i1):
                rows.append({"kind": "equal", "left_no": i1 + offset + 1, "left": a[i1 + offset],
                             "right_no": j1 + offset + 1, "right": b[j1 + offset]})
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            li, rj = i1 + offset, j1 + offset
            rows.append({
                "kind": tag,
                "left_no": li + 1 if li < i2 else None, "left": a[li] if li < i2 else None,
                "right_no": rj + 1 if rj < j2 else None, "right": b[rj] if rj < j2 else None,
            })
    return rows


@routes.get(PREFIX + "/modules/{module_id}/diff")
@page
async def diff_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    store = request.app[STORE]
    a_id, b_id = request.query.get("a", ""), request.query.get("b", "")
    left = found(await store.get_version(session.tenant_id, module.id, a_id), "version a")
    right = found(await store.get_version(session.tenant_id, module.id, b_id), "version b")
    rows = side_by_side(left.source, right.source)
    changes = sum(1 for r in rows if r["kind"] != "equal")
    return render(request, "diff.html", {"module": module, "left": left, "right": right,
                                         "rows": rows, "changes": changes})
