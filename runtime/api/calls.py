"""Calls of a tenant, filtered, and one call with its history and activity entry."""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import MAX_PAGE, found, page, reply
from runtime.api.contacts import query_region
from runtime.auth import require_tenant
from runtime.contract import CallDirection
from runtime.errors import bad_request
from runtime.openapi import documented
from runtime.openapi.models import CallDetail, CallDetailQuery, CallList, CallQuery
from runtime.phones import normalize_phone
from runtime.query_params import MAX_OFFSET, query_choice, query_time, query_whole_number
from runtime.store.models import CallFilter, CallState, to_json
from runtime.typedefs import STORE

routes = web.RouteTableDef()

DIRECTIONS = tuple(d.value for d in CallDirection)


async def query_module(request: web.Request, tenant_id: str) -> str | None:
    """`?module_id=`, which must be one of the tenant's modules (else 404)."""
    module_id = request.query.get("module_id")
    if module_id is not None:
        found(await request.app[STORE].get_module(tenant_id, module_id), "module")
    return module_id


def query_phone(request: web.Request) -> str | None:
    """`?phone=` in E.164 when it reads as a number in `?region=`, else as given (`101`)."""
    phone = request.query.get("phone")
    if phone is None:
        return None
    if not phone.strip():
        raise bad_request("phone: empty")
    return normalize_phone(phone, query_region(request)) or phone.strip()


@routes.get("/api/v1/calls")
@documented("List calls", auth="tenant", query=CallQuery, response=CallList, errors=[404],
            error_notes={404: "`module_id` is not one of the tenant's modules."})
async def list_calls(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = page(request)
    direction = request.query.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise bad_request(f"direction: {direction!r} is not one of: {', '.join(DIRECTIONS)}")
    query_region(request)  # checked even when no phone is read in it
    filters = CallFilter(
        module_id=await query_module(request, auth.tenant_id),
        state=query_choice(request, "state", CallState),
        direction=direction,
        since=query_time(request, "since"),
        phone=query_phone(request),
    )
    calls = await request.app[STORE].list_calls(auth.tenant_id, filters, limit, offset)
    return reply({"calls": calls})


@routes.get("/api/v1/calls/{call_id}")
@documented("Read a call with its history", auth="tenant", query=CallDetailQuery,
            response=CallDetail, errors=[404])
async def get_call(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    # A page of the history: every webhook of a call adds an event, so a caller repeating one
    # adds 500 a second, and a call's whole history of 100,000 events (46 MB of JSON) held
    # the event loop every tenant shares for 3 s as it was encoded.
    limit = query_whole_number(request, "events_limit", MAX_PAGE, 1, MAX_PAGE)
    offset = query_whole_number(request, "events_offset", 0, 0, MAX_OFFSET)
    store = request.app[STORE]
    call = found(await store.get_call(auth.tenant_id, request.match_info["call_id"]), "call")
    events = await store.list_call_events(auth.tenant_id, call.id, limit + 1, offset)
    activity = await store.get_activity_for_call(auth.tenant_id, call.id)
    body = {**to_json(call), "events": events[:limit], "activity": activity}
    if len(events) > limit:
        # Only when there are more: a call's page keeps the shape it always had (a call's
        # fields, its events and its activity entry) for every call whose history fits.
        body["events_more"] = True
    return reply(body)
