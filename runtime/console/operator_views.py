"""Operators (user token): the live call page and its WebSocket, calls, contacts, recordings.

Builders (tenant key) see the tenant's calls and contacts too; an operator sees the calls they
were notified of and the contacts of those calls, and may create a contact only for the number
of such a call (the one thing here beyond what a user token does through the API, kept that
narrow on purpose).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web

from runtime.call_access import calls_user_may_see, user_may_see_call
from runtime.console.contact_search import ContactSearch, search_contacts
from runtime.console.dial_once import issue
from runtime.console.dialing import dial_lines
from runtime.console.filters import name_and_number
from runtime.console.live_cards import CardReader, split
from runtime.console.modules_views import operator_number, text
from runtime.console.regions import region_of, tenant_region
from runtime.console.session import Session, session_ended
from runtime.console.web import (
    PREFIX,
    action,
    form_of,
    modules_shown,
    page,
    render,
    require_operator,
    require_session,
    same_origin,
    see_other,
    store_errors,
    wants_json,
)
from runtime.console.words import call_status
from runtime.contact_redraw import redraw_calls_of
from runtime.errors import ApiError, found, not_found
from runtime.live_socket import LiveAccess, serve_live
from runtime.operations.contacts import create_contacts, new_contact
from runtime.operations.functions import run_function
from runtime.operations.services import services
from runtime.phones import normalize_phone
from runtime.recording_links import recording_url
from runtime.store.errors import PhoneTaken
from runtime.store.models import (
    Call,
    CallFilter,
    CallState,
    Contact,
    Notification,
    NotificationKind,
    utc_now,
)
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()

LIVE_WINDOW = timedelta(hours=12)
ENDED_SHOWN = 20
NOTIFIED_WINDOW = timedelta(days=7)
NOTIFICATIONS_SCAN = 500
MERGE_FOUND = 20  # contacts the merge search offers: more ask for more of the name or number
# The calls list, a page at a time: older pages are linked (the API pages the same way).
CALLS_PAGE = 200
# A contact's activity, a page at a time: older pages are linked (a client's hundredth call and
# those before it were left out, and nothing said so).
ACTIVITY_PAGE = 100
# An operator's page reads the newest offset + page calls of each of their lists and merges
# them; this bounds that read.
MAX_CALLS_OFFSET = 10_000


async def notified_calls(request: web.Request, session: Session, *,
                         window: timedelta | None = None) -> list[dict[str, Any]]:
    """The user's calls from their notifications, newest first: the latest payload of each."""
    since = utc_now() - window if window else None
    items = await request.app[STORE].list_notifications(
        session.tenant_id, session.user_id, since=since, limit=NOTIFICATIONS_SCAN, newest=True)
    latest: dict[str, dict[str, Any]] = {}
    for item in items:  # oldest first: later ones replace earlier ones
        payload = item.payload if isinstance(item.payload, dict) else {}
        latest[item.call_id] = {"notification_id": item.id, "kind": item.kind.value,
                                "call": payload.get("call"), "contact": payload.get("contact"),
                                "at": item.created_at}
    return sorted(latest.values(), key=lambda c: c["at"], reverse=True)


async def operator_calls(request: web.Request, session: Session, *, phone: str | None = None,
                         state: CallState | None = None, limit: int = 200) -> list[Call]:
    """The calls an operator may see, newest first: those they answered (a transfer to them
    included), those at a number bound to them (in each module), and those they were notified
    of lately (a group ringing several phones); as runtime/call_access.py allows."""
    store = request.app[STORE]
    found_calls: dict[str, Call] = {
        call.id: call for call in await store.list_calls(session.tenant_id, CallFilter(
            phone=phone, state=state, answered_user_id=session.user_id), limit, 0)}
    # The operator's own bindings, in one read (a read per module before, up to 500): only
    # the modules with a number of theirs are read for calls.
    mine_by_module: dict[str, set[str]] = {}
    for bound in await store.tenant_bindings(session.tenant_id, modules_shown(request),
                                               session.user_id):
        mine_by_module.setdefault(bound.module_id, set()).add(bound.member_id)
    for module_id, mine in mine_by_module.items():
        rows = await store.list_calls(session.tenant_id, CallFilter(
            module_id=module_id, phone=phone, state=state), limit, 0)
        for call in rows:
            if operator_number(call.direction, call.src_phone, call.dst_phone) in mine:
                found_calls[call.id] = call
    notified_ids = [call_id for item in await notified_calls(request, session,
                                                             window=NOTIFIED_WINDOW)
                    if (call_id := (item["call"] or {}).get("id")) and call_id not in found_calls]
    notified = (await store.get_calls(session.tenant_id, notified_ids)  # one read for all
                if notified_ids else {})
    for call_id in notified_ids:
        stored = notified.get(call_id)
        if stored is None or (state is not None and stored.state is not state):
            continue
        if phone is not None and phone not in (stored.client_phone_normalized,
                                               stored.client_phone):
            continue
        found_calls[stored.id] = stored
    # The store's order (created_at, then id): by created_at alone, calls of one millisecond
    # kept the order of the list each was found in, unlike the builder's page, and a page
    # boundary between them could show one twice and skip the other.
    return sorted(found_calls.values(), key=lambda c: (c.created_at, c.id), reverse=True)[:limit]


