"""The locking hook of a unit's transaction: `Locks` does nothing (SQLite, where one writer
serialises every unit); `AdvisoryLocks` is PostgreSQL's, where units run at once on several
connections and several nodes.

`tx.py` calls the hook at the points where a concurrent unit could have made its read stale.
On PostgreSQL all locks are transaction-level advisory locks (`pg_advisory_xact_lock`,
released at COMMIT or ROLLBACK); once a lock is held, every later statement of the transaction
reads a fresh snapshot (READ COMMITTED), so it sees everything the previous holder committed.

- **Call keys.** Acting finds a call by its provider id, else by its numbers. Before the
  call's scene is read (`tx.call_scene`) the unit locks the keys it looks by, in this order:
  `(module, "numbers", direction/src/ext/dst/ext)`, then `(module, "id", callId)` when it has
  one; that statement is the unit's first, and BEGIN travels with it (postgres_port.py).
  Two units that could find (or fail to find, and then create) the same call always share a
  key: the same numbers, or the same callId. A call found by its numbers that carries a
  callId the unit did not give is also locked by that id (after the numbers, as every unit
  does), and the scene read again. So every unit touching a call holds one lock in common
  with every other: events of one call hitting two nodes at once end in one call (no lost
  update, no second call), an identical retry is seen as the repeat it is, and units of
  different calls never wait for each other, unless they share both numbers (two calls at
  once between the same two phones, which queue for a moment). (A lock per module, the
  simpler choice, made one module's units wait for each other: see bench/store_backends.py.)
- **Notification locks**, `(user)`, held to COMMIT from before the unit stores its first
  notification: a user's notifications are numbered (`seq`) in commit order, as on SQLite, so
  a client catching up "after" the last one it saw never misses one that was numbered before
  it but committed after it. An event's scene statement locks every user it may notify (the
  user at the operator's number, those already notified of the call, whom a NotifyEnd tells)
  at once, in byte order, so two units never wait for each other's users in a cycle;
  `notifying` locks anyone else before their notification, in the same order.
- **Module lock**, `(module)`: key-value storage writes and purges, which read and then write
  the module's usage totals.
- **Contacts.** A missed call from an unknown number creates a contact; the lookup that found
  none may be stale when a unit of another call (or module) of the same tenant creates one
  meanwhile. So before creating a contact for a number this transaction looked up and did not
  find, take the lock `(tenant, number)`, look again, and if one appeared raise `RetryUnit`:
  the store rolls back and runs the unit again, which then finds it. A call record that
  writes its call and activity entry with no contact for a number it did not find does the
  same (`still_no_contact`): else a call of the client ending while their missed call made
  the contact on another connection stayed linked to no contact, outside its stream.
- Lock order is call keys, then users, then cap, then contact, then module (acting's own order:
  event, record, storage), so these cannot wait on each other in a cycle in practice; should
  an odd script make one (an event and a record of different calls in one result, or a call
  found by its numbers whose callId must be locked after the scene took its users),
  PostgreSQL detects the deadlock and the store runs the unit again.
- **Cap locks**, `(kind, owner)`: a unit creating something capped (tenant_limits.max_*,
  runtime/operations/caps.py) takes it before it counts what the owner has (`tx.count_owned`)
  and holds it to COMMIT, so two creations at once cannot both pass a count that only one of
  them fits under. Contacts' is taken before the new contact's numbers are locked, by acting
  (after its call keys and users) and by the API alike. An upload takes its module's
  versions' then its tenant's source bytes' (`tx.count_owned("source_bytes")`, the quota
  tenant_limits.max_source_bytes), always in that order; no other unit takes the latter.
- **Retention lock**, `(retention)`, tried without waiting by each batch of the pruner and
  the usage roll-up (store/retention.py): one node does that work at a time.
- **Management writes** read the module `FOR UPDATE` (the dialect's `{for_update}`).
- **Backstops**: unique indexes on (module, provider call id) and on activity.call_id; a
  violation of those means a race the locks should have prevented, and the store retries the
  unit like a deadlock or a serialization failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from runtime.store.errors import StoreError
from runtime.store.models import Call, CallLookup, Contact

if TYPE_CHECKING:
    from runtime.store.postgres_port import PgPort

# Advisory lock namespaces (the first key of the two-key form): "Vo" and a number.
LOCK_MODULE = 0x566F0001
LOCK_CONTACT = 0x566F0002
LOCK_MIGRATIONS = 0x566F0003
LOCK_CALL = 0x566F0004
LOCK_NOTIFY = 0x566F0005
LOCK_RETENTION = 0x566F0006
LOCK_CAP = 0x566F0007
# Separates the parts of a lock key. Keys are hashed (hashtext) into the lock's second number:
# two keys that collide, or a callId holding the separator, only share a lock, which may cost
# a wait (or, twice over, a deadlock the store retries), never correctness.
SEP = "\x1f"

Numbers = tuple[str, str, str, str | None, str, str | None]  # module, direction, src, ext, ...


# Whom an event may notify (the operator's user; those notified of the call, whom a NotifyEnd
# tells), locked in the scene's own statement (`scene_column`), in one order for every unit
# (byte order, as Python's sorted() in `notifying`).
NOTIFY_SCENE_COLUMN = """(SELECT count(pg_advisory_xact_lock($12, hashtext(u))) FROM (
            SELECT u FROM (SELECT user_id AS u FROM bindings WHERE module_id = $1
                           AND member_id = $11
                           UNION SELECT user_id FROM call_notified
                           WHERE call_id = chosen.id AND user_id IS NOT NULL) us
            ORDER BY u COLLATE "C") ordered)"""


class RetryUnit(StoreError):
    """The unit read something that changed before it could act on it: run it again."""


def id_key(module_id: str, provider_call_id: str) -> str:
    return SEP.join((module_id, "id", provider_call_id))


def numbers_key(numbers: Numbers) -> str:
    module_id, direction, src, src_ext, dst, dst_ext = numbers
    # None and "" differ for extensions (matching is NULL-safe).
    return SEP.join((module_id, "numbers", direction, src, repr(src_ext), dst, repr(dst_ext)))


class Locks:
    """No locking: the SQLite writer runs one unit at a time."""

    active = False  # whether the hook does anything (callers may skip their bookkeeping)

    async def call_lookup(self, lookup: CallLookup) -> None:
        return None

    def scene_column(self, lookup: CallLookup) -> tuple[str | None, list[object]]:
        """A column the call's scene statement computes for the hook, and its arguments
        (numbered after the scene's own eleven)."""
        return None, []

    def scene_read(self, lookup: CallLookup, users: Iterable[str | None]) -> None:
        """The scene was read (with `scene_column`); `users` are whom the unit may notify."""
        self.may_notify(users)

    async def call_by_id(self, module_id: str, provider_call_id: str) -> None:
        return None

    async def call_by_numbers(self, numbers: Numbers) -> None:
        return None

    async def owned(self, found: Call | None,
                    lookup: Callable[[], Awaitable[Call | None]]) -> Call | None:
        return found

    def may_notify(self, user_ids: Iterable[str | None]) -> None:
        return None

    async def notifying(self, user_id: str) -> None:
        return None

    def contact_absent(self, tenant_id: str, normalized: str) -> None:
        return None

    async def creating_contact(self, contact: Contact) -> None:
        return None

    async def still_no_contact(self, tenant_id: str, normalized: str) -> None:
        """Before a unit writes a client's call without a contact: the number's contact may
        have been made meanwhile by another unit."""
        return None

    async def contact_numbers(self, tenant_id: str, numbers: Iterable[str]) -> None:
        """Numbers a management write is about to give a contact: held to COMMIT, so no
        other unit (an API write, or acting creating a contact for a missed call) gives one of
        them to another contact meanwhile."""
        return None

    async def module(self, module_id: str) -> None:
        return None

    async def cap(self, kind: str, owner_id: str) -> None:
        """Before counting what an owner has for its cap: held to COMMIT."""
        return None

    async def retention(self) -> bool:
        """Whether this unit may do a batch of retention work (SQLite: one node, always)."""
        return True


class AdvisoryLocks(Locks):
    """PostgreSQL's transaction-level advisory locks (see the module doc)."""

    active = True

    def __init__(self, port: PgPort) -> None:
        self._port: PgPort = port
        self._held: set[tuple[int, str]] = set()
        self._absent_numbers: set[tuple[str, str]] = set()
        self._may_notify: set[str] = set()

    async def _lock(self, space: int, key: str) -> None:
        await self._lock_all(space, [key])

    async def _lock_all(self, space: int, keys: list[str]) -> None:
        """Several locks in one statement, in the order given."""
        keys = [k for k in dict.fromkeys(keys) if (space, k) not in self._held]
        if not keys:
            return
        await self._port.lock(space, keys)  # the unit's first: with its BEGIN, one round trip
        self._held.update((space, k) for k in keys)

    async def call_lookup(self, lookup: CallLookup) -> None:
        # The numbers, then the callId: a unit finding the call by its numbers locks its id
        # after them too (`owned`), so every unit takes these two in the same order.
        keys = [numbers_key(lookup.numbers)]
        if lookup.provider_call_id is not None:
            keys.append(id_key(lookup.module_id, lookup.provider_call_id))
        await self._lock_all(LOCK_CALL, keys)

    def scene_column(self, lookup: CallLookup) -> tuple[str | None, list[object]]:
        if not lookup.notify:
            return None, []
        return NOTIFY_SCENE_COLUMN, [LOCK_NOTIFY]

    def scene_read(self, lookup: CallLookup, users: Iterable[str | None]) -> None:
        present = [u for u in users if u is not None]
        self.may_notify(present)
        if lookup.notify:
            self._held.update((LOCK_NOTIFY, u) for u in present)

    async def call_by_id(self, module_id: str, provider_call_id: str) -> None:
        await self._lock(LOCK_CALL, id_key(module_id, provider_call_id))

    async def call_by_numbers(self, numbers: Numbers) -> None:
        await self._lock(LOCK_CALL, numbers_key(numbers))

    async def owned(self, found: Call | None,
                    lookup: Callable[[], Awaitable[Call | None]]) -> Call | None:
        """The call found by numbers, once its callId (if any) is locked too: units that
        know that id lock only the id. Looked up again after a new lock (it may have moved)."""
        for _ in range(10):
            if found is None or found.provider_call_id is None:
                return found
            key = (LOCK_CALL, id_key(found.module_id, found.provider_call_id))
            if key in self._held:
                return found
            await self._lock(*key)
            found = await lookup()
        raise RetryUnit("the call kept changing while it was looked up")

    def may_notify(self, user_ids: Iterable[str | None]) -> None:
        self._may_notify.update(u for u in user_ids if u is not None)

    async def notifying(self, user_id: str) -> None:
        if (LOCK_NOTIFY, user_id) in self._held:
            return
        # Every user this unit may notify, at once and in id order (no deadlock).
        await self._lock_all(LOCK_NOTIFY, sorted({user_id, *self._may_notify}))

    def contact_absent(self, tenant_id: str, normalized: str) -> None:
        self._absent_numbers.add((tenant_id, normalized))

    async def creating_contact(self, contact: Contact) -> None:
        for phone in contact.phones:
            if phone.normalized is not None:
                await self.still_no_contact(contact.tenant_id, phone.normalized)

    async def still_no_contact(self, tenant_id: str, normalized: str) -> None:
        # A unit that writes a call without its client's contact races one that makes the
        # contact just as well as two that make it: the call would stay linked to nothing
        # (a contact the runtime makes adopts no call). The maker holds this lock to COMMIT.
        number = (tenant_id, normalized)
        if number in self._absent_numbers:
            await self._lock(LOCK_CONTACT, SEP.join(number))
            if await self._port.value("SELECT 1 FROM contact_phones WHERE tenant_id = $1 "
                                      "AND normalized = $2 LIMIT 1", number):
                raise RetryUnit(f"a contact with {normalized} appeared meanwhile")

    async def contact_numbers(self, tenant_id: str, numbers: Iterable[str]) -> None:
        # The same keys as `creating_contact`, in one order (sorted: no deadlock between two
        # writes taking several).
        await self._lock_all(LOCK_CONTACT, sorted({SEP.join((tenant_id, n)) for n in numbers}))

    async def module(self, module_id: str) -> None:
        await self._lock(LOCK_MODULE, module_id)

    async def cap(self, kind: str, owner_id: str) -> None:
        await self._lock(LOCK_CAP, SEP.join((kind, owner_id)))

    async def retention(self) -> bool:
        # Without waiting: the node that does not get it skips this batch (one prunes).
        taken = await self._port.value("SELECT pg_try_advisory_xact_lock($1, 0)",
                                       [LOCK_RETENTION])
        return bool(taken)
