"""What a contact may hold, for the API and the console alike: the bodies that create and
edit one, and its phones read in a region. Both refuse the same values with the same words
and codes (a 422 `invalid` naming the field), so a builder sees one rule wherever they type.

A phone that is not a number in its region is refused: a contact no call could ever match
helps nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, ClassVar, Final

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from runtime.acting import contact_phones
from runtime.errors import ApiError
from runtime.json_body import Body, validated
from runtime.openapi.models import not_blank
from runtime.operations import caps
from runtime.operations.module_fields import Region
from runtime.operations.services import Services
from runtime.store.base import Tx
from runtime.store.models import Contact, ContactPhone

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

    # Its contacts, each a name and 20 numbers (22 values), and room to be told that more
    # are too many in pydantic's words.
    max_values: ClassVar[int] = 25_000


class ContactPatch(Body):
    """What changes; a field left out stays as it is. `phones` replaces the list."""

    # The rule below, in the document too: a client built from it must not send `{}` or only
    # `region` (pydantic cannot derive a model validator's rule into the schema).
    model_config = ConfigDict(json_schema_extra={
        "anyOf": [{"required": ["name"], "properties": {"name": {"type": "string"}}},
                  {"required": ["phones"], "properties": {"phones": {"type": "array"}}}]})

    name: Name | None = None
    phones: Phones | None = None
    region: Region = "RU"

    @model_validator(mode="after")
    def changes_something(self) -> ContactPatch:
        if self.name is None and self.phones is None:
            raise ValueError("give name, phones or both")
        return self


def phones_of(raws: Sequence[str], region: str, field: str) -> tuple[ContactPhone, ...]:
    """The phones read in `region`; a 422 naming each one that is not a number
    (`field.index`)."""
    phones = contact_phones(raws, region)
    problems = [{"field": f"{field}.{i}",
                 "message": f"{p.raw!r} is not a phone number (read in region {region})"}
                for i, p in enumerate(phones) if p.normalized is None]
    # The same number twice (as written, or spelled two ways) would be listed twice on the
    # contact's page, and every edit would have to remove it twice.
    first_at: dict[str, int] = {}
    for i, phone in enumerate(phones):
        if phone.normalized is None:
            continue
        first = first_at.setdefault(phone.normalized, i)
        if first != i:
            problems.append({"field": f"{field}.{i}",
                             "message": f"{phone.normalized} is {field}.{first} again: a "
                                        "contact lists a number once"})
    if problems:
        raise ApiError(422, "invalid", f"{problems[0]['field']}: {problems[0]['message']}",
                       details=problems)
    return phones


# A bulk's phones are read here, off the event loop: 1,000 contacts of 20 formatted numbers
# are 20,000 readings by the phone library (pure Python), over a second of CPU; in the loop
# they held every tenant's webhooks and pages that long, and a refused bulk costs the same and
# creates nothing, so a tenant could repeat it without end. One thread: bulks take their turn,
# and the loop gets the interpreter at least every switch interval meanwhile.
_BULK_PHONES: Final = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-phones")


async def bulk_contacts(items: Sequence[ContactItem], region: str
                        ) -> list[tuple[str, tuple[ContactPhone, ...]]]:
    """The items' names and phones read in `region` (422 as `phones_of`, naming the item)."""
    def read() -> list[tuple[str, tuple[ContactPhone, ...]]]:
        return [(item.name, phones_of(item.phones, region, f"contacts.{i}.phones"))
                for i, item in enumerate(items)]

    return await asyncio.get_running_loop().run_in_executor(_BULK_PHONES, read)


def new_contact(data: Any) -> tuple[str, tuple[ContactPhone, ...]]:
    """A new contact's name and phones from a body (the API's JSON, a console form)."""
    body = validated(NewContactBody, data)
    return body.name, phones_of(body.phones, body.region, "phones")


def contact_edit(data: Any) -> tuple[str | None, tuple[ContactPhone, ...] | None]:
    """An edit's new name and phones (None: unchanged) from a body."""
    body = validated(ContactPatch, data)
    phones = None if body.phones is None else phones_of(body.phones, body.region, "phones")
    return body.name, phones


async def create_contacts(services: Services, tenant_id: str,
                          contacts: Sequence[tuple[str, Sequence[ContactPhone]]], *,
                          indexed: bool = True) -> list[Contact]:
    """Create contacts from (name, phones), all or none (the API's one and bulk, the
    console's form). PhoneTaken / Conflict as `Tx.create_contacts` says; 409 `limit_reached`
    when the tenant would have more than tenant_limits.max_contacts."""
    limit = caps.limit_of(services, caps.CONTACTS)

    async def unit(tx: Tx) -> list[Contact]:
        await caps.require_room(tx, limit, caps.CONTACTS, tenant_id, adding=len(contacts))
        return await tx.create_contacts(tenant_id, contacts, indexed=indexed)

    return await services.store.write(unit)
