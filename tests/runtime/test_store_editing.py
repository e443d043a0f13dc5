"""Editing and deleting on both backends: one number per contact, contacts edited, merged and
deleted, and a tenant deleted with everything it owns while another tenant keeps every row."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from runtime import ids
from runtime.hub import Credential, EndReason, Hub
from runtime.modules_cache import ModuleCache
from runtime.store import Conflict, NotFound, Store, Tx
from runtime.store.editing import TENANT_KINDS
from runtime.store.errors import PhoneTaken
from runtime.store.models import (
    ActivityEntry,
    CallEventRecord,
    CallNotified,
    Contact,
    ContactPhone,
    EventEffect,
    Execution,
    ExecutionOutcome,
    NewModule,
    Notification,
    NotificationKind,
    StorageLimits,
    Tenant,
)
from runtime.tenant_removal import TenantRemoval
from tests.runtime.conftest import Backend
from tests.runtime.test_store import T0, make_call

ID = re.compile(r"[a-z]+_[0-9a-z]{20,}")
OLGA = ContactPhone("+7 916 123-45-67", "+79161234567")
OLGA_HOME = ContactPhone("8 495 123-45-67", "+74951234567")
PETR = ContactPhone("8 903 123 45 67", "+79031234567")


@pytest.fixture
async def two_tenants(store: Store) -> tuple[Tenant, Tenant]:
    return await store.create_tenant("acme"), await store.create_tenant("globex")


# --- one number, one contact --------------------------------------------------------------------


async def test_a_number_belongs_to_one_contact(
    backend: Backend, store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    olga = await store.create_contact(acme.id, "Olga", [OLGA, ContactPhone("ext 5", None)])
    with pytest.raises(PhoneTaken) as refused:
        await store.create_contact(acme.id, "Olga again", [ContactPhone("89161234567",
                                                                        "+79161234567")])
    assert refused.value.contact_id == olga.id and refused.value.phone == "+79161234567"
    with pytest.raises(PhoneTaken) as refused:
        await store.create_contacts(acme.id, [("Petr", [PETR]), ("Olga 2", [OLGA])])
    assert (refused.value.contact_id, refused.value.index) == (olga.id, 1)
    with pytest.raises(Conflict, match=r"contacts\.0 and contacts\.1"):
        await store.create_contacts(acme.id, [("Petr", [PETR]), ("Petr 2", [PETR])])
    assert [c.id for c in await store.list_contacts(acme.id)] == [olga.id]  # all or nothing
    # Text that is not a number is not a number anybody owns; another tenant has its own.
    await store.create_contact(acme.id, "Desk", [ContactPhone("ext 5", None)])
    await store.create_contact(globex.id, "Olga", [OLGA])
    assert await backend.count("contacts") == 3


async def test_two_creates_of_one_number_at_once_make_one_contact(
    store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, _ = two_tenants
    results = await asyncio.gather(
        *(store.create_contact(acme.id, f"Olga {i}", [OLGA]) for i in range(4)),
        return_exceptions=True)
    made = [r for r in results if isinstance(r, Contact)]
    refused = [r for r in results if isinstance(r, PhoneTaken)]
    assert len(made) == 1 and len(refused) == 3, results
    assert {r.contact_id for r in refused} == {made[0].id}
    assert await store.find_contacts_by_phone(acme.id, "+79161234567") == made


# --- edit, merge, delete -------------------------------------------------------------------------


async def test_update_contact_name_and_phones(
    backend: Backend, store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    olga = await store.create_contact(acme.id, "Olga", [OLGA])
    petr = await store.create_contact(acme.id, "Petr", [PETR])
    renamed = await store.update_contact(acme.id, olga.id, "Olga K.", None)
    assert renamed is not None and renamed.name == "Olga K." and renamed.phones == (OLGA,)
    assert await store.get_contact(acme.id, olga.id) == renamed
    changed = await store.update_contact(acme.id, olga.id, None, [OLGA_HOME, OLGA])
    assert changed is not None and changed.phones == (OLGA_HOME, OLGA)
    assert await store.get_contact(acme.id, olga.id) == changed
    assert await store.find_contacts_by_phone(acme.id, "+74951234567") == [changed]
    with pytest.raises(PhoneTaken) as refused:
        await store.update_contact(acme.id, olga.id, "X", [OLGA, PETR])
    assert refused.value.contact_id == petr.id
    assert await store.get_contact(acme.id, olga.id) == changed  # nothing changed
    # Another tenant's id is unknown, and changes nothing.
    before = await backend.snapshot()
    assert await store.update_contact(globex.id, olga.id, "Mine", []) is None
    assert await backend.snapshot() == before
    # Dropping every number is allowed (a contact kept for its history).
    emptied = await store.update_contact(acme.id, olga.id, None, [])
    assert emptied is not None and emptied.phones == ()
    assert await store.find_contacts_by_phone(acme.id, "+79161234567") == []


async def test_a_number_two_old_contacts_share_may_stay(
    store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    """Data from before the rule: editing one of two contacts sharing a number keeps it."""
    acme, _ = two_tenants
    first = await store.create_contact(acme.id, "Olga", [OLGA])
    twin = Contact(ids.new_id(ids.CONTACT), acme.id, "Olga twin", (OLGA,), T0)
    await store.write(lambda tx: tx.insert_contact(twin))
    kept = await store.update_contact(acme.id, twin.id, "Olga (work)", [OLGA, PETR])
    assert kept is not None and kept.phones == (OLGA, PETR)
    assert {c.id for c in await store.find_contacts_by_phone(acme.id, "+79161234567")} == {
        first.id, twin.id}


async def _call_with_activity(store: Store, tenant_id: str, module_id: str,
                              contact_id: str | None, phone: str) -> tuple[str, str]:
    call = make_call(tenant_id, module_id, contact_id=contact_id, client_phone=phone,
                     client_phone_normalized=phone, provider_call_id=ids.new_id("p"))
    entry = ActivityEntry(ids.new_id(ids.ACTIVITY), tenant_id, contact_id, call.id,
                          {"client_phone": phone}, T0, T0)

    async def unit(tx: Tx) -> None:
        await tx.insert_call(call)
        await tx.insert_activity(entry)

    await store.write(unit)
    return call.id, entry.id


async def test_merge_repoints_calls_joins_activity_and_numbers(
    backend: Backend, store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    module = await store.create_module(acme.id, NewModule(name="m", region="RU"))
    olga = await store.create_contact(acme.id, "Olga", [OLGA])
    # The live page's old bug: a second contact for Olga's other number, with her later calls.
    dup = await store.create_contact(acme.id, "olga", [OLGA_HOME, ContactPhone("ext 5", None)])
    call_1, entry_1 = await _call_with_activity(store, acme.id, module.id, olga.id,
                                                "+79161234567")
    call_2, entry_2 = await _call_with_activity(store, acme.id, module.id, dup.id,
                                                "+74951234567")
    call_3, entry_3 = await _call_with_activity(store, acme.id, module.id, dup.id,
                                                "+74951234567")

    before = await backend.snapshot()
    assert await store.merge_contacts(globex.id, olga.id, dup.id) is None
    assert await store.merge_contacts(acme.id, olga.id, "con_unknown") is None
    assert await store.merge_contacts(acme.id, "con_unknown", dup.id) is None
    assert await backend.snapshot() == before

    merged = await store.merge_contacts(acme.id, olga.id, dup.id)
    assert merged is not None
    assert merged.name == "Olga" and merged.phones == (OLGA, OLGA_HOME,
                                                       ContactPhone("ext 5", None))
    assert await store.get_contact(acme.id, olga.id) == merged
    assert await store.get_contact(acme.id, dup.id) is None
    assert {e.id for e in await store.list_activity(acme.id, olga.id)} == {
        entry_1, entry_2, entry_3}
    assert await store.list_activity(acme.id, dup.id) == []
    for call_id in (call_1, call_2, call_3):
        call = await store.get_call(acme.id, call_id)
        assert call is not None and call.contact_id == olga.id
    assert await store.find_contacts_by_phone(acme.id, "+74951234567") == [merged]


async def test_deleting_a_contact_keeps_its_calls_and_activity_unlinked(
    backend: Backend, store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    module = await store.create_module(acme.id, NewModule(name="m", region="RU"))
    olga = await store.create_contact(acme.id, "Olga", [OLGA])
    call_id, entry_id = await _call_with_activity(store, acme.id, module.id, olga.id,
                                                  "+79161234567")
    assert not await store.delete_contact(globex.id, olga.id)
    assert await store.get_contact(acme.id, olga.id) == olga
    assert await store.delete_contact(acme.id, olga.id)
    assert not await store.delete_contact(acme.id, olga.id)
    assert await store.get_contact(acme.id, olga.id) is None
    call = await store.get_call(acme.id, call_id)
    assert call is not None and call.contact_id is None
    entry = await store.get_activity_for_call(acme.id, call_id)
    assert entry is not None and entry.id == entry_id and entry.contact_id is None
    assert await backend.count("contact_phones") == 0
    # The number is free again.
    assert (await store.create_contact(acme.id, "Olga", [OLGA])).id != olga.id


# --- deleting a tenant ---------------------------------------------------------------------------


async def populate(store: Store, tenant_id: str) -> dict[str, Any]:
    """One of everything a tenant can own (two calls, so batches have work to split)."""
    module = await store.create_module(tenant_id, NewModule(name="m", region="RU"))
    key, key_secret = await store.create_api_key(tenant_id)
    await store.add_version(tenant_id, module.id, "def f(): pass\n", created_by_key_id=key.id)
    await store.add_version(tenant_id, module.id, "def g(): pass\n")
    user = await store.create_user(tenant_id, "alice")
    issued = await store.create_user_token(tenant_id, user.id)
    assert issued is not None
    await store.set_bindings(tenant_id, module.id, {"101": user.id})
    contact = await store.create_contact(tenant_id, "Olga", [OLGA])
    await store.write(lambda tx: tx.storage_set(module.id, "k", {"v": 1}, expires_at=None,
                                                now=T0, limits=StorageLimits()))
    for n in range(2):
        call = make_call(tenant_id, module.id, contact_id=contact.id,
                         provider_call_id=f"p{n}", answered_user_id=user.id)

        async def unit(tx: Tx, call: Any = call) -> None:
            await tx.insert_call(call)
            await tx.insert_call_event(CallEventRecord(
                ids.new_id(ids.CALL_EVENT), call.id, "NotifyStart", "in", "79161234567", None,
                "101", None, {}, EventEffect.APPLIED, T0))
            await tx.insert_call_notified(CallNotified(call.id, "101", user.id,
                                                       NotificationKind.RINGING, T0))
            await tx.insert_notification(Notification(
                ids.new_id(ids.NOTIFICATION), tenant_id, user.id, call.id,
                NotificationKind.RINGING, {}, T0))
            await tx.insert_activity(ActivityEntry(ids.new_id(ids.ACTIVITY), tenant_id,
                                                   contact.id, call.id, {}, T0, T0))
            await tx.insert_execution(Execution(
                ids.new_id(ids.EXECUTION), tenant_id, module.id, None,
                "VoipParseWebhookRequest", ExecutionOutcome.OK, T0))

        await store.write(unit)
    return {"module": module, "key": key, "key_secret": key_secret, "user": user,
            "token": issued[0], "token_secret": issued[1]}


async def test_deleting_a_tenant_removes_what_it_counted_and_nothing_else(
    backend: Backend, store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    acme, globex = two_tenants
    gone = await populate(store, acme.id)
    await populate(store, globex.id)
    tables = await backend.tables()
    everything = await backend.snapshot()
    hub = Hub()
    socket = hub.subscribe(gone["user"].id, [Credential("user", gone["user"].id),
                                             Credential("user_token", gone["token"].id)])
    key_session = hub.subscribe(gone["user"].id, [Credential("api_key", gone["key"].id)])
    modules = ModuleCache(store)
    assert await modules.by_token(gone["module"].webhook_token) is not None
    removal = TenantRemoval(store, hub, modules, None, batch_rows=1)

    expected = {"modules": 1, "versions": 2, "storage_keys": 1, "bindings": 1, "calls": 2,
                "call_events": 2, "contacts": 1, "activity": 2, "notifications": 2,
                "executions": 2, "users": 1, "user_tokens": 1, "api_keys": 1}
    assert list(expected) == list(TENANT_KINDS)
    assert await removal.counts(acme.id) == expected
    assert await removal.counts("ten_unknown") is None
    assert await backend.snapshot() == everything  # the dry run changed nothing

    assert await removal.delete(acme.id) == expected
    assert await store.get_tenant(acme.id) is None
    assert await removal.delete(acme.id) is None
    after = await backend.snapshot()
    # Every row left is globex's, and every globex row is there, unchanged: acme's rows are
    # those naming acme, or naming (transitively) the id of such a row.
    owned = {acme.id}
    while True:
        grown = owned | {row[0] for rows in everything.values() for row in rows
                         if isinstance(row[0], str) and ID.fullmatch(row[0])
                         and any(str(v) in owned for v in row)}  # ids: "mod_...", ...
        if grown == owned:
            break
        owned = grown
    for table in tables:
        kept = [r for r in everything[table] if not any(str(v) in owned for v in r)]
        assert after[table] == kept, table
    assert len(after["calls"]) == 2 and len(after["executions"]) == 2
    # Its credentials and webhook no longer work; its sockets were told.
    assert await store.find_api_key(ids.hash_secret(gone["key_secret"])) is None
    assert await store.find_user_token(ids.hash_secret(gone["token_secret"])) is None
    assert await modules.by_token(gone["module"].webhook_token) is None
    assert socket.ended is EndReason.TENANT_DELETED
    assert key_session.ended is EndReason.TENANT_DELETED


async def test_a_deletion_cut_short_hides_the_tenant_until_a_start_finishes_it(
    store: Store, two_tenants: tuple[Tenant, Tenant]
) -> None:
    """Only the first unit of a deletion committed (the process stopped, the storage failed):
    the tenant must not stay listed and usable, half-deleted, until someone repeats the
    DELETE. It is hidden and refuses new work at once; a node that starts finishes it."""
    acme, globex = two_tenants
    await populate(store, acme.id)
    await populate(store, globex.id)
    assert await store.write(lambda tx: tx.close_tenant(acme.id)) is not None

    assert await store.get_tenant(acme.id) is None
    assert [t.id for t in await store.list_tenants()] == [globex.id]
    with pytest.raises(NotFound):
        await store.create_api_key(acme.id)
    with pytest.raises(NotFound):
        await store.create_module(acme.id, NewModule(name="late", region="RU"))
    with pytest.raises(NotFound):
        await store.create_user(acme.id, "late")
    # What it still owns is counted (a dry run, or a repeated DELETE, still finds it).
    counts = await store.tenant_counts(acme.id)
    assert counts is not None and counts["calls"] == 2 and counts["modules"] == 1
    assert await store.deleting_tenants() == [acme.id]

    removal = TenantRemoval(store, Hub(), ModuleCache(store), None, batch_rows=1)
    assert await removal.resume() == [acme.id]
    assert await store.tenant_counts(acme.id) is None
    assert await store.deleting_tenants() == []
    assert await removal.resume() == []
    assert [t.id for t in await store.list_tenants()] == [globex.id]
    assert (await store.tenant_counts(globex.id) or {}).get("calls") == 2


async def test_a_unit_that_wrote_a_merged_away_contact_is_run_again(
    pg_backend: Any,
) -> None:
    """A webhook unit that read a contact which a merge then deleted fails its write on a
    contact foreign key; PostgreSQL's store runs such a unit again (as after a deadlock) rather
    than failing the webhook. The rule names the constraints: they must exist as named."""
    import asyncpg

    from runtime.store import postgres

    await pg_backend.open()
    named = {row[0] for row in await pg_backend.query(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = $1 AND c.contype = 'f'", pg_backend.schema)}
    assert named >= postgres.CONTACT_REFERENCES

    def failed_on(constraint: str, kind: type[asyncpg.PostgresError]) -> Exception:
        cause = kind(f"violates {constraint}")
        cause.constraint_name = constraint  # type: ignore[attr-defined]
        error = Exception("unit failed")
        error.__cause__ = cause
        return error

    for constraint in postgres.CONTACT_REFERENCES:
        assert postgres._retryable(failed_on(constraint, asyncpg.ForeignKeyViolationError))
    # Any other broken reference is a bug, not a race: it fails at once.
    assert not postgres._retryable(failed_on("calls_module_id_fkey",
                                             asyncpg.ForeignKeyViolationError))
