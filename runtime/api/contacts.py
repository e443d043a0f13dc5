"""Contacts of a tenant (the clients who call), their search by phone and activity streams.

Phones are kept as given and in E.164 (`+79161234567`), read in the request's region, so
`+7 916 123-45-67`, `79161234567` and `89161234567` (region RU) are one number. A phone that
is not a number in that region is refused: a contact no call could ever match helps nobody.

A number belongs to one contact: creating or editing a contact with a number another contact
has is a 409 `phone_taken` whose `details` name that contact (`contact_id`), so a client can
offer it instead; two contacts made before that rule are joined with merge. Deleting a contact
keeps its calls and activity, linked to no contact (what happened stays in the call list).
Editing is a tenant key's (the builder's); operators' user tokens only read calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from aiohttp import web
from pydantic import Field

from runtime.api.common import Body, found, page, read_body, read_json, reply
from runtime.auth import require_tenant
from runtime.contact_redraw import numbers_of, redraw_calls_of
from runtime.errors import ApiError, bad_request, not_found, unprocessable
from runtime.openapi import documented
from runtime.openapi.models import (
    ActivityList,
    BulkCreated,
    ContactList,
    ContactQuery,
    PageQuery,
)
from runtime.operations import contacts as operations
from runtime.operations.contacts import (
    BulkBody,
    ContactPatch,
    NewContactBody,
    bulk_contacts,
    contact_edit,
    new_contact,
)
from runtime.operations.module_fields import check_region
from runtime.operations.services import services
from runtime.phones import normalize_phone
from runtime.store.errors import PhoneTaken
from runtime.store.models import Contact
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()


class MergeBody(Body):
    contact_id: Annotated[str, Field(min_length=1, max_length=100, description=(
        "the other contact: merged into this one, then deleted"))]


PHONE_TAKEN_NOTE = ("`phone_taken`: a number belongs to another contact, whose id is "
                    "`details.contact_id` (`details.phone`: the number; `details.index`: the "
                    "item, in a bulk create). Or the tenant would have more than "
                    "tenant_limits.max_contacts contacts (`limit_reached`).")


@contextmanager
def phone_conflicts() -> Iterator[None]:
    """PhoneTaken as the API's 409, naming the contact that has the number."""
    try:
        yield
    except PhoneTaken as taken:
        details: dict[str, object] = {"contact_id": taken.contact_id, "phone": taken.phone}
        if taken.index is not None:
            details["index"] = taken.index
        raise ApiError(409, "phone_taken", str(taken), details=details) from None


def query_region(request: web.Request) -> str:
    try:
        return check_region(request.query.get("region", "RU"))
    except ValueError as error:
        raise bad_request(f"region: {error}") from None


@routes.post("/api/v1/contacts")
@documented("Create a contact", auth="tenant", body=NewContactBody, response=Contact,
            status=201, errors=[409], error_notes={409: PHONE_TAKEN_NOTE})
async def create_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    name, phones = new_contact(await read_json(request))
    with phone_conflicts():
        [contact] = await operations.create_contacts(services(request), auth.tenant_id,
                                                     [(name, phones)], indexed=False)
    await redraw(request, auth.tenant_id, numbers_of(contact))
    return reply(contact, status=201)


@routes.post("/api/v1/contacts/bulk")
@documented("Create many contacts", auth="tenant", body=BulkBody, response=BulkCreated,
            status=201, errors=[409],
            error_notes={409: PHONE_TAKEN_NOTE + " `conflict`: two items share a number."})
async def create_contacts(request: web.Request) -> web.Response:
    """All or nothing: one bad item refuses the batch, naming the item's index."""
    auth = await require_tenant(request)
    body = await read_body(request, BulkBody)
    items = await bulk_contacts(body.contacts, body.region)
    with phone_conflicts():
        contacts = await operations.create_contacts(services(request), auth.tenant_id, items)
    # A caller's card on a live page offered "Create contact" for a number imported here.
    await redraw(request, auth.tenant_id, numbers_of(*contacts))
    return reply({"created": len(contacts), "contacts": contacts}, status=201)


@routes.get("/api/v1/contacts")
@documented("List contacts, or find them by phone", auth="tenant", query=ContactQuery,
            response=ContactList)
