"""The execution log: every run of a module's functions, filtered; one run in full."""

from __future__ import annotations

from aiohttp import web

from runtime.api.calls import query_module
from runtime.api.common import page, reply
from runtime.auth import require_tenant
from runtime.errors import bad_request
from runtime.openapi import documented
from runtime.openapi.models import ExecutionList, ExecutionQuery, ExecutionSummary, dump
from runtime.operations.executions import FUNCTIONS, tenant_execution
from runtime.operations.services import services
from runtime.query_params import query_choice, query_time
from runtime.store.models import JSON, Execution, ExecutionFilter, ExecutionOutcome
from runtime.typedefs import STORE

routes = web.RouteTableDef()


def summary(execution: Execution) -> dict[str, JSON]:
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
        version_id=request.query.get("version_id"),
        since=query_time(request, "since"),
        until=query_time(request, "until"),
    )
    executions = await request.app[STORE].list_executions(
        auth.tenant_id, filters, limit, offset
    )
    return reply({"executions": [summary(e) for e in executions]})


@routes.get("/api/v1/executions/{execution_id}")
@documented("Read an execution in full", auth="tenant", response=Execution, errors=[404])
async def get_execution(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    return reply(await tenant_execution(services(request), auth.tenant_id,
                                        request.match_info["execution_id"]))
