"""Management writes that change or remove what a tenant has: contacts edited, merged and
deleted (one number, one contact), and a whole tenant deleted. `SqlTx` (tx.py) inherits these.

Contacts
    A phone number belongs to at most one contact of a tenant: creating, editing or merging
    refuses a number that another contact has (`PhoneTaken`, naming that contact), so a
    caller's history never splits between two. On PostgreSQL the numbers are locked first
    (the same `(tenant, number)` keys acting takes before it creates a contact for a missed
    call, locks.py), so two writes at once cannot both give a number out. Numbers without a
    normalized form (not a phone) are not compared. Contacts made before this rule may still
    share a number; editing one of them refuses to keep the shared number only when it is
    newly added, so old data can be tidied up by merging. Editing and merging lock the
    contacts' rows first (PostgreSQL). On PostgreSQL a webhook unit that read a contact just
    before a merge deleted it fails its write on the foreign key; it is run again like a
    deadlock (`postgres.CONTACT_REFERENCES`) and then reads the merged contact.

Tenants
    A tenant may own millions of executions and calls: deleting them in one transaction would
    hold the SQLite writer (every tenant's webhooks) for as long as that takes. So deletion
    runs in steps (`runtime/tenant_removal.py` drives them): first one unit closes the tenant
    (its API keys and user tokens revoked, its webhook tokens replaced: nothing new can
    arrive) and counts what it owns; then units of at most `limit` rows each; then the tenant
    row itself, with what remains by ON DELETE CASCADE. The closing unit marks the tenant
    (`deleting_at`): from then on reads and creates treat it as gone. A deletion that stopped
    half-way (the process ended, the storage failed) is finished by running it again, which
    a node does for every marked tenant when it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from runtime import ids
from runtime.store import tables as t
from runtime.store.errors import Conflict, PhoneTaken
from runtime.store.locks import Locks
from runtime.store.models import Contact, ContactPhone
from runtime.store.queries import Reads

# Numbers (or call ids) in one statement where a contact adopts its number's calls.
ADOPT_NUMBERS_A_READ = 500

# What a tenant owns, per kind, as the deletion's dry run reports it (and the order shown).
TENANT_KINDS: dict[str, str] = {
    "modules": "SELECT count(*) FROM modules WHERE tenant_id = $1",
    "versions": "SELECT count(*) FROM script_versions v JOIN modules m ON m.id = v.module_id "
                "WHERE m.tenant_id = $1",
    "storage_keys": "SELECT count(*) FROM storage s JOIN modules m ON m.id = s.module_id "
                    "WHERE m.tenant_id = $1",
    "bindings": "SELECT count(*) FROM bindings b JOIN modules m ON m.id = b.module_id "
                "WHERE m.tenant_id = $1",
    "calls": "SELECT count(*) FROM calls WHERE tenant_id = $1",
    "call_events": "SELECT count(*) FROM call_events e JOIN calls c ON c.id = e.call_id "
                   "WHERE c.tenant_id = $1",
    "contacts": "SELECT count(*) FROM contacts WHERE tenant_id = $1",
    "activity": "SELECT count(*) FROM activity WHERE tenant_id = $1",
    "notifications": "SELECT count(*) FROM notifications WHERE tenant_id = $1",
    "executions": "SELECT count(*) FROM executions WHERE tenant_id = $1",
    "users": "SELECT count(*) FROM users WHERE tenant_id = $1",
    "user_tokens": "SELECT count(*) FROM user_tokens k JOIN users u ON u.id = k.user_id "
                   "WHERE u.tenant_id = $1",
    "api_keys": "SELECT count(*) FROM api_keys WHERE tenant_id = $1",
}
_COUNTS_SQL = "SELECT " + ", ".join(f"({sql}) AS {kind}" for kind, sql in TENANT_KINDS.items())

# The deletion's batches, biggest tables first; each deletes at most $2 rows (what goes with
# a row by ON DELETE CASCADE goes too: a call's history, notifications and activity).
_BATCHES = (
    "DELETE FROM executions WHERE id IN "
    "(SELECT id FROM executions WHERE tenant_id = $1 LIMIT $2)",
    "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE tenant_id = $1 LIMIT $2)",
    "DELETE FROM contacts WHERE id IN (SELECT id FROM contacts WHERE tenant_id = $1 LIMIT $2)",
    "DELETE FROM storage WHERE (module_id, key) IN (SELECT s.module_id, s.key FROM storage s "
    "JOIN modules m ON m.id = s.module_id WHERE m.tenant_id = $1 LIMIT $2)",
    # Usage (store/retention.py): a row per module per ten minutes, kept for a year or so.
    "DELETE FROM usage_slots WHERE (module_id, slot) IN (SELECT module_id, slot FROM "
    "usage_slots WHERE tenant_id = $1 LIMIT $2)",
    "DELETE FROM usage_storage WHERE (module_id, day) IN (SELECT module_id, day FROM "
    "usage_storage WHERE tenant_id = $1 LIMIT $2)",
)

_MAX_MARKS = 400  # numbers compared in one statement


async def tenant_counts(reads: Reads, tenant_id: str) -> dict[str, int] | None:
    """What the tenant owns, per kind (TENANT_KINDS); None: no such tenant. A read: the
    Store runs it on a reader (reads.py), so counting millions of rows holds no writer."""
    if not await reads.tenant_exists(tenant_id):  # being deleted or not
        return None
    row = await reads._port.one(_COUNTS_SQL, [tenant_id])
    return {kind: int(row[kind]) for kind in TENANT_KINDS}


class ClosedTenant:
    """What the first step of a deletion found: the counts, and the credentials it ended."""

    __slots__ = ("counts", "key_ids", "module_ids", "user_ids")

    def __init__(self, counts: dict[str, int], user_ids: list[str], key_ids: list[str],
                 module_ids: list[str]) -> None:
        self.counts = counts
        self.user_ids = user_ids
        self.key_ids = key_ids
        self.module_ids = module_ids


class Editing(Reads):
    _locks: Locks
    _clock: Callable[[], datetime]

    # --- one number, one contact --------------------------------------------------------------

    async def phone_owners(self, tenant_id: str, numbers: Sequence[str],
                           exclude: Sequence[str] = ()) -> dict[str, str]:
        """Each of `numbers` (E.164) that a contact of the tenant has, but those in `exclude`,
        with the oldest such contact's id."""
        owners: dict[str, str] = {}
        unique = sorted(set(numbers))
        for start in range(0, len(unique), _MAX_MARKS):
            chunk = unique[start:start + _MAX_MARKS]
            args: list[object] = [tenant_id, *chunk]
            marks = ", ".join(f"${i + 2}" for i in range(len(chunk)))
            skip = ""
            if exclude:
                skip = " AND contact_id NOT IN ({})".format(", ".join(
                    f"${len(args) + i + 1}" for i in range(len(exclude))))
                args.extend(exclude)
            rows = await self._port.all(
                f"SELECT normalized, min(contact_id) AS contact_id FROM contact_phones "
                f"WHERE tenant_id = $1 AND normalized IN ({marks}){skip} GROUP BY normalized",
                args)
            owners.update({r["normalized"]: r["contact_id"] for r in rows})
        return owners

    async def claim_numbers(self, tenant_id: str,
                            contacts: Sequence[Sequence[ContactPhone]], *,
                            keep: Sequence[str] = (), indexed: bool = False) -> None:
        """Refuse (PhoneTaken) a number of the new `contacts` (each a list of phones) that a
        contact other than those in `keep` has, or (Conflict) that two of them would share;
        `indexed`: the error names the item. Locks the numbers first on PostgreSQL. One
        lookup for all of them, however many contacts."""
        owner_index: dict[str, int] = {}
        for index, phones in enumerate(contacts):
            for number in sorted({p.normalized for p in phones if p.normalized}):
                if number in owner_index:
                    raise Conflict(f"contacts.{owner_index[number]} and contacts.{index} "
                                   f"both have {number}; a number belongs to one contact")
                owner_index[number] = index
        if not owner_index:
            return
        await self._locks.contact_numbers(tenant_id, owner_index)
        taken = await self.phone_owners(tenant_id, list(owner_index), keep)
        for number, index in sorted(owner_index.items(), key=lambda item: item[1]):
            if number in taken:
                raise PhoneTaken(number, taken[number], index if indexed else None)

    async def adopt_calls(self, tenant_id: str, contacts: Sequence[Contact],
                          numbers: Sequence[str] | None = None) -> None:
        """Link the calls of `contacts`' numbers (or of `numbers` only) that no contact has
        (a caller no contact had when they called: an answered call, a hidden contact, one
        deleted since) to the contact that has the number now, with their activity entries.
        The console offers "Create contact" on exactly such a call's card; the new contact's
        page then listed none of the calls it was made from, nor any earlier one. Calls
        linked to another contact stay with it. Called with the numbers already locked
        (claim_numbers): acting cannot link a call to another contact meanwhile."""
        owner = {p.normalized: c.id for c in contacts for p in c.phones if p.normalized
                 and (numbers is None or p.normalized in numbers)}
        wanted = sorted(owner)
        adopted: dict[str, list[str]] = {}
        for start in range(0, len(wanted), ADOPT_NUMBERS_A_READ):
            chunk = wanted[start:start + ADOPT_NUMBERS_A_READ]
            marks = ", ".join(f"${i + 2}" for i in range(len(chunk)))
            rows = await self._port.all(
                f"SELECT id, client_phone_normalized FROM calls WHERE tenant_id = $1 "
                f"AND contact_id IS NULL AND client_phone_normalized IN ({marks})",
                [tenant_id, *chunk])
            for row in rows:
                adopted.setdefault(owner[str(row["client_phone_normalized"])], []).append(
                    str(row["id"]))
        for contact_id, call_ids in sorted(adopted.items()):
            for start in range(0, len(call_ids), ADOPT_NUMBERS_A_READ):
                chunk = call_ids[start:start + ADOPT_NUMBERS_A_READ]
                marks = ", ".join(f"${i + 3}" for i in range(len(chunk)))
                await self._port.run(
                    f"UPDATE calls SET contact_id = $1 WHERE tenant_id = $2 "
                    f"AND contact_id IS NULL AND id IN ({marks})", [contact_id, tenant_id, *chunk])
                await self._port.run(
                    f"UPDATE activity SET contact_id = $1 WHERE tenant_id = $2 "
                    f"AND contact_id IS NULL AND call_id IN ({marks})",
                    [contact_id, tenant_id, *chunk])

    async def _lock_contacts(self, tenant_id: str, *contact_ids: str) -> None:
        """PostgreSQL: hold the contacts' rows (in id order: no deadlock between two merges)
        so that none is edited, merged or deleted meanwhile; later reads see them as
        committed. SQLite: nothing (one writer)."""
        marks = ", ".join(f"${i + 2}" for i in range(len(contact_ids)))
        await self._port.all(f"SELECT id FROM contacts WHERE tenant_id = $1 AND id IN "
                             f"({marks}) ORDER BY id{{for_update}}",
                             [tenant_id, *contact_ids])

    async def _write_phones(self, contact: Contact) -> None:
        await self._port.run("DELETE FROM contact_phones WHERE contact_id = $1", [contact.id])
        if contact.phones:
            await self._port.many(t.CONTACT_PHONES_INSERT, t.phone_rows(contact))

    async def update_contact(self, tenant_id: str, contact_id: str, name: str | None,
                             phones: Sequence[ContactPhone] | None) -> Contact | None:
        """Change a contact's name and/or replace its phones; None: no such contact.

        A number it already had is kept even if another (older) contact shares it: the rule
        refuses new duplicates, it does not make old data uneditable."""
        await self._lock_contacts(tenant_id, contact_id)
        contact = await self.get_contact(tenant_id, contact_id)
        if contact is None:
            return None
        if phones is not None:
            had = {p.normalized for p in contact.phones if p.normalized}
            added = [p for p in phones if p.normalized and p.normalized not in had]
            await self.claim_numbers(tenant_id, [added], keep=[contact_id])
        updated = Contact(contact.id, tenant_id, contact.name if name is None else name,
                          contact.phones if phones is None else tuple(phones),
                          contact.created_at)
        if name is not None:
            await self._port.run("UPDATE contacts SET name = $1 WHERE id = $2",
                                 [name, contact_id])
        if phones is not None:
            await self._write_phones(updated)
            await self.adopt_calls(tenant_id, [updated], [p.normalized for p in added
                                                          if p.normalized])
        return updated

    async def merge_contacts(self, tenant_id: str, into_id: str, other_id: str
                             ) -> Contact | None:
        """Move `other` into `into`: its numbers joined (a number both have is kept once),
        its activity and calls re-pointed, then `other` deleted. None: either is unknown."""
        await self._lock_contacts(tenant_id, into_id, other_id)
        into = await self.get_contact(tenant_id, into_id)
        other = await self.get_contact(tenant_id, other_id)
        if into is None or other is None:
            return None
        have = {p.normalized or p.raw for p in into.phones}
        joined = list(into.phones)
        for phone in other.phones:
            if (phone.normalized or phone.raw) not in have:
                have.add(phone.normalized or phone.raw)
                joined.append(phone)
        # Numbers: the lock keeps acting from creating a contact for one of them meanwhile.
        await self._locks.contact_numbers(
            tenant_id, [p.normalized for p in joined if p.normalized])
        merged = Contact(into.id, tenant_id, into.name, tuple(joined), into.created_at)
        await self._port.run("UPDATE activity SET contact_id = $1 WHERE tenant_id = $2 "
                             "AND contact_id = $3", [into_id, tenant_id, other_id])
        await self._port.run("UPDATE calls SET contact_id = $1 WHERE tenant_id = $2 "
                             "AND contact_id = $3", [into_id, tenant_id, other_id])
        await self._port.run("DELETE FROM contacts WHERE id = $1 AND tenant_id = $2",
                             [other_id, tenant_id])
        await self._write_phones(merged)
        return merged

    async def delete_contact(self, tenant_id: str, contact_id: str) -> bool:
        """Delete a contact and its numbers. Its calls and activity stay, linked to no
        contact (ON DELETE SET NULL): the history of what happened is not the contact's."""
        return await self._port.run("DELETE FROM contacts WHERE id = $1 AND tenant_id = $2",
                                    [contact_id, tenant_id]) > 0

    # --- deleting a tenant --------------------------------------------------------------------

    async def tenant_counts(self, tenant_id: str) -> dict[str, int] | None:
        return await tenant_counts(self, tenant_id)

    async def close_tenant(self, tenant_id: str) -> ClosedTenant | None:
        """The deletion's first step: end every credential of the tenant (keys and user
        tokens revoked, webhook tokens replaced by ones nobody knows) and count what it owns.
        None: no such tenant."""
        counts = await self.tenant_counts(tenant_id)
        if counts is None:
            return None
        now = self._d.time_in(self._clock())
        key_ids = [r["id"] for r in await self._port.all(
            "SELECT id FROM api_keys WHERE tenant_id = $1 ORDER BY id", [tenant_id])]
        user_ids = [r["id"] for r in await self._port.all(
            "SELECT id FROM users WHERE tenant_id = $1 ORDER BY id", [tenant_id])]
        module_ids = [r["id"] for r in await self._port.all(
            "SELECT id FROM modules WHERE tenant_id = $1 ORDER BY id", [tenant_id])]
        # First: from this unit's commit on the tenant is hidden and refuses new keys, users
        # and modules, so a deletion cut short leaves nothing usable (and the next start
        # finds it). A resumed deletion keeps the first mark.
        await self._port.run("UPDATE tenants SET deleting_at = $1 WHERE id = $2 "
                             "AND deleting_at IS NULL", [now, tenant_id])
        await self._port.run("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 "
                             "AND revoked_at IS NULL", [now, tenant_id])
        await self._port.run("UPDATE user_tokens SET revoked_at = $1 WHERE revoked_at IS NULL "
                             "AND user_id IN (SELECT id FROM users WHERE tenant_id = $2)",
                             [now, tenant_id])
        if module_ids:
            await self._port.many("UPDATE modules SET webhook_token = $1 WHERE id = $2",
                                  [(ids.new_webhook_token(), m) for m in module_ids])
        return ClosedTenant(counts, user_ids, key_ids, module_ids)

    async def delete_tenant_batch(self, tenant_id: str, limit: int) -> int:
        """Delete at most `limit` rows of the tenant's biggest tables (and what cascades
        with them); 0 when only the rest is left for `finish_tenant`."""
        for sql in _BATCHES:
            deleted = await self._port.run(sql, [tenant_id, limit])
            if deleted:
                return deleted
        return 0

    async def finish_tenant(self, tenant_id: str) -> bool:
        """Delete the tenant row and what is left (modules first: their versions, storage and
        bindings go with them, before the users and keys that those might name)."""
        await self._port.run("DELETE FROM modules WHERE tenant_id = $1", [tenant_id])
        return await self._port.run("DELETE FROM tenants WHERE id = $1", [tenant_id]) > 0
