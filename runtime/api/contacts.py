"""Contacts of a tenant (the clients who call), their search by phone and activity streams.

Phones are kept as given and in E.164 (`+79161234567`), read in the request's region, so
`+7 916 123-45-67`, `79161234567` and `89161234567` (region RU) are one number. A phone that
is not a number in that region is refused: a contact no call could ever match helps nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints

from runtime.acting import contact_phones
from runtime.api.common import Body, found, page, read_body, reply
from runtime.auth import require_tenant
from runtime.errors import ApiError, bad_request
from runtime.openapi import documented
from runtime.openapi.models import (
    ActivityList,
    BulkCreated,
    ContactList,
    ContactQuery,
    PageQuery,
    not_blank,
)
from runtime.operations.module_fields import Region, check_region
from runtime.phones import normalize_phone
from runtime.store.models import Contact, ContactPhone
from runtime.typedefs import STORE

routes = web.RouteTableDef()

MAX_BULK = 1000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 not_blank()]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                  not_blank()]
Phones = Annotated[list[Phone], Field(max_length=20)]


class ContactItem(Body):
    name: Name
    phones: Phones


class NewContactBody(ContactItem):
    region: Region = "RU"


class BulkBody(Body):
    contacts: Annotated[list[ContactItem], Field(min_length=1, max_length=MAX_BULK)]
    region: Region = "RU"


def phones_of(raws: Sequence[str], region: str, field: str) -> tuple[ContactPhone, ...]:
    phones = contact_phones(raws, region)
    bad = [(i, p.raw) for i, p in enumerate(phones) if p.normalized is None]
    if bad:
        problems = [{"field": f"{field}.{i}",
                     "message": f"{raw!r} is not a phone number (read in region {region})"}
                    for i, raw in bad]
        first = problems[0]
        raise ApiError(422, "invalid", f"{first['field']}: {first['message']}",
                       details=problems)
    return phones


def query_region(request: web.Request) -> str:
    try:
        return check_region(request.query.get("region", "RU"))
    except ValueError as error:
        raise bad_request(f"region: {error}") from None


@routes.post("/api/v1/contacts")
@documented("Create a contact", auth="tenant", body=NewContactBody, response=Contact,
            status=201)
async def create_contact(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    body = await read_body(request, NewContactBody)
    phones = phones_of(body.phones, body.region, "phones")
    contact = await request.app[STORE].create_contact(auth.tenant_id, body.name, phones)
    return reply(contact, status=201)


@routes.post("/api/v1/contacts/bulk")
@documented("Create many contacts", auth="tenant", body=BulkBody, response=BulkCreated,
            status=201)
async def create_contacts(request: web.Request) -> web.Response:
    """All or nothing: one bad item refuses the batch, naming the item's index."""
    auth = await require_tenant(request)
    body = await read_body(request, BulkBody)
    items = [(item.name, phones_of(item.phones, body.region, f"contacts.{i}.phones"))
             for i, item in enumerate(body.contacts)]
    contacts = await request.app[STORE].create_contacts(auth.tenant_id, items)
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