async def answered_by(request: web.Request, tenant_id: str, calls: Iterable[Call]
                      ) -> dict[str, str]:
    """Call id -> who answered it, as the pages say it: the user's name and the number, or
    the number alone when nobody was bound to it (or the user is deleted). One read for all
    the users named, however many calls."""
    answered = [(call, phone) for call in calls if (phone := call.answered_phone) is not None]
    users = await request.app[STORE].get_users(
        tenant_id, [call.answered_user_id for call, _ in answered if call.answered_user_id])
    said: dict[str, str] = {}
    for call, phone in answered:
        user = users.get(call.answered_user_id) if call.answered_user_id else None
        said[call.id] = name_and_number(user.name if user is not None else None, phone)
    return said


@routes.get(PREFIX + "/live")
@page
async def live_page(request: web.Request) -> web.StreamResponse:
    session = await require_operator(request)
    store = request.app[STORE]
    # The newest of the window: a busy day's first ones would leave out what rings now.
    items = await store.list_notifications(
        session.tenant_id, session.user_id, since=utc_now() - LIVE_WINDOW,
        limit=NOTIFICATIONS_SCAN, newest=True)
    last_id = items[-1].id if items else ""
    # The store's order (oldest first), the order they were sent live in: the latest of each
    # call wins, and the calls go newest first by it. (Sorted by created_at, two calls ending
    # in the same millisecond swapped places, and the page drew another 20 than the live tab.)
    latest = {item.call_id: (index, item) for index, item in enumerate(items)}
    newest_first = [item for _, item in sorted(latest.values(), key=lambda pair: pair[0],
                                               reverse=True)]
    # Every call not ended yet, the last ENDED_SHOWN ended ones, and the older ended calls
    # whose end said missed: only those are read. A missed call stays on the page until
    # someone marks it handled, as the page says, however many calls ended after it (it went
    # at the next load once ENDED_SHOWN others had ended, handled or not).
    open_ids = [n.call_id for n in newest_first if n.kind is not NotificationKind.ENDED]
    ended = [n for n in newest_first if n.kind is NotificationKind.ENDED]
    older_missed = [n.call_id for n in ended[ENDED_SHOWN:] if ended_missed(n)]
    shown = set(open_ids) | {n.call_id for n in ended[:ENDED_SHOWN]} | set(older_missed)
    by_id = await store.get_calls(session.tenant_id, [item.call_id for item in newest_first
                                                      if item.call_id in shown])
    calls = [by_id[item.call_id] for item in newest_first if item.call_id in by_id]
    cards = await CardReader(store, session.tenant_id, session.user_id).cards(calls)
    active, ended_cards = split(cards)
    shown_ended = ended_cards[:ENDED_SHOWN] + [card for card in ended_cards[ENDED_SHOWN:]
                                               if card.missed and not card.handled]
    return render(request, "live.html", {"active": active, "ended": shown_ended,
                                         "last_id": last_id, "ended_shown": ENDED_SHOWN,
                                         "dial_nonce": issue(request.app, session)})


def ended_missed(notification: Notification) -> bool:
    """The call was missed as its end notification tells it (a later record may still say
    otherwise: the card read from the call decides)."""
    payload = notification.payload
    call = payload.get("call") if isinstance(payload, dict) else None
    return isinstance(call, dict) and call_status(call) == "missed"


@routes.get(PREFIX + "/live/socket")
async def live_socket(request: web.Request) -> web.StreamResponse:
    """The user's notifications over a WebSocket, as /api/v1/live sends them (the console's
    session instead of ?token=, so the token never reaches page scripts)."""
    session = await require_session(request)
    if session.kind != "operator":
        raise ApiError(403, "forbidden", "the live feed needs a user token")
    if not same_origin(request):
        raise ApiError(403, "forbidden", "cross-origin WebSocket refused")
    user = session.user
    assert user is not None
    app = request.app
    return await serve_live(request, LiveAccess(
        user=user, credentials=session.credentials, check=lambda: session_ended(app, session),
        expires_at=session.expires_at))


