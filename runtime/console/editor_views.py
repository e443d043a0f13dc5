"""The script editor page and what it calls: check, save (a new version), dry run, replay.

The browser sends JSON with the session's CSRF token in a header; the answers are the API's own
JSON (a refused script is the API's 422 `invalid_script` with every problem and its line).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from runtime.api.common import Body, found, read_body
from runtime.api.modules import changed
from runtime.api.runs import RequestBody, dry_run_report, source_for, webhook_url
from runtime.api.versions import NewVersionBody, add_version_unit, checked, version_json
from runtime.console.completion import completion_url
from runtime.console.masking import masked_request
from runtime.console.modules_views import owned
from runtime.console.replays import replay_execution
from runtime.console.session import Session
from runtime.console.test_panel import methods_for, starting_request
from runtime.console.web import PREFIX, check_csrf, page, render, require_builder, store_errors
from runtime.errors import ApiError, not_found
from runtime.intake import composed_request
from runtime.store.base import Tx
from runtime.store.models import ExecutionFilter, ScriptVersion
from runtime.typedefs import STORE
from sandbox.call import PARSE_FUNCTION

routes = web.RouteTableDef()

STARTER = '''"""A new module: turn your provider's webhook into call events (see the contract)."""


def VoipParseWebhookRequest(request):
    data = request.form() if request.body and "=" in request.body else {}
    log("webhook", request.method, data)
    return {}
'''


class SaveBody(Body):
    source: str
    activate: bool = False
    base_version_id: str | None = Field(default=None, max_length=64)
    overwrite: bool = False  # the builder confirmed activating over someone else's change


class DryRunBody(Body):
    request: RequestBody | None = None
    execution_id: str | None = Field(default=None, max_length=64)
    source: str | None = None
    version_id: str | None = Field(default=None, max_length=64)


class SourceBody(Body):
    source: str


async def json_session(request: web.Request) -> Session:
    session = await require_builder(request)
    check_csrf(request, session)
    return session


@routes.get(PREFIX + "/modules/{module_id}/editor")
@page
async def editor_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    store = request.app[STORE]
    versions = await store.list_versions(session.tenant_id, module.id, 100, 0)
    wanted = request.query.get("version")
    version: ScriptVersion | None = None
    if wanted:
        version = found(await store.get_version(session.tenant_id, module.id, wanted),
                        "version")
    elif module.active_version_id:
        version = await store.get_version(session.tenant_id, module.id,
                                          module.active_version_id)
    executions = await store.list_executions(
        session.tenant_id, ExecutionFilter(module_id=module.id, function=PARSE_FUNCTION), 30, 0)
    start = starting_request(executions)
    return render(request, "editor.html", {
        "start": start,
        "methods": methods_for(start),
        "module": module,
        "version": version,
        "versions": versions,
        "source": version.source if version else STARTER,
        "executions": executions,
        "webhook_url": webhook_url(request, module),
        "completion_url": completion_url(),
        "picked_execution": request.query.get("execution", ""),
        "default_execution": request.query.get("execution") or (start.execution_id if start
                                                                 else ""),
        "version_numbers": {v.id: v.number for v in versions},
        "users": {u.id: u.name for u in await store.list_users(session.tenant_id, 500, 0)},
    })


@routes.post(PREFIX + "/modules/{module_id}/check")
async def check(request: web.Request) -> web.StreamResponse:
    session = await json_session(request)
    await owned(request, session)
    body = await read_body(request, SourceBody)
    await checked(request, session.tenant_id, body.source)
    return web.json_response({"ok": True})


@routes.post(PREFIX + "/modules/{module_id}/versions")
async def save_version(request: web.Request) -> web.StreamResponse:
    """A new version from the editor's text; activating over someone else's change is a 409
    until the builder confirms (`overwrite`)."""
    session = await json_session(request)
    module = await owned(request, session)
    body = await read_body(request, SaveBody)
    store = request.app[STORE]
    if body.base_version_id is not None:
        found(await store.get_version(session.tenant_id, module.id, body.base_version_id),
              f"version {body.base_version_id}")
    await checked(request, session.tenant_id, body.source)
    if body.activate and not body.overwrite and module.active_version_id != body.base_version_id:
        active = (await store.get_version(session.tenant_id, module.id, module.active_version_id)
                  if module.active_version_id else None)
        raise ApiError(409, "conflict",
                       "the active version changed since this draft was opened",
                       details={"active_version": None if active is None else {
                           "id": active.id, "number": active.number,
                           "created_at": active.created_at.isoformat(),
                           "created_by_key_id": active.created_by_key_id}})
    plain = NewVersionBody(source=body.source, activate=body.activate,
                           base_version_id=None if body.overwrite else body.base_version_id)

    async def overwrite_unit(tx: Tx) -> tuple[ScriptVersion | None, str | None]:
        version = await tx.add_version(
            session.tenant_id, module.id, body.source, created_by_key_id=session.key_id,
            base_version_id=body.base_version_id, activate=True)
        return version, version.id if version else None

    unit = overwrite_unit if body.overwrite and body.activate else \
        add_version_unit(session.auth, module.id, plain)
    with store_errors():
        version, active_id = await store.write(unit)
    changed(request, module.id)
    return web.json_response(version_json(found(version, "module"), active_id), status=201)


@routes.post(PREFIX + "/modules/{module_id}/dry-run")
async def dry_run(request: web.Request) -> web.StreamResponse:
    session = await json_session(request)
    module = await owned(request, session)
    body = await read_body(request, DryRunBody)
    source, version_id = await source_for(request, module, body.source, body.version_id)
    if body.execution_id is not None:
        execution = found(await request.app[STORE].get_execution(
            session.tenant_id, body.execution_id), "execution")
        if execution.module_id != module.id:
            raise not_found("execution")
        return web.json_response(
            await replay_execution(request, session, module, execution, source, version_id))
    given = body.request or RequestBody()
    data = composed_request({
        "method": given.method.upper(), "url": given.url or webhook_url(request, module),
        "headers": given.headers, "body": given.body,
    })
    report: dict[str, Any] = await dry_run_report(request, module, source, version_id, data)
    return web.json_response(report)


@routes.get(PREFIX + "/executions/{execution_id}/request")
async def execution_request(request: web.Request) -> web.StreamResponse:
    """A stored execution's request, masked, for the test panel to show."""
    session = await require_builder(request)
    execution = found(await request.app[STORE].get_execution(
        session.tenant_id, request.match_info["execution_id"]), "execution")
    return web.json_response({
        "id": execution.id, "module_id": execution.module_id,
        "outcome": execution.outcome.value, "created_at": execution.created_at.isoformat(),
        "request": masked_request(execution.request),
    })
