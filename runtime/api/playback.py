"""Recording playback: resolve a fresh link with the module's VoipGetCallLink (contract §5.4).

An <audio> element cannot send headers, so a user token may come as `?token=`. The answer is a
redirect to the URL the script returned, or JSON `{"url"}` for API clients that ask for it.

A tenant key plays any call of its tenant; a user token only the calls of that user
(runtime/call_access.py), any other answers 404 as an unknown id would. HEAD is 405: only a
GET runs the script.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import found
from runtime.auth import UserAuth, require_tenant_or_user_auth
from runtime.call_access import user_may_see_call
from runtime.errors import bad_request, not_found
from runtime.openapi import Answer, documented
from runtime.openapi.models import RecordingLink, RecordingQuery, dump
from runtime.operations.functions import run_function
from runtime.operations.services import services
from runtime.recording_links import recording_url
from runtime.typedefs import STORE

routes = web.RouteTableDef()


def wants_json(request: web.Request) -> bool:
    given = request.query.get("format")
    if given is not None and given != "json":
        raise bad_request(f"format: {given!r} is not one of: json")
    if given == "json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "audio/" not in accept


# No HEAD (aiohttp adds one to a GET unless told): answering it as GET would run the
# tenant's VoipGetCallLink, with its fetches and its execution row, for a link checker or
# a preview that reads no body; a redirect cannot be told without running it. HEAD is 405.
@routes.get("/api/v1/calls/{call_id}/recording", allow_head=False)
@documented(
    "Play a call's recording", auth="tenant_or_user", query=RecordingQuery,
    response=RecordingLink, errors=[404, 409, 429, 501, 502],
    other={302: Answer("A redirect to the recording (unless JSON was asked for).",
                       headers={"Location": "the recording's URL"})},
    error_notes={404: "the call (for a user token: a call that did not ring, was not "
                      "answered and did not end at that user), or it has no recording.",
                 409: "`no_active_script`: the module has no active version."},
)
async def recording(request: web.Request) -> web.Response:
    auth = await require_tenant_or_user_auth(request)
    tenant_id = auth.tenant_id
    as_json = wants_json(request)
    store = request.app[STORE]
    call = found(await store.get_call(tenant_id, request.match_info["call_id"]), "call")
    if isinstance(auth, UserAuth) and not await user_may_see_call(store, auth.user.id, call):
        raise not_found("call")
    if not call.has_record:
        raise not_found("recording of this call")
    module = found(await store.get_module(tenant_id, call.module_id), "module")
    report = await run_function(services(request), module, "VoipGetCallLink", (call.record_call,))
    url = recording_url(report)
    if as_json:
        return web.json_response(
            dump(RecordingLink, {"url": url, "execution_id": report.execution_id}))
    raise web.HTTPFound(location=url, headers={"Cache-Control": "no-store"})
