"""The script editor page and what it calls: check, save (a new version), dry run, replay.

The browser sends JSON with the session's CSRF token in a header; the answers are the API's own
JSON (a refused script is the API's 422 `invalid_script` with every problem and its line).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from runtime.console.completion import completion_url
from runtime.console.modules_views import owned
from runtime.console.replays import replay_view
from runtime.console.session import Session
from runtime.console.test_panel import methods_for, starting_request
from runtime.console.web import PREFIX, check_csrf, page, render, require_builder, store_errors
from runtime.errors import ApiError, found
from runtime.json_body import Body, read_body
from runtime.operations import dry_runs
from runtime.operations import versions as version_ops
from runtime.operations.dry_runs import DryRunBody
from runtime.operations.executions import shown_execution
from runtime.operations.modules import webhook_url
from runtime.operations.services import services
from runtime.operations.versions import (
    NewVersion,
    SourceBody,
    active_version_details,
    check_script,
    version_json,
)
from runtime.redaction import redacted_report, secret_values
from runtime.store.models import Execution, ExecutionFilter, ScriptVersion
from runtime.typedefs import CONFIG, STORE
from sandbox.call import PARSE_FUNCTION

routes = web.RouteTableDef()

STARTER = '''"""A new module: turn your provider's webhook into call events (see the contract)."""


def VoipParseWebhookRequest(request):
    data = request.form() if request.body and "=" in request.body else {}
    log("webhook", request.method, data)
    return {}
'''


# The test panel's menu of stored webhooks: the newest of the module's.
STORED_SHOWN = 30


class SaveBody(Body):
    source: str
    activate: bool = False
    base_version_id: str | None = Field(default=None, max_length=64)
    overwrite: bool = False  # the builder confirmed activating over someone else's change


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
    if version is not None and all(v.id != version.id for v in versions):
        # Older than the menus' newest 100 (opened from the versions page's older pages):
        # in the menus too, else they named the newest while the editor held this one.
        versions.append(version)
    executions = await store.list_executions(
        session.tenant_id, ExecutionFilter(module_id=module.id, function=PARSE_FUNCTION),
        STORED_SHOWN, 0)
    start = starting_request(executions, module)
    picked = await picked_execution(request, session, module.id, executions)
    if picked is not None and all(e.id != picked.id for e in executions):
        executions.append(picked)
    return render(request, "editor.html", {
        "start": start,
        "methods": methods_for(start),
        "module": module,
        "version": version,
        "versions": versions,
        "source": version.source if version else STARTER,
        "executions": executions,
        "webhook_url": webhook_url(request.app[CONFIG], module),
        "completion_url": completion_url(),
        "picked_execution": picked.id if picked else "",
        "default_execution": picked.id if picked else (start.execution_id if start else ""),
        "failure": failure_at(picked, version),
        "version_numbers": {v.id: v.number for v in versions},
    })


async def picked_execution(request: web.Request, session: Session, module_id: str,
                           newest: list[Execution]) -> Execution | None:
    """The webhook execution the page was opened for (?execution=, from its page), when it is
    this module's: the test panel lists the newest STORED_SHOWN, and an older one (a failure
    an hour and a few hundred webhooks ago) was left unchosen, with nothing to pick."""
    wanted = request.query.get("execution")
    if not wanted:
        return None
    for execution in newest:
        if execution.id == wanted:
            return execution
    stored = await request.app[STORE].get_execution(session.tenant_id, wanted)
    if stored is None or stored.module_id != module_id \
            or stored.function != PARSE_FUNCTION or stored.request is None:
        return None
    return stored


def failure_at(execution: Execution | None, version: ScriptVersion | None
               ) -> dict[str, object] | None:
    """Where the picked execution failed, when the opened version is the one it ran: the
    editor marks that line ("Open that version in the editor" from an execution's error)."""
    if execution is None or version is None or execution.version_id != version.id:
        return None
    error = execution.error if isinstance(execution.error, dict) else {}
    line = error.get("line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        return None
    return {"line": line, "message": f"{error.get('type') or 'Error'}: "
                                     f"{error.get('message') or ''}"}


@routes.post(PREFIX + "/modules/{module_id}/check")
async def check(request: web.Request) -> web.StreamResponse:
    session = await json_session(request)
    await owned(request, session)
    body = await read_body(request, SourceBody)
    await check_script(services(request), session.tenant_id, body.source)
    return web.json_response({"ok": True})


@routes.post(PREFIX + "/modules/{module_id}/versions")
async def save_version(request: web.Request) -> web.StreamResponse:
    """A new version from the editor's text; activating over someone else's change is a 409
    until the builder confirms (`overwrite`)."""
    session = await json_session(request)
    module = await owned(request, session)
    body = await read_body(request, SaveBody)
    ops = services(request)
    if body.activate and not body.overwrite and module.active_version_id != body.base_version_id:
        # The editor always knows the version it opened: activating over any other asks first.
        if body.base_version_id is not None:
            found(await ops.store.get_version(session.tenant_id, module.id,
                                              body.base_version_id),
                  f"version {body.base_version_id}")
        await check_script(ops, session.tenant_id, body.source)
        raise ApiError(409, "conflict",
                       "the active version changed since this draft was opened",
                       details={"active_version": await active_version_details(ops, module)})
    with store_errors():
        saved = await version_ops.save_version(ops, module, session.key_id, NewVersion(
            source=body.source, activate=body.activate, base_version_id=body.base_version_id,
            overwrite=body.overwrite))
    return web.json_response(version_json(saved.version, saved.active_id), status=201)


@routes.post(PREFIX + "/modules/{module_id}/dry-run")
async def dry_run(request: web.Request) -> web.StreamResponse:
    """The API's dry run; a replay (`execution_id`) also shows the original run beside it."""
    session = await json_session(request)
    module = await owned(request, session)
    body = await read_body(request, DryRunBody)
    result = await dry_runs.dry_run(services(request), module, body)
    view: dict[str, Any] = (replay_view(result, module) if result.replayed is not None
                            else redacted_report(result.report, secret_values(module)))
    view["user_names"] = await notified_names(request, session, view)
    return web.json_response(view)


async def notified_names(request: web.Request, session: Session, view: dict[str, Any]
                         ) -> dict[str, str]:
    """The names of the users a dry run would notify, by id, in one read: the report names
    them by id (the page held the first 500 users' names, and named the others by id)."""
    effects = view.get("effects")
    notified = effects.get("notifications") if isinstance(effects, dict) else None
    ids = [str(n["user_id"]) for n in notified or []
           if isinstance(n, dict) and n.get("user_id")]
    found = await request.app[STORE].get_users(session.tenant_id, ids)
    return {user_id: user.name for user_id, user in found.items()}


@routes.get(PREFIX + "/executions/{execution_id}/request")
async def execution_request(request: web.Request) -> web.StreamResponse:
    """A stored execution's request, masked, for the test panel to show."""
    session = await require_builder(request)
    execution, masked = await shown_execution(services(request), session.tenant_id,
                                              request.match_info["execution_id"])
    return web.json_response({
        "id": execution.id, "module_id": execution.module_id,
        "outcome": execution.outcome.value, "created_at": execution.created_at.isoformat(),
        "request": execution.request, "masked": masked,
    })
