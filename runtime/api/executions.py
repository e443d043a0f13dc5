"""The execution log: every run of a module's functions, filtered; one run in full."""

from __future__ import annotations

from aiohttp import web

from runtime.api.calls import query_module
from runtime.api.common import page, reply
from runtime.api.usage import retention_json
from runtime.auth import require_tenant
from runtime.errors import bad_request
from runtime.ids import VERSION
from runtime.openapi import documented
from runtime.openapi.models import (
    ExecutionDetail,
    ExecutionList,
    ExecutionQuery,
    ExecutionSummary,
    dump,
)
from runtime.operations.executions import FUNCTIONS, shown_execution, shown_list
from runtime.operations.services import services
from runtime.query_params import query_choice, query_record_id, query_time
from runtime.store.models import (
    JSON,
    Execution,
    ExecutionFilter,
    ExecutionOutcome,
    ListedExecution,
    to_json,
)
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()


def summary(execution: Execution | ListedExecution) -> dict[str, JSON]:
    """A list item: what happened, without the logs, request, result or effects."""
    error = execution.error if isinstance(execution.error, dict) else None
    return dump(ExecutionSummary, {
        "id": execution.id,
        "module_id": execution.module_id,
        "version_id": execution.version_id,
        "function": execution.function,
        "outcome": execution.outcome.value,
        "created_at": execution.created_at,
        "duration_ms": execution.duration_ms,
        "limit": execution.limit,
        "error": None if error is None else {
            "type": error.get("type"), "message": error.get("message"), "line": error.get("line"),
        },
        "logs_truncated": execution.logs_truncated,
        "dry_run": execution.dry_run,
    })


@routes.get("/api/v1/executions")
@documented("List executions", auth="tenant", query=ExecutionQuery, response=ExecutionList,
            errors=[404], error_notes={404: "`module_id` is not one of the tenant's modules."})
async def list_executions(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = page(request)
    function = request.query.get("function")
    if function is not None and function not in FUNCTIONS:
        raise bad_request(f"function: {function!r} is not one of: {', '.join(FUNCTIONS)}")
    filters = ExecutionFilter(
        module_id=await query_module(request, auth.tenant_id),
        outcome=query_choice(request, "outcome", ExecutionOutcome),
        function=function,
        version_id=query_record_id(request, "version_id", VERSION),
        since=query_time(request, "since"),
        until=query_time(request, "until"),
    )
    executions = await request.app[STORE].list_execution_summaries(
        auth.tenant_id, filters, limit, offset
    )
    shown = await shown_list(services(request), auth.tenant_id, executions)
    return reply({"executions": [summary(e) for e in shown],
                  "retention": retention_json(request.app[CONFIG].retention)})


@routes.get("/api/v1/executions/{execution_id}")
@documented("Read an execution in full", auth="tenant", response=ExecutionDetail, errors=[404],
            description="Credentials in the request and the module's secret settings wherever they "
                  "appear are masked (`••••••`); `masked` says what was. A replay runs the "
                  "request as it was stored.")
async def get_execution(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    shown, masked = await shown_execution(services(request), auth.tenant_id,
                                          request.match_info["execution_id"])
    return reply({**to_json(shown), "masked": masked})
