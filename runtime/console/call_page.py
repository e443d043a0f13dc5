"""One call on its own page (/console/calls/<id>): what it was, its client and contact, who
answered, its recording, calling back, and its history (each event the provider sent, and
what it did). The calls list, a contact's activity and the live cards link to it.

A builder opens any call of the tenant; an operator the calls runtime/call_access.py lets them
see (the calls the calls page lists for them), and any other answers 404, as an unknown one.
"""

from __future__ import annotations

from aiohttp import web

from runtime.call_access import user_may_see_call
from runtime.console.dialing import dial_lines
from runtime.console.operator_views import answered_by
from runtime.console.web import PREFIX, page, render, require_session
from runtime.errors import found, not_found
from runtime.query_params import MAX_OFFSET, query_whole_number
from runtime.typedefs import STORE

routes = web.RouteTableDef()

# History events on one page (a real call has tens; the rest are a link away).
EVENTS_SHOWN = 500


@routes.get(PREFIX + "/calls/{call_id}")
@page
async def call_page(request: web.Request) -> web.StreamResponse:
    session = await require_session(request)
    store = request.app[STORE]
    call = found(await store.get_call(session.tenant_id, request.match_info["call_id"]), "call")
    if session.kind == "operator" and not await user_may_see_call(store, session.user_id, call):
        raise not_found("call")
    contact = None
    if call.contact_id:
        contact = await store.get_contact(session.tenant_id, call.contact_id)
    elif call.client_phone_normalized:
        # A call from before its client had a contact: the contact of its number now, as the
        # calls page and the live card name it.
        contact = (await store.first_contacts_by_phones(
            session.tenant_id, [call.client_phone_normalized])).get(call.client_phone_normalized)
    module = await store.get_module(session.tenant_id, call.module_id)
    # A page of the history (see runtime/api/calls.get_call): a call's every webhook adds an
    # event, and 100,000 of them rendered at once held every tenant's event loop for seconds.
    offset = query_whole_number(request, "events_offset", 0, 0, MAX_OFFSET)
    events = await store.list_call_events(session.tenant_id, call.id, EVENTS_SHOWN + 1, offset)
    return render(request, "call.html", {
        "call": call, "contact": contact, "module": module, "events": events[:EVENTS_SHOWN],
        "events_offset": offset, "events_shown": EVENTS_SHOWN,
        "events_more": len(events) > EVENTS_SHOWN,
        "answered_by": (await answered_by(request, session.tenant_id, [call])).get(call.id),
        **await dial_lines(request, session, {call.module_id}),
    })
