"""Running a module's functions on request: dry runs and replays, test connection, members,
click-to-call. Each real run leaves an execution-log entry; a dry run leaves nothing. The
operations themselves are runtime/operations (shared with the console)."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from runtime.api.common import found, read_body
from runtime.auth import bearer, require_tenant
from runtime.errors import ApiError, bad_request, invalid_field, unauthorized
from runtime.ids import hash_secret
from runtime.openapi import HeaderParam, documented
from runtime.openapi.models import (
    DryRunReport,
    MembersOut,
    OriginateOut,
    ReplayReport,
    TestConnectionOut,
    dump,
)
from runtime.operations import dry_runs, functions
from runtime.operations.call_once import DIAL_ONCE, claim_key
from runtime.operations.dry_runs import (
    DryRunBody,
    ReplayBody,
    replay_execution,
    what_happened,
)
from runtime.operations.executions import tenant_execution
from runtime.operations.functions import OriginateBody
from runtime.operations.modules import tenant_module
from runtime.operations.services import services
from runtime.operations.sources import script_for
from runtime.redaction import redacted_report, secret_values
from runtime.store.execution_caps import as_kept
from runtime.typedefs import STORE

routes = web.RouteTableDef()


@routes.post("/api/v1/modules/{module_id}/dry-run")
@documented("Dry-run the webhook function", auth="tenant", body=DryRunBody,
            response=DryRunReport, errors=[404, 409, 429], error_notes={
                400: "or both `source` and `version_id` given, or both `request` and "
                     "`execution_id`, or the execution belongs to another module.",
                409: "`no_active_script`, or `not_replayable`: the execution stored no request, "
                     "or only part of one (its body was cut to fit the log).",
                422: "or `invalid_script`: the source is larger than 64 KiB; or "
                     "`request.body` is larger than a webhook's may be (the service would "
                     "answer that webhook 413 without running the script)."})
async def dry_run(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await tenant_module(services(request), auth.tenant_id,
                                 request.match_info["module_id"])
    body = await read_body(request, DryRunBody)
    result = await dry_runs.dry_run(services(request), module, body)
    return web.json_response(redacted_report(result.report, secret_values(module)))


@routes.post("/api/v1/executions/{execution_id}/replay")
@documented("Replay a stored webhook request as a dry run", auth="tenant", body=ReplayBody,
            body_required=False, response=ReplayReport, errors=[404, 409, 429],
            error_notes={400: "or both `source` and `version_id` given.",
                         409: "`no_active_script`, or `not_replayable`: the execution "
                              "stored no request, or only part of one."})
async def replay(request: web.Request) -> web.Response:
    """Run a stored webhook request again as a dry run, beside what really happened."""
    auth = await require_tenant(request)
    ops = services(request)
    execution = await tenant_execution(ops, auth.tenant_id, request.match_info["execution_id"])
    module = await tenant_module(ops, auth.tenant_id, execution.module_id)
    body = await read_body(request, ReplayBody) if request.can_read_body else ReplayBody()
    script = await script_for(ops, module, body.source, body.version_id)
    report = (await replay_execution(ops, module, execution, script)).report
    report["original"] = what_happened(execution)
    report["changed"] = (
        report["outcome"] != execution.outcome.value
        or as_kept(report["result"]) != execution.result  # (as the log keeps it)
    )
    # Compared above on what really ran; masked for showing.
    return web.json_response(dump(ReplayReport, redacted_report(report, secret_values(module))))


@routes.post("/api/v1/modules/{module_id}/test-connection")
@documented("Run the module's VoipTestConnection", auth="tenant",
            response=TestConnectionOut, errors=[404, 409, 429, 501, 502],
            error_notes={409: "`no_active_script`."})
async def test_connection(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await tenant_module(services(request), auth.tenant_id,
                                 request.match_info["module_id"])
    connection = await functions.connection_test(services(request), module)
    return web.json_response(dump(TestConnectionOut, {
        **connection.result, "execution_id": connection.execution_id}))


@routes.post("/api/v1/modules/{module_id}/load-members")
@documented("Run the module's VoipGetMembers", auth="tenant", response=MembersOut,
            errors=[404, 409, 429, 501, 502], error_notes={409: "`no_active_script`."})
async def load_members(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    module = await tenant_module(services(request), auth.tenant_id,
                                 request.match_info["module_id"])
    loaded = await functions.load_members(services(request), module)
    return web.json_response(dump(MembersOut, {
        "members": loaded.members, "execution_id": loaded.execution_id}))


# Visible ASCII: what a client puts there (a UUID, an order number) survives every proxy.
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")
IDEMPOTENCY_SCOPE = "api-originate/v1"  # the claims' scope (runtime/operations/call_once.py)
STILL_DIALLING = ("a call with this Idempotency-Key was asked for before and is still being "
                  "placed (or the node placing it stopped); nothing rang now")


def idempotency_key(request: web.Request) -> str | None:
    """The request's `Idempotency-Key`, checked; None without one."""
    given = request.headers.getall("Idempotency-Key", None)
    if given is None:
        return None
    if len(given) != 1 or not IDEMPOTENCY_KEY.fullmatch(given[0]):
        raise bad_request("Idempotency-Key: give one, of 1 to 255 visible ASCII characters "
                          "(no spaces), such as a UUID")
    return given[0]