# --- calls ------------------------------------------------------------------------------------


def page_offset(request: web.Request) -> int:
    """?offset=: how many of the newest calls (or activity entries) the page skips
    (0..MAX_CALLS_OFFSET)."""
    try:
        return min(max(0, int(request.query.get("offset", "0"))), MAX_CALLS_OFFSET)
    except ValueError:
        return 0


@routes.get(PREFIX + "/calls")
@page
async def calls_page(request: web.Request) -> web.StreamResponse:
    session = await require_session(request)
    store = request.app[STORE]
    state = request.query.get("state") or None
    if state is not None and state not in {s.value for s in CallState}:
        raise ApiError(400, "bad_request", f"state: {state!r} is not a call state")
    offset = page_offset(request)
    # A client's calls: their number in any spelling (or an extension, as it is written).
    number = " ".join(request.query.get("number", "").split())[:64]
    modules = {m.id: m for m in await store.list_modules(session.tenant_id, modules_shown(request),
                                                         0)}
    # Typed the national way, read in the tenant's region (runtime/console/regions.py).
    region = region_of(list(modules.values()))
    phone = (normalize_phone(number, region) or number) if number else None
    calls: list[Call] = []
    # One more than a page: whether there are older calls to link to.
    if session.kind == "builder":
        calls = await store.list_calls(session.tenant_id, CallFilter(
            state=CallState(state) if state else None, phone=phone), CALLS_PAGE + 1, offset)
    else:
        calls = (await operator_calls(request, session, phone=phone,
                                      state=CallState(state) if state else None,
                                      limit=offset + CALLS_PAGE + 1))[offset:]
    older = len(calls) > CALLS_PAGE
    calls = calls[:CALLS_PAGE]
    contacts = await store.get_contacts(  # one read for all, not one per call
        session.tenant_id, [call.contact_id for call in calls if call.contact_id])
    # A call from before its client had a contact names none: the contact of its number now,
    # as its live card shows it (one read for all of them).
    by_number = await store.first_contacts_by_phones(session.tenant_id, [
        call.client_phone_normalized for call in calls
        if call.contact_id is None and call.client_phone_normalized])
    call_contacts = {call.id: contact for call in calls if (contact := (
        contacts.get(call.contact_id) if call.contact_id
        else by_number.get(call.client_phone_normalized or "")))}
    return render(request, "calls.html", {
        "calls": calls, "contacts": call_contacts, "modules": modules, "state": state or "",
        "number": number,
        "offset": offset, "page": CALLS_PAGE, "older": older,
        "answered_by": await answered_by(request, session.tenant_id, calls),
        **await dial_lines(request, session, {call.module_id for call in calls})})


# --- contacts ---------------------------------------------------------------------------------


async def visible_contact(request: web.Request, session: Session, contact_id: str) -> Contact:
    store = request.app[STORE]
    contact: Contact = found(await store.get_contact(session.tenant_id, contact_id), "contact")
    if session.kind == "operator":
        phones = {p.normalized for p in contact.phones if p.normalized}
        if not any([await operator_calls(request, session, phone=phone, limit=1)
                    for phone in phones]):
            raise not_found("contact")
    return contact


@routes.get(PREFIX + "/contacts/{contact_id}")
@page
async def contact_page(request: web.Request) -> web.StreamResponse:
    session = await require_session(request)
    contact = await visible_contact(request, session, request.match_info["contact_id"])
    return render(request, "contact.html", {
        **await contact_context(request, session, contact),
        "created": request.query.get("created"), "done": request.query.get("done")})


