"""The contact page's changes (the tenant admin, as through the API with the tenant key):
edit the name and numbers, merge another contact into this one, delete it after a
confirmation. Operators only read contacts (and create one for a caller: operator_views.py).

A refusal shows the contact page again with the reason beside the form (and, for a number
another contact has, a link to that contact); nothing is changed then.
"""

from __future__ import annotations

from aiohttp import web

from runtime.console.deletion import Deletion, confirmation, refusal
from runtime.console.modules_views import text
from runtime.console.operator_views import contact_context
from runtime.console.regions import tenant_region
from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    form_of,
    page,
    render,
    require_builder,
    see_other,
    store_errors,
)
from runtime.contact_redraw import numbers_of, redraw_calls_of
from runtime.errors import ApiError, found
from runtime.operations.contacts import contact_edit
from runtime.phones import normalize_phone
from runtime.store.errors import PhoneTaken
from runtime.store.models import Contact, ContactPhone
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()

COUNTED_CALLS = 500


async def refused(request: web.Request, contact: Contact, form: str, message: str, *,
                  link: str | None = None, status: int = 422,
                  typed: dict[str, str] | None = None) -> web.Response:
    """The contact page again, `message` beside the form named `form`, which keeps what was
    typed into it (`typed`)."""
    session = await require_builder(request)
    context = await contact_context(request, session, contact)
    context["errors"] = {form: message, f"{form}_link": link, "typed": typed or {}}
    return render(request, "contact.html", context, status=status)


# The edit form's numbers as its page showed them (E.164, space-separated): the form's
# textarea replaces those; a number the contact gained after the page was drawn (a merge, the
# API, a colleague's edit) is in no line of it, and saving the name deleted it without a word.
SHOWN_PHONES = "shown_phones"


def unshown_phones(contact: Contact, shown: str, typed: tuple[ContactPhone, ...]
                   ) -> tuple[ContactPhone, ...]:
    """The contact's numbers the form did not show (nor has typed again): kept as they are."""
    seen = set(shown.split()) | {p.normalized for p in typed}
    return tuple(p for p in contact.phones if (p.normalized or p.raw) not in seen)


@routes.post(PREFIX + "/contacts/{contact_id}/edit")
@page
async def edit_contact(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    store = request.app[STORE]
    contact: Contact = found(await store.get_contact(
        session.tenant_id, request.match_info["contact_id"]), "contact")
    form = await form_of(request, session)
    typed = {k: text(form, k) for k in ("name", "phones", "region")}
    if SHOWN_PHONES in form:  # (given back with a refusal: still what the page showed)
        typed[SHOWN_PHONES] = text(form, SHOWN_PHONES)

    async def refuse(message: str, *, link: str | None = None, status: int = 422
                     ) -> web.Response:
        return await refused(request, contact, "edit", message, typed=typed, link=link,
                             status=status)

    # The API's own rules (runtime/operations/contacts.py): a number a line.
    try:
        name, phones = contact_edit({
            "name": typed["name"],
            "phones": [line for line in typed["phones"].splitlines() if line.strip()],
            "region": typed["region"].strip() or await tenant_region(request, session)})
    except ApiError as error:
        return await refuse(error.message, status=error.status)
    if phones is not None and SHOWN_PHONES in form:
        phones = phones + unshown_phones(contact, text(form, SHOWN_PHONES), phones)
    with store_errors():
        try:
            updated = await store.update_contact(session.tenant_id, contact.id, name, phones)
        except PhoneTaken as taken:
            return await refuse(f"{taken.phone} belongs to another contact; nothing was "
                                "changed. Merge that contact into this one to join them.",
                                link=f"{PREFIX}/contacts/{taken.contact_id}", status=409)
    await redraw(request, session, numbers_of(contact, found(updated, "contact")))
    raise see_other(f"{PREFIX}/contacts/{contact.id}?done=edited")


@routes.post(PREFIX + "/contacts/{contact_id}/merge")
@page
async def merge_contact(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    store = request.app[STORE]
    contact: Contact = found(await store.get_contact(
        session.tenant_id, request.match_info["contact_id"]), "contact")
    form = await form_of(request, session)
    other_id = text(form, "other").strip()
    phone = text(form, "other_phone").strip()
    if not other_id and phone:
        # A number typed instead of a contact chosen from the search: its (oldest) contact.
        number = normalize_phone(phone, await tenant_region(request, session))
        if number is None:
            return await refused(request, contact, "merge",
                                 f"{phone!r} is not a phone number; nothing was changed.")
        others = [c for c in await store.find_contacts_by_phone(session.tenant_id, number)
                  if c.id != contact.id]
        if not others:
            return await refused(request, contact, "merge",
                                 f"No other contact has the number {number}; nothing was "
                                 "changed.", status=404)
        other_id = others[0].id
    if not other_id or other_id == contact.id:
        return await refused(request, contact, "merge", "Choose another contact to merge.")
    with store_errors():
        merged = await store.merge_contacts(session.tenant_id, contact.id, other_id)
    if merged is None:
        return await refused(request, contact, "merge", "That contact does not exist (any "
                                                        "more); nothing was changed.",
                             status=404)
    await redraw(request, session, numbers_of(merged))
    raise see_other(f"{PREFIX}/contacts/{contact.id}?done=merged")


@routes.get(PREFIX + "/contacts/{contact_id}/delete")
@page
async def confirm_delete(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    contact: Contact = found(await request.app[STORE].get_contact(
        session.tenant_id, request.match_info["contact_id"]), "contact")
    return confirmation(request, await deletion_of(request, session, contact))


async def deletion_of(request: web.Request, session: Session, contact: Contact) -> Deletion:
    # Counted up to COUNTED_CALLS: past it, "more than" that (a read of them all to count).
    found = len(await request.app[STORE].list_activity(session.tenant_id, contact.id,
                                                       COUNTED_CALLS + 1, 0))
    calls = f"more than {COUNTED_CALLS}" if found > COUNTED_CALLS else str(found)
    numbers = ", ".join(p.raw for p in contact.phones) or "none"
    return Deletion("contact", contact.name, f"{PREFIX}/contacts/{contact.id}/delete",
                    f"{PREFIX}/contacts/{contact.id}", [
        f"the contact and its numbers ({numbers}) go; a new contact may have them;",
        f"its calls ({calls}) and their activity stay in the call list, linked to no "
        "contact (merging, not deleting, keeps them together).",
    ])


@routes.post(PREFIX + "/contacts/{contact_id}/delete")
@page
async def delete_contact(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    store = request.app[STORE]
    contact: Contact = found(await store.get_contact(
        session.tenant_id, request.match_info["contact_id"]), "contact")
    deletion = await deletion_of(request, session, contact)
    if (refused := await refusal(request, session, deletion)) is not None:
        return refused
    with store_errors():
        found(await store.delete_contact(session.tenant_id, contact.id) or None, "contact")
    await redraw(request, session, numbers_of(contact))
    return render(request, "contact_deleted.html", {"contact": contact})


async def redraw(request: web.Request, session: Session, numbers: set[str]) -> None:
    """The live cards of the numbers' recent calls show the contact as it is now
    (runtime/contact_redraw.py)."""
    await redraw_calls_of(request.app[STORE], request.app[HUB], session.tenant_id, numbers)
