"""Recording playback: resolve a fresh link with the module's VoipGetCallLink (contract §5.4).

An <audio> element cannot send headers, so a user token may come as `?token=`. The answer is a
redirect to the URL the script returned, or JSON `{"url"}` for API clients that ask for it.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import found
from runtime.api.runs import run_other
from runtime.auth import require_tenant_or_user
from runtime.contract import CallLink
from runtime.errors import not_found
from runtime.typedefs import STORE

routes = web.RouteTableDef()


def wants_json(request: web.Request) -> bool:
    if request.query.get("format") == "json":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "audio/" not in accept


@routes.get("/api/v1/calls/{call_id}/recording")
async def recording(request: web.Request) -> web.Response:
    tenant_id = await require_tenant_or_user(request)
    store = request.app[STORE]
    call = found(await store.get_call(tenant_id, request.match_info["call_id"]), "call")
    if not call.has_record:
        raise not_found("recording of this call")
    module = found(await store.get_module(tenant_id, call.module_id), "module")
    report = await run_other(request, module, "VoipGetCallLink", (call.record_call,))
    link = report.validated
    assert isinstance(link, CallLink)
    if wants_json(request):
        return web.json_response({"url": link.url, "execution_id": report.execution_id})
    raise web.HTTPFound(location=link.url, headers={"Cache-Control": "no-store"})
