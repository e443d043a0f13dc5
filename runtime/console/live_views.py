"""The live page's actions on one call: its card (drawn again when something changed), "mark
handled" for a missed call, and "call back" (the module's VoipGenerateCall).

The actions are plain forms, so they work without the page's script: the answer is then a
redirect back to the live page (or the error page). The script posts the same forms asking
for JSON (`Accept: application/json`) and shows the answer in the card.

Marking a call handled is told at once to everyone the call rang for (and to the marker's own
other tabs), on the live socket, as `{"type": "call_handled", "call_id", ...}`: their pages
then draw that card again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runtime.call_access import user_may_see_call
from runtime.console.dial_once import NONCE_FIELD, issue, place
from runtime.console.live_cards import CardReader, callable_back
from runtime.console.modules_views import text
from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    action,
    form_of,
    render,
    require_operator,
    see_other,
    wants_json,
)
from runtime.console.words import call_status
from runtime.errors import ApiError, found, not_found
from runtime.operations.functions import place_call
from runtime.operations.services import services
from runtime.store import Tx
from runtime.store.models import Call, CallHandled, to_json
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()

LIVE_PAGE = PREFIX + "/live"


async def visible_call(request: web.Request, session: Session) -> Call:
    """The call named in the path, when this operator may see it (404 as for an unknown id
    otherwise, runtime/call_access.py)."""
    store = request.app[STORE]
    call: Call = found(await store.get_call(session.tenant_id, request.match_info["call_id"]),
                       "call")
    if not await user_may_see_call(store, session.user_id, call):
        raise not_found("call")
    return call


def done(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response(body)
    raise see_other(f"{LIVE_PAGE}#call-{request.match_info['call_id']}")


@routes.get(PREFIX + "/live/cards/{call_id}")
async def live_card(request: web.Request) -> web.StreamResponse:
    """One call's card, as the live page draws it (an HTML fragment)."""
    session = await require_operator(request)
    call = await visible_call(request, session)
    card = await CardReader(request.app[STORE], session.tenant_id, session.user_id).card(call)
    return render(request, "_call_card.html", {"card": card,
                                               "dial_nonce": issue(request.app, session)})


@routes.post(PREFIX + "/calls/{call_id}/handled")
@action
async def mark_handled(request: web.Request) -> web.StreamResponse:
    session = await require_operator(request)
    await form_of(request, session)
    call = await visible_call(request, session)
    user_id = session.user_id
    if call_status(call) != "missed":
        raise ApiError(409, "not_missed", "only a missed call can be marked handled")

    async def mark(tx: Tx) -> tuple[CallHandled | None, set[str]]:
        handled = await tx.mark_call_handled(session.tenant_id, call.id, user_id)
        told = {row.user_id for row in await tx.list_call_notified(call.id, users_only=True)
                if row.user_id}
        return handled, told | {user_id}

    handled, told = await request.app[STORE].write(mark)
    if handled is None:  # the call was deleted meanwhile
        raise not_found("call")
    message = {"type": "call_handled", "call_id": call.id, "user_id": handled.user_id,
               "handled_at": to_json(handled.handled_at)}
    hub = request.app[HUB]
    for recipient in sorted(told):
        await hub.publish(recipient, message)
    return done(request, {"call_id": call.id, "user_id": handled.user_id,
                          "handled_at": to_json(handled.handled_at)})


@routes.post(PREFIX + "/calls/{call_id}/call-back")
@action
async def call_back(request: web.Request) -> web.StreamResponse:
    """Call the client back: the module's VoipGenerateCall from this operator's extension.
    The same form posted again (its nonce, runtime/console/dial_once.py) answers as the first
    time without ringing; the JSON answer carries a fresh nonce for the card's next call."""
    session = await require_operator(request)
    form = await form_of(request, session)
    call = await visible_call(request, session)
    user = session.user
    assert user is not None
    if call.client_phone is None:
        raise ApiError(409, "no_client", "an internal call has no client to call back")
    if not callable_back(call):
        raise ApiError(409, "no_client", f"the caller's number is hidden "
                                         f"({call.client_phone!r}): there is no number to "
                                         "call back")
    client_phone = call.client_phone
    placed = await place(
        request.app, session, text(form, NONCE_FIELD), f"call-back/{call.id}",
        lambda: place_call(services(request), session.tenant_id, user, call.module_id,
                           client_phone))
    return done(request, {**placed.answer, "repeat": placed.repeat,
                          "next_nonce": issue(request.app, session)})
