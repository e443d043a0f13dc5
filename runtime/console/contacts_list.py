"""The contacts page: every contact a page at a time, newest first, found by a part of the name
(any case) or of a number (any spelling), each linking to its page (where a tenant admin edits,
merges and deletes it: contacts_views.py).

A tenant admin lists all the tenant's contacts; an operator those of their calls (the contacts
their calls name or whose numbers called them), the same ones they may open
(operator_views.visible_contact). A plain GET form and links: it works without scripts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runtime.console.contact_search import ContactSearch, search_contacts
from runtime.console.modules_views import text
from runtime.console.operator_views import add_contact, operator_calls, page_offset
from runtime.console.regions import tenant_region
from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    form_of,
    page,
    render,
    require_builder,
    require_session,
    see_other,
)
from runtime.errors import ApiError
from runtime.store.models import Contact
from runtime.typedefs import STORE

routes = web.RouteTableDef()

CONTACTS_PAGE = 50
# An operator's contacts are read from their newest calls: this many at most.
OPERATOR_CALLS_READ = 1000
async def operator_contacts(request: web.Request, session: Session) -> list[Contact]:
    """The contacts of an operator's calls (their newest OPERATOR_CALLS_READ), by their latest
    call: those the calls name, and for a call naming none the contact of its number. Only
    those with a number of one of the calls: the rule the contact page lets an operator open
    one by (a contact edited since its call, its number gone, was a link to a 404)."""
    store = request.app[STORE]
    calls = await operator_calls(request, session, limit=OPERATOR_CALLS_READ)
    named = await store.get_contacts(session.tenant_id,
                                     [c.contact_id for c in calls if c.contact_id])
    by_number = await store.first_contacts_by_phones(session.tenant_id, [
        c.client_phone_normalized for c in calls
        if c.contact_id is None and c.client_phone_normalized])
    numbers = {n for c in calls for n in (c.client_phone_normalized, c.client_phone,
                                          c.src_phone, c.dst_phone) if n}
    shown: dict[str, Contact] = {}
    for call in calls:  # newest first
        contact = named.get(call.contact_id) if call.contact_id else \
            by_number.get(call.client_phone_normalized or "")
        if contact is not None and any(p.normalized in numbers for p in contact.phones):
            shown.setdefault(contact.id, contact)
    return list(shown.values())


@routes.get(PREFIX + "/contacts")
@page
async def contacts_page(request: web.Request) -> web.StreamResponse:
    session = await require_session(request)
    return render(request, "contacts.html", await list_context(request, session))


async def list_context(request: web.Request, session: Session) -> dict[str, Any]:
    """The page of contacts the address asks for (?q=, ?offset=)."""
    query = request.query.get("q", "").strip()
    search = ContactSearch.of(query, await tenant_region(request, session)) if query else None
    offset = page_offset(request)
    # One more than a page: whether there is a next page to link to.
    if session.kind == "builder":
        if search is not None:
            contacts = await search_contacts(request, session, search, CONTACTS_PAGE + 1,
                                             offset)
        else:
            contacts = await request.app[STORE].list_contacts(session.tenant_id,
                                                              CONTACTS_PAGE + 1, offset)
    else:
        mine = await operator_contacts(request, session)
        if search is not None:
            mine = [c for c in mine if search.matches(c)]
        contacts = mine[offset:offset + CONTACTS_PAGE + 1]
    return {"contacts": contacts[:CONTACTS_PAGE], "q": query, "offset": offset,
            "page": CONTACTS_PAGE, "more": len(contacts) > CONTACTS_PAGE,
            "calls_read": OPERATOR_CALLS_READ, "typed": {}, "error": None}


@routes.post(PREFIX + "/contacts/new")
@page
async def add_from_list(request: web.Request) -> web.StreamResponse:
    """The contacts page's "Add a contact" (the tenant admin): to the new contact's page, or
    the list again with the reason beside the form and what was typed kept in it (with a link
    to the contact that has the number)."""
    session = await require_builder(request)
    form = await form_of(request, session)
    try:
        contact = await add_contact(request, session, form)
    except ApiError as error:
        details = error.details if isinstance(error.details, dict) else {}
        context = await list_context(request, session)
        context["typed"] = {k: text(form, k) for k in ("name", "phone")}
        context["error"] = {"message": error.message, "contact_id": details.get("contact_id")}
        return render(request, "contacts.html", context, status=error.status)
    raise see_other(f"{PREFIX}/contacts/{contact.id}?created=1")
