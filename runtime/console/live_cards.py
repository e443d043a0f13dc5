"""The live page's call cards: what one card shows, read from the store as it is now.

A card is drawn on the server (templates/_call_card.html), both when the page loads and when a
notification or a colleague's "handled" arrives (the page then asks for that one card again),
so the page and its script never disagree about what a call looks like. It shows the call's
moment in words (runtime/console/words.py), its direction, duration, the operator's extension
and who answered (a call transferred to this operator rings on their card, saying from
whom, until they answer), the client's contact with their last calls, whether a missed call was
handled and by whom, and the actions the operator may take: call back, mark handled, create a
contact (only when no contact has the number: a second one would split the client's history).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from runtime.call_access import operator_extension
from runtime.console.filters import name_and_number
from runtime.console.words import call_status
from runtime.store import Store
from runtime.store.models import Call, CallNotified, Contact

# The client's earlier calls a card lists.
LAST_CALLS = 3
# How a card ranks among the states a call goes through, so a late answer never moves a card
# back (the page keeps the higher).
RANKS = {"ringing": 0, "talking": 1}
ENDED_RANK = 2


@dataclass(frozen=True, slots=True)
class Handled:
    at: datetime
    by: str | None  # the user's name; None: deleted since


@dataclass(frozen=True, slots=True)
class LiveCard:
    call: Call
    status: str  # words.call_status: ringing, talking, missed, answered, ...
    contact: Contact | None
    last_calls: tuple[Call, ...]  # the client's other calls, newest first
    extension: str  # the phone that answered; until then the operator's side of the call
    answered_by: str | None  # "name (number)", or the number when nobody was bound
    handled: Handled | None
    can_call_back: bool  # a client's phone number, and this user has an extension in the module
    region: str  # the module's phone region, for a new contact's number
    # The answered call was transferred to this user and rings at their phone (since then):
    # for them it is ringing, whoever is talking (contract §5, transfers).
    transfer: CallNotified | None = None

    @property
    def live(self) -> bool:
        """Still ringing or in progress: the card belongs to the top list."""
        return self.status in RANKS

    @property
    def rank(self) -> int:
        return RANKS.get(self.status, ENDED_RANK)

    @property
    def missed(self) -> bool:
        return self.status == "missed"

    @property
    def seconds(self) -> float | None:
        """The conversation's length once over: the record's duration, else from the events;
        none for a call nobody answered (a missed call's "0 s" would say nothing)."""
        call = self.call
        if self.status != "answered":
            return None
        if call.duration is not None:
            return call.duration
        if call.answered_at is not None and call.ended_at is not None:
            return max(0.0, (call.ended_at - call.answered_at).total_seconds())
        return None

    @property
    def ticking_since(self) -> datetime | None:
        """When the clock shown on a live card started: the answer, or the first ring."""
        if self.status == "talking":
            return self.call.answered_at or self.call.updated_at
        if self.status == "ringing":
            return self.transfer.created_at if self.transfer else self.call.created_at
        return None


class CardReader:
    """Builds cards for one operator. A page of cards costs a fixed number of reads however
    many calls it shows: the contacts, the clients' last calls, the handled marks and the
    users named are each read for all the cards at once; bindings and modules once per
    module."""

    def __init__(self, store: Store, tenant_id: str, user_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self.user_id = user_id
        self._extensions: dict[str, bool] = {}
        self._regions: dict[str, str] = {}

    async def cards(self, calls: Sequence[Call]) -> list[LiveCard]:
        store, tenant_id = self.store, self.tenant_id
        handled = await store.handled_calls(tenant_id, [c.id for c in calls])
        contacts = await self._contacts(calls)
        # The client's last calls, for the cards that show a contact.
        phones = [phone for call in calls if contacts.get(call.id) is not None
                  and (phone := call.client_phone_normalized) is not None]
        recent = (await store.recent_calls_by_phones(tenant_id, phones, LAST_CALLS + 1)
                  if phones else {})
        named = [c.answered_user_id for c in calls] + [m.user_id for m in handled.values()]
        user_ids = [u for u in named if u is not None]
        users = await store.get_users(tenant_id, user_ids) if user_ids else {}
        names = {user_id: user.name for user_id, user in users.items()}
        transfers = await self._transfers(calls)
        cards = []
        for call in calls:
            contact = contacts.get(call.id)
            mark = handled.get(call.id)
            transfer = transfers.get(call.id)
            last = (recent.get(call.client_phone_normalized, [])
                    if contact is not None and call.client_phone_normalized is not None
                    else [])
            cards.append(LiveCard(
                call=call, status="ringing" if transfer else call_status(call),
                contact=contact,
                last_calls=tuple([c for c in last if c.id != call.id][:LAST_CALLS]),
                extension=(transfer.phone if transfer
                           else call.answered_phone or operator_extension(call)),
                answered_by=_answered_by(call, names),
                handled=(Handled(mark.handled_at, names.get(mark.user_id or ""))
                         if mark is not None else None),
                can_call_back=(callable_back(call)
                               and await self._has_extension(call.module_id)),
                region=await self._region(call.module_id), transfer=transfer))
        return cards

    async def _transfers(self, calls: Sequence[Call]) -> dict[str, CallNotified]:
        """Call id -> its ring at this user, for the calls in progress that someone else
        answered and that rang for this user only after that: transferred to them, not
        answered by them yet. One read, and none when no call is talking at another's."""
        talking = [call for call in calls if call_status(call) == "talking"
                   and call.answered_at is not None and call.answered_user_id != self.user_id]
        if not talking:
            return {}
        rang = await self.store.rang_for(self.tenant_id, self.user_id, [c.id for c in talking])
        return {call.id: ring for call in talking if (ring := rang.get(call.id)) is not None
                and call.answered_at is not None and ring.created_at >= call.answered_at}

    async def card(self, call: Call) -> LiveCard:
        [card] = await self.cards([call])
        return card

    async def _contacts(self, calls: Sequence[Call]) -> dict[str, Contact]:
        """Call id -> its contact; failing that, the one that has the client's number now
        (made after the call, from another call or by a colleague). Two reads for all."""
        # (No read for an empty list: a card refreshed alone costs only what it needs.)
        ids = [c.contact_id for c in calls if c.contact_id is not None]
        by_id = await self.store.get_contacts(self.tenant_id, ids) if ids else {}
        found = {call.id: by_id[call.contact_id] for call in calls
                 if call.contact_id is not None and call.contact_id in by_id}
        phones = [phone for call in calls
                  if call.id not in found and (phone := call.client_phone_normalized) is not None]
        by_phone = (await self.store.first_contacts_by_phones(self.tenant_id, phones)
                    if phones else {})
        for call in calls:
            phone = call.client_phone_normalized
            if call.id not in found and phone is not None and phone in by_phone:
                found[call.id] = by_phone[phone]
        return found

    async def _has_extension(self, module_id: str) -> bool:
        if module_id not in self._extensions:
            bindings = await self.store.list_bindings(self.tenant_id, module_id) or []
            self._extensions[module_id] = any(b.user_id == self.user_id for b in bindings)
        return self._extensions[module_id]

    async def _region(self, module_id: str) -> str:
        if module_id not in self._regions:
            module = await self.store.get_module(self.tenant_id, module_id)
            self._regions[module_id] = module.region if module is not None else "RU"
        return self._regions[module_id]


def callable_back(call: Call) -> bool:
    """The call has a client number to call: not an internal call, nor a hidden caller id
    ("anonymous", which is no phone number: the provider would be asked to dial that)."""
    return call.client_phone is not None and call.client_phone_normalized is not None


def _answered_by(call: Call, names: dict[str, str]) -> str | None:
    """"name (number)", or the number when nobody was bound (or the user is deleted)."""
    if call.answered_phone is None:
        return None
    name = names.get(call.answered_user_id) if call.answered_user_id else None
    return name_and_number(name, call.answered_phone)


def split(cards: Iterable[LiveCard]) -> tuple[list[LiveCard], list[LiveCard]]:
    """(ringing and in progress, ended), each in the given order."""
    live: list[LiveCard] = []
    ended: list[LiveCard] = []
    for card in cards:
        (live if card.live else ended).append(card)
    return live, ended
