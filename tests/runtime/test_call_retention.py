"""Calls' retention (retention.calls_days), on both backends: off by default, so no call goes;
set, a call created and last changed longer ago goes with its history events, whom it rang,
its notifications and its activity entry, in every tenant, while a call that is old but
changed since, a recent call and the contacts stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime import ids
from runtime.retention import Pruner
from runtime.store import Store, Tx
from runtime.store.models import (
    ActivityEntry,
    Call,
    CallEventRecord,
    CallState,
    ContactPhone,
    EventEffect,
    Notification,
    NotificationKind,
)
from tests.runtime.conftest import Backend
from tests.runtime.test_retention import NOW, config, tenant_with_module
from tests.runtime.test_store import make_call

KINDS = ("calls", "call_events", "notifications", "activity", "contacts")


async def a_call_with_history(store: Store, tenant_id: str, module_id: str, user_id: str,
                              contact_id: str, created: datetime, changed: datetime) -> Call:
    call = make_call(tenant_id, module_id, created_at=created, updated_at=changed,
                     contact_id=contact_id, provider_call_id=ids.new_id(ids.CALL),
                     state=CallState.ENDED, ended_at=changed)

    async def unit(tx: Tx) -> None:
        await tx.insert_call(call)
        for at in (created, changed):
            await tx.insert_call_event(CallEventRecord(
                ids.new_id(ids.CALL_EVENT), call.id, "NotifyStart", "in", "79161234567", None,
                "101", None, {"n": 1}, EventEffect.APPLIED, at))
        await tx.insert_notification(Notification(
            ids.new_id(ids.NOTIFICATION), tenant_id, user_id, call.id, NotificationKind.RINGING,
            {"call": call.id}, changed))
        await tx.insert_activity(ActivityEntry(ids.new_id(ids.ACTIVITY), tenant_id, contact_id,
                                               call.id, {"c": 1}, created, changed))

    await store.write(unit)
    return call


async def test_calls_go_after_their_period_with_their_history_and_only_then(
    store: Store, backend: Backend,
) -> None:
    calls: dict[str, Call] = {}
    tenants = []
    for name in ("acme", "globex"):
        tenant, module = await tenant_with_module(store, name)
        tenants.append(tenant.id)
        user = await store.create_user(tenant.id, "alice")
        contact = await store.create_contact(tenant.id, "Bob", [ContactPhone("+79161234567",
                                                                              "+79161234567")])
        for label, created, changed in (
                ("old", NOW - timedelta(days=800), NOW - timedelta(days=799)),
                ("old, changed since", NOW - timedelta(days=800), NOW - timedelta(days=3)),
                ("recent", NOW - timedelta(days=5), NOW - timedelta(days=5))):
            calls[f"{name} {label}"] = await a_call_with_history(
                store, tenant.id, module.id, user.id, contact.id, created, changed)

    async def counts() -> dict[str, int]:
        return {kind: await backend.count(kind) for kind in KINDS}

    # History kept long, so that what goes below goes with its call.
    long = {"call_events_days": 3650, "notifications_days": 3650}
    before = await counts()
    # Off by default: a call stays whatever its age.
    assert (await Pruner(store, config(**long), clock=lambda: NOW).run_pass()).deleted == {}
    assert await counts() == before

    report = await Pruner(store, config(**long, calls_days=730, batch_rows=10),
                          clock=lambda: NOW).run_pass()

    assert report.deleted == {"calls": 2}
    for tenant_id, name in zip(tenants, ("acme", "globex"), strict=True):
        assert await store.get_call(tenant_id, calls[f"{name} old"].id) is None
        assert await store.list_call_events(tenant_id, calls[f"{name} old"].id) == []
        for label in ("old, changed since", "recent"):
            kept = calls[f"{name} {label}"]
            assert await store.get_call(tenant_id, kept.id) is not None
            assert len(await store.list_call_events(tenant_id, kept.id)) == 2
    # Each old call took its two events, its notification and its activity entry along;
    # the contacts stay.
    assert await counts() == {**before, "calls": 4, "call_events": before["call_events"] - 4,
                              "notifications": before["notifications"] - 2,
                              "activity": before["activity"] - 2}
    assert (await Pruner(store, config(**long, calls_days=730), clock=lambda: NOW)
            .run_pass()).deleted == {}


async def test_a_pass_costs_no_unit_per_tenant_without_calls_to_prune(store: Store) -> None:
    """With calls_days set, a pass took a write unit for every tenant, finding nothing in
    most: tenants pile up over months. Only the tenants with calls old enough are visited."""
    for n in range(30):
        await tenant_with_module(store, f"quiet {n}")
    tenant, module = await tenant_with_module(store, "acme")
    user = await store.create_user(tenant.id, "alice")
    contact = await store.create_contact(tenant.id, "Bob", [ContactPhone("+79161234567",
                                                                          "+79161234567")])
    old = await a_call_with_history(store, tenant.id, module.id, user.id, contact.id,
                                    NOW - timedelta(days=800), NOW - timedelta(days=799))
    pruner = Pruner(store, config(calls_days=730), clock=lambda: NOW)

    report = await pruner.run_pass()

    assert report.deleted.get("calls") == 1
    assert await store.get_call(tenant.id, old.id) is None
    assert report.batches < 25, report
