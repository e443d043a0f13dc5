"""A contact made, changed, merged or deleted: the live pages that show a recent call of one of
its numbers draw that call's card again, with the contact as it is now.

A card names the call's contact (or offers "Create contact"), and the live page draws a card
only when told the call changed. Without this, an operator's card kept the old name, a deleted
contact's link, or "Create contact" for a number a contact had been made for (in the console by
a colleague, or through the API by a CRM sync), and that form then ended on an error page
saying the contact exists. The message is `{"type": "call_changed", "call_id"}`
(docs/live.md), to every user each call rang for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from runtime.store.errors import StoreError

if TYPE_CHECKING:
    from runtime.hub import Hub
    from runtime.store import Store
    from runtime.store.models import Contact

# How many of a number's newest calls are drawn again: the ones a live page may be showing.
CALLS_REDRAWN = 20
# Numbers looked up in one read. A bulk import names up to 20,000 (1,000 contacts of 20
# numbers), and a read is a subquery a number: past a few hundred, one statement of thousands
# of parts and parameters (and a new statement text for every count).
NUMBERS_A_READ = 200


def numbers_of(*contacts: Contact | None) -> set[str]:
    """The E.164 numbers of `contacts` (a contact before and after a change: both)."""
    return {phone.normalized for contact in contacts if contact is not None
            for phone in contact.phones if phone.normalized}


async def redraw_calls_of(store: Store, hub: Hub, tenant_id: str, numbers: Iterable[str]
                          ) -> None:
    """Tell the users each recent call of `numbers` rang for to draw it again. Runs after the
    change is committed: a store that fails this read leaves those cards as they were (the
    next event of the call draws them) rather than answer the change itself with an error."""
    wanted = sorted(set(numbers))
    if not wanted:
        return
    told: dict[str, set[str]] = {}
    for start in range(0, len(wanted), NUMBERS_A_READ):
        try:
            calls = await store.recent_calls_by_phones(
                tenant_id, wanted[start:start + NUMBERS_A_READ], CALLS_REDRAWN)
            # Whom every one of those calls rang for, in one read (one per call was up to 400
            # statements for a contact of 20 numbers, on every change of it).
            found_told = await store.users_notified_of_calls(
                tenant_id, [c.id for found in calls.values() for c in found])
        except StoreError:
            return
        for call_id, users in found_told.items():
            told.setdefault(call_id, set()).update(users)
    for call_id, users in sorted(told.items()):
        for user_id in sorted(users):
            await hub.publish(user_id, {"type": "call_changed", "call_id": call_id})
