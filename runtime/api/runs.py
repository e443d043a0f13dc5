"""Running a module's functions on request: dry runs and replays, test connection, members,
click-to-call. Each real run leaves an execution-log entry; a dry run leaves nothing."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, model_validator

from runtime.api.common import Body, found, read_body
from runtime.auth import TenantAuth, bearer, require_tenant
from runtime.contract import MemberList, TestConnectionResult
from runtime.errors import ApiError, unauthorized
from runtime.ids import hash_secret
from runtime.intake import composed_request
from runtime.openapi import documented
from runtime.openapi.models import (
    DryRunReport,
    MembersOut,
    OriginateOut,
    ReplayReport,
    TestConnectionOut,
    dump,
)
from runtime.ratelimit import Refused
from runtime.runner import Reply, RunReport
from runtime.store.models import Execution, Module, ScriptVersion, User
from runtime.text import valid_strings
from runtime.typedefs import CONFIG, RUNNER, STORE
from sandbox import RequestData

routes = web.RouteTableDef()

MAX_SOURCE_BYTES = 64 * 1024


class RequestBody(Body):
    """A request composed for a dry run: its text is made valid as a webhook's would be
    (lone surrogates such as `"\\udcff"` become U+FFFD, contract §3)."""

    method: str = Field(default="POST", min_length=1, max_length=16)
    url: str | None = Field(default=None, max_length=8192)
    headers: dict[str, str] | list[tuple[str, str]] = Field(default_factory=dict)
    body: str | None = None

    lenient_text_fields = frozenset({"method", "url", "headers", "body"})

    @model_validator(mode="before")
    @classmethod
    def valid_unicode(cls, data: Any) -> Any:
        return valid_strings(data)


class DryRunBody(Body):
    request: RequestBody | None = None
    source: str | None = None
    version_id: str | None = None
    execution_id: str | None = None


class ReplayBody(Body):
    source: str | None = None
    version_id: str | None = None


class OriginateBody(Body):
    module_id: str
    number: str = Field(min_length=1, max_length=64)
    user_id: str | None = None


def too_many(refusal: Refused) -> ApiError:
    return ApiError(429, "rate_limited", str(refusal),
                    headers={"Retry-After": str(refusal.retry_after)})


async def module_of(request: web.Request, auth: TenantAuth, module_id: str) -> Module:
    module: Module = found(
        await request.app[STORE].get_module(auth.tenant_id, module_id), "module"
    )
    return module


async def active_version(request: web.Request, module: Module) -> ScriptVersion:
    version = await request.app[STORE].get_active_version(module.tenant_id, module.id)
    if version is None:
        raise ApiError(409, "no_active_script", "this module has no active script version")
    return version


async def source_for(request: web.Request, module: Module, source: str | None,
                     version_id: str | None) -> tuple[str, str | None]:
    """The script to run: given text, a given version, or the active one."""
    if source is not None and version_id is not None:
        raise ApiError(400, "bad_request", "give either source or version_id, not both")
    if source is not None:
        if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise ApiError(422, "invalid_script", "the script is larger than 64 KiB")
        return source, None
    store = request.app[STORE]
    if version_id is not None:
        version = found(await store.get_version(module.tenant_id, module.id, version_id),
                        "version")
        return version.source, version.id
    version = await active_version(request, module)
    return version.source, version.id


def reply_json(reply: Reply | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {"status": reply.status, "headers": reply.headers,
            "body": reply.body.decode("utf-8", errors="replace")}


def script_failed(report: RunReport) -> ApiError:
    error = report.error if isinstance(report.error, dict) else {}
    if error.get("type") == "FunctionMissing":
        return ApiError(501, "not_supported", str(error.get("message")),
                        details={"execution_id": report.execution_id})
    return ApiError(
        502, "script_failed",
        f"the module's {report.function} failed: {error.get('message', 'see the execution log')}",
        details={"execution_id": report.execution_id, "error": report.error,
                 "limit": report.outcome.limit},
    )


async def dry_run_report(request: web.Request, module: Module, source: str,
                         version_id: str | None, data: RequestData) -> dict[str, Any]:
    try:
        report, reply = await request.app[RUNNER].dry_run(module, source, data)
    except Refused as refusal:
        raise too_many(refusal) from None
    body = report.to_json()
    body.pop("execution_id")
    body["version_id"] = version_id
    body["reply"] = reply_json(reply)
    body["request"] = data.to_json()
    return dump(DryRunReport, body)


def webhook_url(request: web.Request, module: Module) -> str:
    return f"{request.app[CONFIG].base_url}/hooks/{module.webhook_token}"


@routes.post("/api/v1/modules/{module_id}/dry-run")
@documented("Dry-run the webhook function", auth="tenant", body=DryRunBody,
            response=DryRunReport, errors=[404, 409, 429], error_notes={
                400: "or both `source` and `version_id` given, or the execution belongs to "
                     "another module.",
                409: "`no_active_script`, or `not_replayable`: the execution stored no request.",
                422: "or `invalid_script`: the source is larger than 64 KiB."})
async def dry_run(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await module_of(request, auth, request.match_info["module_id"])
    body = await read_body(request, DryRunBody)
    source, version_id = await source_for(request, module, body.source, body.version_id)
    if body.execution_id is not None:
        data = await stored_request(request, auth, body.execution_id, module)
    else:
        given = body.request or RequestBody()
        data = composed_request({
            "method": given.method, "url": given.url or webhook_url(request, module),
            "headers": given.headers, "body": given.body,
        })
    return web.json_response(await dry_run_report(request, module, source, version_id, data))


async def stored_request(request: web.Request, auth: TenantAuth, execution_id: str,
                         module: Module | None = None) -> RequestData:
    execution = found(
        await request.app[STORE].get_execution(auth.tenant_id, execution_id), "execution"
    )
    if module is not None and execution.module_id != module.id:
        raise ApiError(400, "bad_request", "that execution belongs to another module")
    if not isinstance(execution.request, dict) or "method" not in execution.request:
        raise ApiError(409, "not_replayable", "that execution did not store a webhook request")
    return composed_request(execution.request)


def what_happened(execution: Execution) -> dict[str, Any]:
    """A stored execution as a replay shows it beside the dry run."""
    return {
        "execution_id": execution.id,
        "version_id": execution.version_id,
        "outcome": execution.outcome.value,
        "result": execution.result,
        "effects": execution.effects,
        "error": execution.error,
    }


@routes.post("/api/v1/executions/{execution_id}/replay")
@documented("Replay a stored webhook request as a dry run", auth="tenant", body=ReplayBody,
            body_required=False, response=ReplayReport, errors=[404, 409, 429],
            error_notes={400: "or both `source` and `version_id` given.",
                         409: "`no_active_script`, or `not_replayable`."})
async def replay(request: web.Request) -> web.Response:
    """Run a stored webhook request again as a dry run, beside what really happened."""
    auth = await require_tenant(request)
    store = request.app[STORE]
    execution = found(
        await store.get_execution(auth.tenant_id, request.match_info["execution_id"]),
        "execution",
    )
    module = await module_of(request, auth, execution.module_id)
    body = await read_body(request, ReplayBody) if request.can_read_body else ReplayBody()
    source, version_id = await source_for(request, module, body.source, body.version_id)
    data = await stored_request(request, auth, execution.id)
    report = await dry_run_report(request, module, source, version_id, data)
    report["original"] = what_happened(execution)
    report["changed"] = (
        report["outcome"] != execution.outcome.value
        or report["result"] != execution.result
    )
    return web.json_response(dump(ReplayReport, report))


async def run_other(request: web.Request, module: Module, function: str,
                    args: tuple[Any, ...]) -> RunReport:
    version = await active_version(request, module)
    try:
        report = await request.app[RUNNER].call_function(module, version, function, args)
    except Refused as refusal:
        raise too_many(refusal) from None
    if not report.ok:
        raise script_failed(report)
    return report


@routes.post("/api/v1/modules/{module_id}/test-connection")
@documented("Run the module's VoipTestConnection", auth="tenant",
            response=TestConnectionOut, errors=[404, 409, 429, 501, 502],
            error_notes={409: "`no_active_script`."})
async def test_connection(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await module_of(request, auth, request.match_info["module_id"])
    report = await run_other(request, module, "VoipTestConnection", ())
    result = report.validated
    assert isinstance(result, TestConnectionResult)
    return web.json_response(
        dump(TestConnectionOut, {**result.to_json(), "execution_id": report.execution_id}))


@routes.post("/api/v1/modules/{module_id}/load-members")
@documented("Run the module's VoipGetMembers", auth="tenant", response=MembersOut,
            errors=[404, 409, 429, 501, 502], error_notes={409: "`no_active_script`."})
async def load_members(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await module_of(request, auth, request.match_info["module_id"])
    report = await run_other(request, module, "VoipGetMembers", ())
    result = report.validated
    assert isinstance(result, MemberList)
    bindings = await request.app[STORE].list_bindings(auth.tenant_id, module.id) or []
    bound = {b.member_id: b.user_id for b in bindings}
    members = [{**m, "user_id": bound.get(str(m["id"]))} for m in result.to_json()]
    return web.json_response(
        dump(MembersOut, {"members": members, "execution_id": report.execution_id}))


async def place_call(request: web.Request, tenant_id: str, user: User, module_id: str,
                     number: str) -> dict[str, Any]:
    """Click-to-call as `user`: VoipGenerateCall(<their extension in the module>, number).

    The user's first bound extension (by member id) is the one that rings first. The API and
    the console's call buttons both come here. Returns {execution_id, from, to}.
    """
    store = request.app[STORE]
    module = found(await store.get_module(tenant_id, module_id), "module")
    bindings = await store.list_bindings(tenant_id, module.id) or []
    extensions = sorted(b.member_id for b in bindings if b.user_id == user.id)
    if not extensions:
        raise ApiError(409, "no_extension",
                       f"user {user.name!r} has no extension bound in module {module.name!r}")
    report = await run_other(request, module, "VoipGenerateCall", (extensions[0], number))
    return {"execution_id": report.execution_id, "from": extensions[0], "to": number}


@routes.post("/api/v1/calls/originate")
@documented("Start an outgoing call (click-to-call)", auth="tenant_or_user_header",
            body=OriginateBody, response=OriginateOut, status=202,
            errors=[403, 404, 409, 429, 501, 502], error_notes={
                403: "a user token can only call as its own user.",
                409: "`no_extension`: the user has no extension bound in the module; or "
                     "`no_active_script`.",
                422: "or `user_id` missing with a tenant key."})
async def originate(request: web.Request) -> web.Response:
    """Click-to-call: run VoipGenerateCall(<the user's bound extension>, <number>).

    A user token calls as that user; a tenant key must name the user.
    """
    store = request.app[STORE]
    body = await read_body(request, OriginateBody)
    secret = bearer(request)
    if secret is None:
        raise unauthorized()
    key = await store.find_api_key(hash_secret(secret))
    if key is not None:
        tenant_id = key.tenant_id
        if body.user_id is None:
            raise ApiError(422, "invalid", "user_id: required when calling with a tenant key")
        user = found(await store.get_user(tenant_id, body.user_id), "user")
    else:
        found_user = await store.find_user_by_token(hash_secret(secret))
        if found_user is None:
            raise unauthorized("unknown or revoked credentials")
        user, tenant_id = found_user, found_user.tenant_id
        if body.user_id not in (None, user.id):
            raise ApiError(403, "forbidden", "a user token can only call as its own user")
    return web.json_response(
        dump(OriginateOut, await place_call(request, tenant_id, user, body.module_id,
                                            body.number)),
        status=202,
    )