async def list_contacts(request: web.Request) -> web.Response:
    """`?phone=` finds the contacts with that number (any spelling); else a page of all."""
    auth = await require_tenant(request)
    store = request.app[STORE]
    phone = request.query.get("phone")
    region = query_region(request)  # checked even when no phone is read in it
    if phone is None:
        limit, offset = page(request)
        return reply({"contacts": await store.list_contacts(auth.tenant_id, limit, offset)})
    normalized = normalize_phone(phone, region)
    if normalized is None:
        raise bad_request(f"phone: {phone!r} is not a phone number (read in region {region})")
    return reply({"contacts": await store.find_contacts_by_phone(auth.tenant_id, normalized)})


@routes.get("/api/v1/contacts/{contact_id}")
@documented("Read a contact", auth="tenant", response=Contact, errors=[404])
async def get_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    contact = await request.app[STORE].get_contact(
        auth.tenant_id, request.match_info["contact_id"]
    )
    return reply(found(contact, "contact"))


@routes.get("/api/v1/contacts/{contact_id}/activity")
@documented("A contact's activity stream", auth="tenant", query=PageQuery,
            response=ActivityList, errors=[404])
async def contact_activity(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    store = request.app[STORE]
    contact = found(
        await store.get_contact(auth.tenant_id, request.match_info["contact_id"]), "contact"
    )
    limit, offset = page(request)
    entries = await store.list_activity(auth.tenant_id, contact.id, limit, offset)
    return reply({"activity": entries})


@routes.patch("/api/v1/contacts/{contact_id}")
@documented("Edit a contact", auth="tenant", body=ContactPatch, response=Contact,
            errors=[404, 409], error_notes={409: PHONE_TAKEN_NOTE},
            description="A new name, and/or phones that replace the contact's (read in "
                        "`region`). A number the contact already had may stay even if an "
                        "older contact shares it; a number it did not have is refused when "
                        "another contact has it.")
async def update_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    name, phones = contact_edit(await read_json(request))
    store = request.app[STORE]
    before = await store.get_contact(auth.tenant_id, request.match_info["contact_id"])
    with phone_conflicts():
        contact = await store.update_contact(
            auth.tenant_id, request.match_info["contact_id"], name, phones)
    found(contact, "contact")
    await redraw(request, auth.tenant_id, numbers_of(before, contact))
    return reply(contact)


@routes.post("/api/v1/contacts/{contact_id}/merge")
@documented("Merge another contact into this one", auth="tenant", body=MergeBody,
            response=Contact, errors=[404],
            error_notes={404: "this contact or the other one (`contact_id`)."},
            description="The other contact's numbers are added to this one's (a number both "
                        "have, once), its activity and calls move to this one, and it is "
                        "deleted, all in one transaction. This contact keeps its name.")
async def merge_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, MergeBody)
    into_id = request.match_info["contact_id"]
    if body.contact_id == into_id:
        raise unprocessable("contact_id: a contact cannot be merged into itself",
                            details=[{"field": "contact_id",
                                      "message": "a contact cannot be merged into itself"}])
    store = request.app[STORE]
    merged = await store.merge_contacts(auth.tenant_id, into_id, body.contact_id)
    if merged is None and await store.get_contact(auth.tenant_id, into_id) is not None:
        # Which one is unknown: the path's contact exists, so it is the other.
        raise not_found(f"contact {body.contact_id} (contact_id)")
    await redraw(request, auth.tenant_id, numbers_of(found(merged, "contact")))
    return reply(merged)


@routes.delete("/api/v1/contacts/{contact_id}")
@documented("Delete a contact", auth="tenant", status=204, errors=[404],
            description="The contact and its numbers go. Its calls and activity stay, linked "
                        "to no contact: they still show in the call list, and a new contact "
                        "for the number does not take them over (merge does).")
async def delete_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    store = request.app[STORE]
    before = await store.get_contact(auth.tenant_id, request.match_info["contact_id"])
    deleted = await store.delete_contact(auth.tenant_id, request.match_info["contact_id"])
    found(deleted or None, "contact")
    await redraw(request, auth.tenant_id, numbers_of(before))
    return web.Response(status=204)


async def redraw(request: web.Request, tenant_id: str, numbers: set[str]) -> None:
    """The live cards of the numbers' recent calls show the contact as it is now
    (runtime/contact_redraw.py)."""
    await redraw_calls_of(request.app[STORE], request.app[HUB], tenant_id, numbers)
