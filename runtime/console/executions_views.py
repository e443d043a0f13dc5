"""The execution log: filters, one execution in full, and replaying a selection as dry runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from runtime.console.modules_views import owned, text
from runtime.console.replays import replay_for_console
from runtime.console.web import PREFIX, form_of, page, render, require_builder, store_errors
from runtime.errors import ApiError, bad_request, found
from runtime.operations.dry_runs import of_module
from runtime.operations.executions import FUNCTIONS, shown_execution, shown_list
from runtime.operations.services import services
from runtime.operations.sources import Script
from runtime.query_params import MAX_OFFSET, query_time
from runtime.store.models import ExecutionFilter, ExecutionOutcome
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()

PAGE = 100
MAX_REPLAY = 50


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)


def local_input(value: str | None) -> str | None:
    """`datetime-local` inputs send 2025-03-04T10:15 without a zone: read as UTC."""
    if not value:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{value!r} is not a date and time") from None
    return value


@routes.get(PREFIX + "/modules/{module_id}/executions")
@page
async def log_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    store = request.app[STORE]
    query = request.query
    outcome = query.get("outcome") or None
    if outcome is not None and outcome not in {o.value for o in ExecutionOutcome}:
        raise bad_request(f"outcome: {outcome!r} is not an outcome")
    function = query.get("function") or None
    if function is not None and function not in FUNCTIONS:
        raise bad_request(f"function: {function!r} is not one of: {', '.join(FUNCTIONS)}")
    version_id = query.get("version_id") or None
    local_input(query.get("since"))
    local_input(query.get("until"))
    filters = ExecutionFilter(
        module_id=module.id,
        outcome=ExecutionOutcome(outcome) if outcome else None,
        function=function,
        version_id=version_id,
        since=query_time(request, "since") if query.get("since") else None,
        until=query_time(request, "until") if query.get("until") else None,
    )
    try:
        offset = min(max(0, int(query.get("offset", "0"))), MAX_OFFSET)
    except ValueError:
        offset = 0
    # The page shows no logs, request, result or effects (up to 64 KiB each a row): read
    # without them; a row's replay box needs only whether a request is stored.
    executions = await shown_list(services(request), session.tenant_id,
                                  await store.list_execution_summaries(
                                      session.tenant_id, filters, PAGE, offset))
    versions = await store.list_versions(session.tenant_id, module.id, 100, 0)
    if version_id and all(v.id != version_id for v in versions) and (
            older := await store.get_version(session.tenant_id, module.id, version_id)):
        versions.append(older)  # an older version filtered by: in the menu too, as chosen
    numbers = {v.id: v.number for v in versions}
    return render(request, "executions.html", {
        "module": module, "executions": executions, "versions": versions,
        "numbers": numbers, "functions": FUNCTIONS,
        "outcomes": [o.value for o in ExecutionOutcome],
        "filters": {k: query.get(k, "") for k in
                    ("outcome", "function", "version_id", "since", "until")},
        "offset": offset, "page": PAGE,
        "retention": request.app[CONFIG].retention,
    })


@routes.get(PREFIX + "/executions/{execution_id}")
@page
async def execution_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    store = request.app[STORE]
    execution, masked = await shown_execution(services(request), session.tenant_id,
                                              request.match_info["execution_id"])
    module = found(await store.get_module(session.tenant_id, execution.module_id), "module")
    version = (await store.get_version(session.tenant_id, module.id, execution.version_id)
               if execution.version_id else None)
    request_data = execution.request
    return render(request, "execution.html", {
        "module": module, "execution": execution, "version": version,
        "request_data": request_data if isinstance(request_data, dict) else None,
        "request_json": None if isinstance(request_data, dict) else pretty(request_data),
        "result_json": pretty(execution.result),
        "effects_json": pretty(execution.effects),
        "error": execution.error if isinstance(execution.error, dict) else None,
        "masked": masked,
        "replayable": isinstance(request_data, dict) and "method" in request_data,
    })


@routes.post(PREFIX + "/modules/{module_id}/replay")
@page
async def replay_selection(request: web.Request) -> web.StreamResponse:
    """Replay the selected executions against a draft (or a version), as dry runs."""
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    ids = [v for v in form.getall("execution_id", []) if isinstance(v, str)][:MAX_REPLAY]
    against = text(form, "against")
    store = request.app[STORE]
    if against == "draft":
        source = text(form, "source")
        if not source:
            raise ApiError(422, "invalid", "there is no draft to replay against: open the "
                                           "editor, change the script, and come back")
        script = Script(source, None)
        label = "the editor's draft"
    else:
        version = found(await store.get_version(session.tenant_id, module.id, against),
                        "version")
        script = Script(version.source, version.id)
        label = f"version {version.number}"
    if not ids:
        raise ApiError(422, "invalid", "select at least one execution to replay")
    rows: list[dict[str, Any]] = []
    for execution_id in ids:
        execution = of_module(module, found(
            await store.get_execution(session.tenant_id, execution_id),
            f"execution {execution_id}"))
        try:
            with store_errors():
                report = await replay_for_console(services(request), module, execution,
                                                  script)
        except ApiError as error:
            rows.append({"execution": execution, "skipped": error.message})
            continue
        rows.append({"execution": execution, "report": report,
                     "comparison": report["comparison"]})
    compared = [r["comparison"] for r in rows if "comparison" in r]
    summary = {
        "total": len(rows),
        "outcome_changed": sum(1 for c in compared if c["outcome_changed"]),
        "newly_failing": sum(1 for c in compared if c["newly_failing"]),
        "newly_passing": sum(1 for c in compared if c["newly_passing"]),
        "result_changed": sum(1 for c in compared if c["result_diff"]),
        "skipped": sum(1 for r in rows if "skipped" in r),
    }
    return render(request, "replay.html", {"module": module, "rows": rows, "summary": summary,
                                           "label": label})
