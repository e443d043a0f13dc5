"""Running one of a module's other functions (test connection, members, click-to-call, a
recording's link) with its active version; each run leaves an execution-log entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.contract import MemberList, TestConnectionResult
from runtime.errors import ApiError, found
from runtime.json_body import Body
from runtime.operations.services import Services
from runtime.operations.sources import active_version
from runtime.redaction import Redactor, secret_values
from runtime.runner import RunReport
from runtime.store.models import JSON, Module, User


def script_failed(report: RunReport, module: Module) -> ApiError:
    """501 `not_supported` when the script lacks the function, else 502 `script_failed` with
    the execution to read; the script's error with the module's secret settings masked, as
    the execution log shows it (a user token playing a recording is told it too)."""
    details: dict[str, JSON] = {"execution_id": report.execution_id}
    if isinstance(report.error, dict) and report.error.get("type") == "FunctionMissing":
        return ApiError(501, "not_supported", str(report.error.get("message")), details=details)
    shown = Redactor(secret_values(module)).json(report.error, "error")
    message = shown.get("message", "see the execution log") if isinstance(shown, dict) else (
        "see the execution log")
    return ApiError(
        502, "script_failed", f"the module's {report.function} failed: {message}",
        details={**details, "error": shown, "limit": report.outcome.limit},
    )


async def run_function(services: Services, module: Module, function: str,
                       args: tuple[JSON, ...]) -> RunReport:
    """The function's report when it succeeded with a valid result; otherwise an `ApiError`
    (409 without an active script, 501, 502), or `Refused` over the tenant's limits."""
    version = await active_version(services, module)
    services.runner.limiter.admit_run(module.tenant_id)
    report = await services.runner.call_function(module, version, function, args)
    if not report.ok:
        raise script_failed(report, module)
    return report


@dataclass(frozen=True, slots=True)
class Connection:
    """VoipTestConnection's validated result (`success`, `failReason`) and its execution."""

    result: dict[str, Any]
    execution_id: str


async def connection_test(services: Services, module: Module) -> Connection:
    report = await run_function(services, module, "VoipTestConnection", ())
    result = report.validated
    assert isinstance(result, TestConnectionResult)
    # A failReason often quotes the provider's answer, which may quote the key it refused.
    shown = Redactor(secret_values(module)).json(result.to_json(), "result")
    return Connection(shown, report.execution_id)


@dataclass(frozen=True, slots=True)
class Members:
    """VoipGetMembers' members, each with the user bound to it now (`user_id`, or None)."""

    members: list[dict[str, Any]]
    execution_id: str


async def load_members(services: Services, module: Module) -> Members:
    report = await run_function(services, module, "VoipGetMembers", ())
    result = report.validated
    assert isinstance(result, MemberList)
    bindings = await services.store.list_bindings(module.tenant_id, module.id) or []
    bound = {b.member_id: b.user_id for b in bindings}
    # Each member once, as first listed: a provider's list may name an account twice (an
    # extension in two groups), and the bindings table binds an id, not a row.
    members: list[dict[str, Any]] = []
    listed: set[str] = set()
    for member in result.to_json():
        member_id = str(member["id"])
        if member_id not in listed:
            listed.add(member_id)
            members.append({**member, "user_id": bound.get(member_id)})
    return Members(members, report.execution_id)


class OriginateBody(Body):
    module_id: str
    number: str = Field(min_length=1, max_length=64)
    user_id: str | None = None


async def place_call(services: Services, tenant_id: str, user: User, module_id: str,
                     number: str) -> dict[str, Any]:
    """Click-to-call as `user`: VoipGenerateCall(<their extension in the module>, number).

    The user's first bound extension (by member id) is the one that rings first. The API and
    the console's call buttons both come here. Returns {execution_id, from, to}.
    """
    store = services.store
    module = found(await store.get_module(tenant_id, module_id), "module")
    bindings = await store.list_bindings(tenant_id, module.id) or []
    extensions = sorted(b.member_id for b in bindings if b.user_id == user.id)
    if not extensions:
        raise ApiError(409, "no_extension",
                       f"user {user.name!r} has no extension bound in module {module.name!r}")
    report = await run_function(services, module, "VoipGenerateCall", (extensions[0], number))
    return {"execution_id": report.execution_id, "from": extensions[0], "to": number}