@routes.post("/api/v1/calls/originate")
@documented("Start an outgoing call (click-to-call)", auth="tenant_or_user_header",
            body=OriginateBody, response=OriginateOut, status=202,
            errors=[403, 404, 409, 429, 501, 502], error_notes={
                400: "or a malformed `Idempotency-Key`.",
                403: "a user token can only call as its own user.",
                409: "`no_extension`: the user has no extension bound in the module; or "
                     "`no_active_script`; or `still_dialling`: the first request with this "
                     "`Idempotency-Key` is still placing its call, or its node stopped.",
                422: "or `user_id` missing with a tenant key."},
            headers={"Idempotency-Key": HeaderParam(
                "Makes a retry safe: a request repeating a call (the same module, user and "
                "number) with the same key, within 12 hours, gets the first request's answer "
                "and nothing rings again (on any node, after a restart). Keys are the "
                "tenant's. A call that failed is not kept: the same key then tries again.",
                {"type": "string", "pattern": "^[!-~]{1,255}$"})},
            response_headers={"Idempotent-Replayed": "`true` when this answer is that of an "
                              "earlier request with the same `Idempotency-Key`: nothing rang "
                              "now."})
async def originate(request: web.Request) -> web.Response:
    """Click-to-call: run VoipGenerateCall(<the user's bound extension>, <number>).

    A user token calls as that user; a tenant key must name the user. With an
    `Idempotency-Key`, a repeat of the same call answers as the first and rings nothing.
    """
    store = request.app[STORE]
    # The credential first, as every other route does: the body is read and checked only for
    # someone who may call (it may be up to the API's body limit of crafted JSON).
    secret = bearer(request)
    if secret is None:
        raise unauthorized()
    key = await store.find_api_key(hash_secret(secret))
    token_user = None if key is not None else await store.find_user_by_token(hash_secret(secret))
    if key is None and token_user is None:
        raise unauthorized("unknown or revoked credentials")
    once = idempotency_key(request)
    body = await read_body(request, OriginateBody)
    if key is not None:
        tenant_id = key.tenant_id
        if body.user_id is None:
            raise invalid_field("user_id", "required when calling with a tenant key")
        user = found(await store.get_user(tenant_id, body.user_id), "user")
    else:
        assert token_user is not None
        user, tenant_id = token_user, token_user.tenant_id
        if body.user_id not in (None, user.id):
            raise ApiError(403, "forbidden", "a user token can only call as its own user")
    def dial() -> Awaitable[dict[str, Any]]:
        return functions.place_call(services(request), tenant_id, user, body.module_id,
                                    body.number)

    if once is None:
        return web.json_response(dump(OriginateOut, await dial()), status=202)
    placed = await request.app[DIAL_ONCE].place(
        request.app, tenant_id,
        claim_key(IDEMPOTENCY_SCOPE, tenant_id, once, f"{body.module_id}/{user.id}/{body.number}"),
        dial, still_dialling=STILL_DIALLING)
    return web.json_response(dump(OriginateOut, placed.answer), status=202,
                             headers={"Idempotent-Replayed": "true"} if placed.repeat else None)