async def contact_context(request: web.Request, session: Session, contact: Contact
                          ) -> dict[str, Any]:
    """What the contact page shows: its activity, and for a builder what editing needs
    (contacts_views.py)."""
    store = request.app[STORE]
    offset = page_offset(request)
    # One more than a page: whether there are older entries to link to.
    entries = await store.list_activity(session.tenant_id, contact.id, ACTIVITY_PAGE + 1, offset)
    older = len(entries) > ACTIVITY_PAGE
    entries = entries[:ACTIVITY_PAGE]
    # One read for the calls of all the entries (up to 100), not one per entry.
    by_id = await store.get_calls(session.tenant_id, [entry.call_id for entry in entries])
    calls = [by_id[entry.call_id] for entry in entries if entry.call_id in by_id]
    playable: set[str] | None = None  # a builder plays every recording
    if session.kind == "operator":
        # The contact's stream holds other operators' calls too: no player where playing
        # would be refused (runtime/call_access.py).
        playable = await calls_user_may_see(
            store, session.tenant_id, session.user_id,
            [call for call in calls if call.has_record])
    # The contacts another may be merged from: those the merge search finds (a menu of the
    # newest 500 left every older contact out), MERGE_FOUND at most.
    merge_q = request.query.get("merge_q", "").strip() if session.kind == "builder" else ""
    candidates: list[Contact] = []
    # Two of the newest: whether the tenant has another contact at all.
    has_others = session.kind == "builder" and any(
        c.id != contact.id for c in await store.list_contacts(session.tenant_id, 2, 0))
    if merge_q:
        candidates = [c for c in await search_contacts(
            request, session, ContactSearch.of(merge_q, await tenant_region(request, session)),
            MERGE_FOUND + 2, 0)
            if c.id != contact.id]
    return {"contact": contact, "entries": entries, "playable": playable,
            "merge_q": merge_q, "candidates": candidates[:MERGE_FOUND],
            "region": await tenant_region(request, session),
            "more_candidates": len(candidates) > MERGE_FOUND, "has_others": has_others,
            "offset": offset, "page": ACTIVITY_PAGE, "older": older,
            "answered_by": await answered_by(request, session.tenant_id, calls),
            "errors": {}, **await dial_lines(request, session)}


async def add_contact(request: web.Request, session: Session, form: Mapping[str, Any]
                      ) -> Contact:
    """A contact of the form's name and one number ("phone"), as the API makes one: ApiError
    (422, 403, 409 naming the contact that has the number) when it is refused."""
    # The API's own rules (runtime/operations/contacts.py), for the one number of the form.
    name, phones = new_contact({"name": text(form, "name"), "phones": [text(form, "phone")],
                                "region": text(form, "region").strip()
                                or await tenant_region(request, session)})
    number = phones[0].normalized
    assert number is not None  # new_contact refuses a phone that is not a number
    if session.kind == "operator" and not await operator_calls(
            request, session, phone=number, limit=1):
        raise ApiError(403, "forbidden", "an operator can add a contact only for the "
                                         "number of one of their calls")
    existing = await request.app[STORE].find_contacts_by_phone(session.tenant_id, number)
    if existing:
        # A second contact for the number would split the client's history between them.
        raise ApiError(409, "contact_exists",
                       f"{existing[0].name!r} already has the number {number}",
                       details={"contact_id": existing[0].id})
    with store_errors():
        try:
            [contact] = await create_contacts(services(request), session.tenant_id,
                                              [(name, phones)], indexed=False)
        except PhoneTaken as taken:  # made meanwhile (the look above raced it): the same answer
            raise ApiError(409, "contact_exists",
                           f"another contact already has the number {taken.phone}",
                           details={"contact_id": taken.contact_id}) from None
    await redraw_calls_of(request.app[STORE], request.app[HUB], session.tenant_id, [number])
    return contact


@routes.post(PREFIX + "/contacts")
@action
async def create_contact(request: web.Request) -> web.StreamResponse:
    """A contact for a caller's number (from the live page or the calls list). The live page's
    script posts it asking for JSON and stays: the operator keeps watching calls (the form
    went to the contact's page), and a refusal keeps the name typed (it was an error page)."""
    session = await require_session(request)
    contact = await add_contact(request, session, await form_of(request, session))
    if wants_json(request):
        return web.json_response({"contact_id": contact.id, "name": contact.name}, status=201)
    raise see_other(f"{PREFIX}/contacts/{contact.id}?created=1")


# No HEAD: it would run VoipGetCallLink as a GET does (runtime/api/playback.py says why).
@routes.get(PREFIX + "/calls/{call_id}/recording", allow_head=False)
async def recording(request: web.Request) -> web.StreamResponse:
    """The <audio> element's source: VoipGetCallLink resolves a fresh link, then a redirect
    (as /api/v1/calls/{id}/recording does, by the same rule: an operator plays their own
    calls only, runtime/call_access.py)."""
    session = await require_session(request)
    store = request.app[STORE]
    call = found(await store.get_call(session.tenant_id, request.match_info["call_id"]), "call")
    if session.kind == "operator" and not await user_may_see_call(store, session.user_id, call):
        raise not_found("call")
    if not call.has_record:
        raise not_found("recording of this call")
    module = found(await store.get_module(session.tenant_id, call.module_id), "module")
    report = await run_function(services(request), module, "VoipGetCallLink",
                                (call.record_call,))
    raise web.HTTPFound(location=recording_url(report), headers={"Cache-Control": "no-store"})
