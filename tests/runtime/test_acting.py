"""Contract §5: what the runtime does with an event, a call record and storage writes.

On both backends (tests/runtime/conftest.py), and under concurrency: several stores on one
database, as several nodes would be, applying events of the same call at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runtime.acting import RECENT_END, RING_OVER, ActContext, Effects, act, contact_phones
from runtime.capabilities import StorageWrite
from runtime.contract import ParseResult, WebhookEvent
from runtime.store import StorageLimitExceeded, Store
from runtime.store.models import (
    CallFilter,
    CallState,
    ContactPhone,
    EventEffect,
    Module,
    NewModule,
    NotificationKind,
    StorageLimits,
    Tenant,
    User,
    to_json,
)
from tests.runtime.conftest import Backend

T0 = datetime(2025, 3, 4, 10, 15, 2, tzinfo=UTC)
CLIENT = "79161234567"
CLIENT_E164 = "+79161234567"
COMPANY = "74951112233"


@dataclass
class World:
    store: Store
    backend: Backend
    tenant: Tenant
    module: Module
    alice: User  # bound to 101
    bob: User  # bound to 102
    carol: User  # bound to 103
    clock: list[datetime]

    def ctx(self, **changes: Any) -> ActContext:
        self.clock[0] += timedelta(seconds=1)
        base: dict[str, Any] = {
            "tenant_id": self.tenant.id, "module_id": self.module.id, "region": "RU",
            "execution_id": "exe_test", "now": self.clock[0],
        }
        return ActContext(**{**base, **changes})

    async def run(self, result: dict[str, Any], *, store: Store | None = None, **ctx: Any
                  ) -> Effects:
        parsed = ParseResult.model_validate(result)
        context = self.ctx(**ctx)
        return await (store or self.store).write(lambda tx: act(tx, context, parsed))

    async def dry(self, result: dict[str, Any], **ctx: Any) -> Effects:
        parsed = ParseResult.model_validate(result)
        context = self.ctx(**ctx)
        return await self.store.dry_run(lambda tx: act(tx, context, parsed))

    async def snapshot(self, *, skip: tuple[str, ...] = ("call_events",)
                       ) -> dict[str, list[Any]]:
        """Every row of every table (but the history), to prove that nothing changed."""
        return await self.backend.snapshot(skip=skip)


@pytest.fixture
async def world(backend: Backend) -> AsyncIterator[World]:
    store = await backend.open(commit_window=0)
    tenant = await store.create_tenant("acme")
    module = await store.create_module(tenant.id, NewModule(name="pbx", region="RU"))
    alice = await store.create_user(tenant.id, "alice")
    bob = await store.create_user(tenant.id, "bob")
    carol = await store.create_user(tenant.id, "carol")
    await store.set_bindings(tenant.id, module.id,
                             {"101": alice.id, "102": bob.id, "103": carol.id})
    yield World(store, backend, tenant, module, alice, bob, carol, [T0])


def event(kind: str, direction: str = "in", src: str = CLIENT, dst: str = "101",
          disposition: str = "unknown", call_id: str | None = "c1", **more: Any
          ) -> dict[str, Any]:
    body = {"event": WebhookEvent[kind], "direction": direction, "disposition": disposition,
            "srcPhone": src, "dstPhone": dst, **more}
    if call_id is not None:
        body["callId"] = call_id
    return {"event": body}


def record(direction: str = "in", src: str = CLIENT, dst: str = "101",
           disposition: str = "answered", duration: float = 74, call: Any = None,
           call_id: str | None = "c1") -> dict[str, Any]:
    body = {"direction": direction, "disposition": disposition, "srcPhone": src,
            "dstPhone": dst, "duration": duration, "call": call}
    if call_id is not None:
        body["callId"] = call_id
    return {"callRecord": body}


def told(effects: Effects) -> list[tuple[str, str]]:
    return [(n.user_id, n.kind.value) for n in effects.pushes]


# --- the event table, incoming ----------------------------------------------------------------


async def test_notify_start_creates_a_ringing_call_and_notifies_the_bound_user(
    world: World,
) -> None:
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones(["+7 916 123-45-67"], "RU"))
    fx = await world.run(event("NotifyStart"))
    assert fx.call is not None and fx.call.created and fx.call.state_after is CallState.RINGING
    assert told(fx) == [(world.alice.id, "ringing")]
    [n] = fx.pushes
    assert n.payload["call"]["id"] == fx.call.id and n.payload["call"]["state"] == "ringing"
    assert n.payload["contact"]["id"] == ivan.id and n.payload["event"] == "notify_start"
    call = await world.store.get_call(world.tenant.id, fx.call.id)
    assert call is not None and call.contact_id == ivan.id
    assert (call.client_phone, call.client_phone_normalized) == (CLIENT, CLIENT_E164)
    assert await world.store.list_notifications(world.tenant.id, world.alice.id) == [n]


async def test_a_new_call_and_its_history_keep_every_field_of_the_event(world: World) -> None:
    # Every field of the call and of its history row, extensions included (acting builds
    # both records positionally).
    fx = await world.run(event("NotifyAnswer", dst="102", disposition="answered",
                               srcPhoneExt="7", dstPhoneExt="55"))
    assert fx.call is not None and fx.call.created
    now = world.clock[0]
    call = await world.store.get_call(world.tenant.id, fx.call.id)
    assert call is not None
    assert to_json(call) == {
        "id": fx.call.id, "tenant_id": world.tenant.id, "module_id": world.module.id,
        "provider_call_id": "c1", "direction": "in", "state": "answered",
        "disposition": "answered", "src_phone": CLIENT, "src_phone_ext": "7",
        "dst_phone": "102", "dst_phone_ext": "55", "client_phone": CLIENT,
        "client_phone_normalized": CLIENT_E164, "contact_id": None, "duration": None,
        "record_call": None, "has_record": False, "created_at": to_json(now),
        "updated_at": to_json(now), "answered_at": to_json(now), "ended_at": None,
        "answered_phone": "102", "answered_user_id": world.bob.id}
    [row] = await world.store.list_call_events(world.tenant.id, call.id)
    assert to_json(row) == {
        "id": row.id, "call_id": call.id, "kind": "notify_answer", "direction": "in",
        "src_phone": CLIENT, "src_phone_ext": "7", "dst_phone": "102", "dst_phone_ext": "55",
        "payload": event("NotifyAnswer", dst="102", disposition="answered",
                         srcPhoneExt="7", dstPhoneExt="55")["event"],
        "effect": "applied", "received_at": to_json(now), "execution_id": "exe_test"}
    # Found again by its numbers, extensions included, when an event has no callId.
    fx = await world.run(event("NotifyEnd", dst="102", disposition="answered", call_id=None,
                               srcPhoneExt="7", dstPhoneExt="55"))
    assert fx.call is not None and not fx.call.created and fx.call.id == call.id
    fx = await world.run(event("NotifyEnd", dst="102", disposition="answered", call_id=None,
                               srcPhoneExt="55", dstPhoneExt="7"))
    assert fx.call is not None and fx.call.created


async def test_notify_start_at_an_unbound_number_notifies_nobody(world: World) -> None:
    fx = await world.run(event("NotifyStart", dst=COMPANY))
    assert fx.call is not None and fx.call.created and fx.pushes == ()
    # ... and then the call is routed to operators' phones, one NotifyInternal each.
    fx = await world.run(event("NotifyInternal", dst="102"))
    assert told(fx) == [(world.bob.id, "ringing")]
    fx = await world.run(event("NotifyInternal", dst="103"))
    assert told(fx) == [(world.carol.id, "ringing")] and not fx.call.repeat  # type: ignore[union-attr]
    fx = await world.run(event("NotifyInternal", dst="102"))
    assert fx.call is not None and fx.call.repeat and fx.pushes == ()


async def test_notify_internal_at_the_phone_already_rung_is_not_a_repeat_but_no_second_popup(
    world: World,
) -> None:
    await world.run(event("NotifyStart", dst="101"))
    fx = await world.run(event("NotifyInternal", dst="101"))
    assert fx.call is not None and not fx.call.repeat and not fx.call.late
    assert fx.pushes == ()


async def test_answer_then_end_notify_per_the_table(world: World) -> None:
    await world.run(event("NotifyStart", dst=COMPANY))
    await world.run(event("NotifyInternal", dst="101"))
    await world.run(event("NotifyInternal", dst="102"))
    fx = await world.run(event("NotifyAnswer", dst="102"))
    assert fx.call is not None and fx.call.state_after is CallState.ANSWERED
    assert told(fx) == [(world.bob.id, "answered")]
    fx = await world.run(event("NotifyEnd", dst="102", disposition="answered"))
    assert fx.call is not None and fx.call.state_after is CallState.ENDED
    assert sorted(told(fx)) == sorted([(world.alice.id, "ended"), (world.bob.id, "ended")])
    call = await world.store.get_call(world.tenant.id, fx.call.id)
    assert call is not None and call.disposition == "answered"
    assert call.answered_at is not None and call.ended_at is not None
    events = await world.store.list_call_events(world.tenant.id, call.id)
    assert [e.kind for e in events] == ["notify_start", "notify_internal", "notify_internal",
                                        "notify_answer", "notify_end"]
    assert {e.effect for e in events} == {EventEffect.APPLIED}


async def test_notify_end_of_a_call_first_seen_at_its_end_notifies_no_one(world: World) -> None:
    fx = await world.run(event("NotifyEnd", disposition="no_answer"))
    assert fx.call is not None and fx.call.created and fx.call.state_after is CallState.ENDED
    assert fx.pushes == ()


# --- outgoing and internal calls --------------------------------------------------------------


async def test_outgoing_call_notifies_the_dialling_operator(world: World) -> None:
    await world.store.create_contact(world.tenant.id, "Ivan", contact_phones([CLIENT], "RU"))
    out = {"direction": "out", "src": "103", "dst": "8 916 123-45-67", "call_id": "o1"}
    fx = await world.run(event("NotifyOutStart", **out))
    assert told(fx) == [(world.carol.id, "ringing")]
    assert fx.pushes[0].payload["contact"]["name"] == "Ivan"  # client is dstPhone
    fx = await world.run(event("NotifyAnswer", **out))
    assert told(fx) == [(world.carol.id, "answered")]  # srcPhone answered for Out
    fx = await world.run(event("NotifyOutEnd", disposition="answered", **out))
    assert told(fx) == [(world.carol.id, "ended")]
    assert fx.call is not None and fx.call.state_after is CallState.ENDED
    call = await world.store.get_call(world.tenant.id, fx.call.id)
    assert call is not None and call.direction == "out" and call.client_phone_normalized == (
        CLIENT_E164)


async def test_internal_call_rings_the_callee_and_has_no_client_contact(world: World) -> None:
    # Even a contact that has the caller's digits is not the client of an internal call.
    await world.store.create_contact(world.tenant.id, "odd", contact_phones(["101"], "RU"))
    fx = await world.run(event("NotifyStart", direction="internal", src="101", dst="102",
                               call_id="i1"))
    assert told(fx) == [(world.bob.id, "ringing")]
    assert fx.pushes[0].payload["contact"] is None
    call = await world.store.get_call(world.tenant.id, fx.call.id)  # type: ignore[union-attr]
    assert call is not None and call.client_phone is None and call.contact_id is None
    fx = await world.run(event("NotifyEnd", direction="internal", src="101", dst="102",
                               call_id="i1", disposition="busy"))
    assert told(fx) == [(world.bob.id, "ended")]


# --- repeats and late events ------------------------------------------------------------------


async def test_repeated_event_changes_nothing_and_notifies_no_one(world: World) -> None:
    first = await world.run(event("NotifyStart"))
    before = await world.snapshot()
    again = await world.run(event("NotifyStart"))
    assert again.call is not None and again.call.repeat and not again.call.created
    assert again.call.id == first.call.id  # type: ignore[union-attr]
    assert again.pushes == ()
    assert await world.snapshot() == before
    events = await world.store.list_call_events(world.tenant.id, again.call.id)
    assert [e.effect for e in events] == [EventEffect.APPLIED, EventEffect.REPEAT]


async def test_late_event_is_kept_in_history_and_never_moves_the_state_back(
    world: World,
) -> None:
    answered = await world.run(event("NotifyAnswer"))
    assert answered.call is not None and answered.call.state_after is CallState.ANSWERED
    before = await world.snapshot()
    late = await world.run(event("NotifyStart"))
    assert late.call is not None and late.call.late and not late.call.repeat
    assert (late.call.state_before, late.call.state_after) == (CallState.ANSWERED,) * 2
    assert late.pushes == ()
    assert await world.snapshot() == before
    await world.run(event("NotifyEnd", disposition="answered"))
    late = await world.run(event("NotifyAnswer", dst="102"))
    assert late.call is not None and late.call.late and late.call.state_after is CallState.ENDED
    events = await world.store.list_call_events(world.tenant.id, late.call.id)
    assert [e.effect for e in events] == [EventEffect.APPLIED, EventEffect.LATE,
                                          EventEffect.APPLIED, EventEffect.LATE]


async def test_events_without_call_id_match_open_calls_by_numbers_and_direction(
    world: World,
) -> None:
    start = await world.run(event("NotifyStart", call_id=None))
    answer = await world.run(event("NotifyAnswer", call_id=None))
    other = await world.run(event("NotifyStart", direction="internal", call_id=None))
    assert start.call is not None and answer.call is not None and other.call is not None
    assert answer.call.id == start.call.id and not answer.call.created
    assert other.call.created and other.call.id != start.call.id
    end = await world.run(event("NotifyEnd", disposition="answered", call_id=None))
    assert end.call is not None and end.call.id == start.call.id
    # A retried NotifyEnd after the end is a repeat of that call, not a new call.
    again = await world.run(event("NotifyEnd", disposition="answered", call_id=None))
    assert again.call is not None and again.call.id == start.call.id and again.call.repeat
    # A new NotifyStart after the end is a new call.
    new = await world.run(event("NotifyStart", call_id=None))
    assert new.call is not None and new.call.created


async def test_a_call_id_arriving_later_adopts_the_call_but_never_another_calls(
    world: World,
) -> None:
    first = await world.run(event("NotifyStart", call_id=None))
    answer = await world.run(event("NotifyAnswer", call_id="p-1"))
    assert answer.call is not None and answer.call.id == first.call.id  # type: ignore[union-attr]
    # Same phones, another provider call: a different call.
    second = await world.run(event("NotifyStart", call_id="p-2"))
    assert second.call is not None and second.call.created


async def calls(world: World) -> list[tuple[str, str, str | None]]:
    """Every call of the tenant: (id, state, who answered)."""
    listed = await world.store.list_calls(world.tenant.id, CallFilter(), 100, 0)
    return sorted((c.id, c.state.value, c.answered_phone) for c in listed)


async def test_a_retried_answer_without_call_id_after_the_end_changes_nothing(
    world: World,
) -> None:
    # A provider without call ids retries a NotifyAnswer whose reply it lost, after the call
    # ended: the answer is a repeat of the ended call (contract §5: a retried webhook changes
    # nothing), not a second call left answered forever with its operator told once more.
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    await world.run(event("NotifyEnd", call_id=None, disposition="answered"))
    assert start.call is not None
    before = await world.snapshot()
    again = await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    assert again.call is not None and again.call.id == start.call.id and again.call.repeat
    assert again.pushes == ()
    assert await world.snapshot() == before
    assert await calls(world) == [(start.call.id, "ended", "101")]


async def test_an_answer_without_call_id_arriving_after_the_end_is_late_in_that_call(
    world: World,
) -> None:
    # Webhooks sent at once arrive in any order: the end overtook the answer.
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyEnd", call_id=None, disposition="answered"))
    late = await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    assert start.call is not None and late.call is not None
    assert late.call.id == start.call.id and late.call.late and not late.call.created
    assert late.pushes == ()
    # Who answered is known, as for a late answer that has a call id.
    assert await calls(world) == [(start.call.id, "ended", "101")]
    notifications = await world.store.list_notifications(world.tenant.id, world.alice.id)
    assert [n.kind for n in notifications] == [NotificationKind.RINGING,
                                               NotificationKind.ENDED]


async def test_a_start_without_call_id_arriving_after_its_end_is_late_in_that_call(
    world: World,
) -> None:
    # The end (with the record) overtook the start of a short missed call.
    end = await world.run({**event("NotifyEnd", call_id=None, disposition="no_answer"),
                           **record(call_id=None, disposition="no_answer", duration=0)})
    assert end.call is not None and end.contact_created is not None
    late = await world.run(event("NotifyStart", call_id=None))
    assert late.call is not None and late.call.id == end.call.id and late.call.late
    assert late.pushes == ()
    assert await calls(world) == [(end.call.id, "ended", None)]
    assert await world.store.list_notifications(world.tenant.id, world.alice.id) == []
    # The client calls back: that NotifyStart is a new call (the ended one had its start).
    again = await world.run(event("NotifyStart", call_id=None))
    assert again.call is not None and again.call.created
    assert told(again) == [(world.alice.id, "ringing")]


async def test_a_start_without_call_id_after_a_record_that_came_first_joins_its_call(
    world: World,
) -> None:
    recorded = await world.run(record(call_id=None, disposition="answered"))
    assert recorded.record is not None and recorded.record.created
    late = await world.run(event("NotifyStart", call_id=None))
    assert late.call is not None and late.call.id == recorded.record.id and late.call.late
    assert await calls(world) == [(recorded.record.id, "ended", "101")]


async def test_an_outgoing_start_without_call_id_after_its_end_is_late_then_a_redial_is_new(
    world: World,
) -> None:
    end = await world.run(event("NotifyOutEnd", direction="out", src="101", dst=CLIENT,
                                disposition="busy", call_id=None))
    late = await world.run(event("NotifyOutStart", direction="out", src="101", dst=CLIENT,
                                 call_id=None))
    assert end.call is not None and late.call is not None
    assert late.call.id == end.call.id and late.call.late and late.pushes == ()
    redial = await world.run(event("NotifyOutStart", direction="out", src="101", dst=CLIENT,
                                   call_id=None))
    assert redial.call is not None and redial.call.created
    assert told(redial) == [(world.alice.id, "ringing")]


async def test_events_without_call_id_long_after_the_end_begin_a_new_call(
    world: World,
) -> None:
    # Past RECENT_END an ended call takes nothing more without a call id.
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyEnd", call_id=None, disposition="no_answer"))
    world.clock[0] += RECENT_END
    answer = await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    assert start.call is not None and answer.call is not None
    assert answer.call.created and answer.call.id != start.call.id


async def test_the_same_start_without_call_id_past_ring_over_is_the_client_calling_again(
    world: World,
) -> None:
    # A module that sends only NotifyStart (no callId, no end) never ends its calls: the same
    # start moments later is a retry; past RING_OVER the first call rings no more, so it is a
    # new call, and its operator is told.
    first = await world.run(event("NotifyStart", call_id=None))
    retry = await world.run(event("NotifyStart", call_id=None))
    world.clock[0] += RING_OVER
    again = await world.run(event("NotifyStart", call_id=None))
    assert first.call is not None and retry.call is not None and again.call is not None
    assert retry.call.id == first.call.id and retry.call.repeat and retry.pushes == ()
    assert again.call.created and again.call.id != first.call.id
    assert told(again) == [(world.alice.id, "ringing")]


async def test_an_answered_call_without_call_id_takes_its_start_again_past_ring_over(
    world: World,
) -> None:
    # Only a call still ringing is over after RING_OVER: a conversation goes on for hours.
    first = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    world.clock[0] += RING_OVER
    retry = await world.run(event("NotifyStart", call_id=None))
    assert first.call is not None and retry.call is not None
    assert retry.call.id == first.call.id and retry.call.repeat


# --- call records -----------------------------------------------------------------------------


async def test_record_of_an_answered_call_writes_the_known_contacts_activity(
    world: World,
) -> None:
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones([CLIENT], "RU"))
    await world.run(event("NotifyStart"))
    fx = await world.run(record(call={"rec": "r-1"}))
    assert fx.contact_created is None
    assert fx.record is not None and not fx.record.created
    assert (fx.record.state_before, fx.record.state_after) == (CallState.RINGING,
                                                              CallState.ENDED)
    assert fx.activity is not None and fx.activity.action == "created"
    assert fx.activity.contact_id == ivan.id
    call = await world.store.get_call(world.tenant.id, fx.record.id)
    assert call is not None and call.state is CallState.ENDED and call.duration == 74
    assert call.record_call == {"rec": "r-1"} and call.has_record
    [entry] = await world.store.list_activity(world.tenant.id, ivan.id)
    assert entry.call_id == call.id and entry.data["call"] == {"rec": "r-1"}
    assert entry.data["duration"] == 74 and entry.data["direction"] == "in"
    assert not entry.data["missed"]


async def test_missed_call_from_an_unknown_number_creates_a_contact(world: World) -> None:
    fx = await world.run(record(src="8 (916) 123-45-67", disposition="no_answer", duration=0))
    assert fx.contact_created is not None
    assert fx.contact_created.name == "8 (916) 123-45-67"
    assert fx.contact_created.phone == CLIENT_E164
    assert fx.record is not None and fx.record.created
    assert fx.record.state_after is CallState.ENDED
    contact = await world.store.get_contact(world.tenant.id, fx.contact_created.id)
    assert contact is not None and contact.phones[0].raw == "8 (916) 123-45-67"
    [entry] = await world.store.list_activity(world.tenant.id, contact.id)
    assert entry.data["missed"] and not entry.data["has_record"]
    call = await world.store.get_call(world.tenant.id, fx.record.id)
    assert call is not None and call.contact_id == contact.id and not call.has_record


def zadarma_missed_end() -> dict[str, Any]:
    """What scripts/zadarma returns for its sample examples/missed-end.json: the NotifyEnd of
    a call nobody answered and its callRecord, in one result."""
    numbers = {"direction": "in", "disposition": "no_answer", "srcPhone": "79035550011",
               "dstPhone": COMPANY}
    return {"event": {"event": WebhookEvent.NotifyEnd, **numbers, "callId": "in_77c1"},
            "callRecord": {**numbers, "duration": 0, "callId": "in_77c1", "call": None}}


async def test_the_ended_notification_of_a_missed_call_carries_the_contact_it_created(
    world: World,
) -> None:
    await world.store.set_bindings(world.tenant.id, world.module.id, {COMPANY: world.alice.id})
    await world.run(event("NotifyStart", src="79035550011", dst=COMPANY, call_id="in_77c1"))
    fx = await world.run(zadarma_missed_end())
    assert fx.contact_created is not None and fx.contact_created.phone == "+79035550011"
    [pushed] = fx.pushes
    assert (pushed.user_id, pushed.kind) == (world.alice.id, NotificationKind.ENDED)
    [_, stored] = await world.store.list_notifications(world.tenant.id, world.alice.id)
    for notification in (pushed, stored):
        payload = notification.payload
        assert isinstance(payload, dict)
        contact, call = payload["contact"], payload["call"]
        assert isinstance(contact, dict) and isinstance(call, dict)
        # The contact the unit created, not null: a client must not offer to create another.
        assert contact["id"] == fx.contact_created.id
        assert contact["phones"] == [{"raw": "79035550011", "normalized": "+79035550011"}]
        # The call as the record left it: its contact, its duration, ended, missed.
        assert call["contact_id"] == fx.contact_created.id
        assert (call["state"], call["disposition"], call["duration"]) == (
            "ended", "no_answer", 0.0)
    assert len(await world.store.find_contacts_by_phone(world.tenant.id, "+79035550011")) == 1


async def test_the_ended_notification_of_an_answered_call_carries_its_duration(
    world: World,
) -> None:
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones([CLIENT], "RU"))
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyAnswer", disposition="answered"))
    fx = await world.run({**event("NotifyEnd", disposition="answered"),
                          **record(duration=74)})
    [pushed] = fx.pushes
    assert isinstance(pushed.payload, dict)
    assert pushed.payload["call"]["duration"] == 74.0
    assert pushed.payload["contact"]["id"] == ivan.id
    assert fx.contact_created is None


async def test_answered_call_from_an_unknown_number_creates_no_contact(world: World) -> None:
    fx = await world.run(record(disposition="answered"))
    assert fx.contact_created is None
    assert fx.activity is not None and fx.activity.contact_id is None
    assert await world.store.list_contacts(world.tenant.id) == []


async def test_anonymous_caller_matches_and_creates_no_contact(world: World) -> None:
    await world.run(event("NotifyStart", src="anonymous"))
    fx = await world.run(record(src="anonymous", disposition="no_answer", duration=0))
    assert fx.contact_created is None
    assert fx.activity is not None and fx.activity.contact_id is None
    assert await world.store.list_contacts(world.tenant.id) == []
    entry = await world.store.get_activity_for_call(world.tenant.id, fx.activity.call_id)
    assert entry is not None and entry.data["client_phone"] == "anonymous"
    assert entry.data["client_phone_normalized"] is None
    call = await world.store.get_call(world.tenant.id, fx.activity.call_id)
    assert call is not None and call.client_phone == "anonymous"
    assert call.client_phone_normalized is None


async def test_outgoing_record_finds_the_contact_by_dst_phone(world: World) -> None:
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones([CLIENT], "RU"))
    fx = await world.run(record(direction="out", src="101", dst="+7 916 123 45 67",
                                disposition="no_answer", duration=0))
    # Not answered, but outgoing: not a missed call; the contact exists anyway.
    assert fx.contact_created is None
    assert fx.activity is not None and fx.activity.contact_id == ivan.id


async def test_outgoing_unanswered_call_to_unknown_number_is_not_missed(world: World) -> None:
    fx = await world.run(record(direction="out", src="101", dst=CLIENT,
                                disposition="busy", duration=0))
    assert fx.contact_created is None


async def test_internal_call_record_has_an_entry_without_contact(world: World) -> None:
    fx = await world.run(record(direction="internal", src="101", dst="102",
                                disposition="no_answer", duration=0, call={"r": 1}))
    assert fx.contact_created is None
    assert fx.activity is not None and fx.activity.contact_id is None


async def test_repeated_record_changes_nothing(world: World) -> None:
    first = await world.run(record(disposition="no_answer", duration=0, call={"r": 1}))
    before = await world.snapshot()
    again = await world.run(record(disposition="no_answer", duration=0, call={"r": 1}))
    assert again.record is not None and again.record.repeat
    assert again.activity is not None and again.activity.action == "unchanged"
    assert again.activity.id == first.activity.id  # type: ignore[union-attr]
    assert again.contact_created is None
    assert await world.snapshot() == before


async def test_a_different_record_updates_the_call_and_its_single_entry(world: World) -> None:
    first = await world.run(record(call=None, duration=70))
    later = await world.run(record(call={"rec": "late"}, duration=74))
    assert first.activity is not None and later.activity is not None
    assert later.activity.action == "updated" and later.activity.id == first.activity.id
    assert later.record is not None and not later.record.repeat and not later.record.created
    call = await world.store.get_call(world.tenant.id, later.record.id)
    assert call is not None and call.duration == 74 and call.has_record
    entry = await world.store.get_activity_for_call(world.tenant.id, call.id)
    assert entry is not None and entry.data["call"] == {"rec": "late"}
    assert await world.backend.count("activity") == 1


async def test_record_without_call_id_after_the_end_joins_the_ended_call(world: World) -> None:
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyEnd", disposition="answered", call_id=None))
    fx = await world.run(record(call_id=None))
    assert fx.record is not None and fx.record.id == start.call.id  # type: ignore[union-attr]
    assert not fx.record.created and fx.record.state_before is CallState.ENDED


async def test_records_without_call_id_of_two_calls_in_an_hour_are_two_calls(
    world: World,
) -> None:
    # A module that sends only call records, without ids (the platform's documented
    # example): the client's missed call, then their call back answered 20 minutes later.
    # The second record is another call's, not a correction of the first: the missed call
    # stays in the client's history.
    missed = await world.run(record(call_id=None, disposition="no_answer", duration=0))
    world.clock[0] += timedelta(minutes=20)
    answered = await world.run(record(call_id=None, disposition="answered", duration=60))
    assert missed.record is not None and answered.record is not None
    assert answered.record.created and answered.record.id != missed.record.id
    assert missed.contact_created is not None and answered.activity is not None
    assert answered.activity.action == "created"
    assert answered.activity.contact_id == missed.contact_created.id
    assert await calls(world) == sorted([(missed.record.id, "ended", None),
                                         (answered.record.id, "ended", "101")])
    entries = await world.store.list_activity(world.tenant.id, missed.contact_created.id)
    assert sorted((e.data["disposition"], e.data["duration"]) for e in entries) == [
        ("answered", 60), ("no_answer", 0)]
    # A retry of either changes nothing.
    before = await world.snapshot()
    again = await world.run(record(call_id=None, disposition="answered", duration=60))
    assert again.record is not None and again.record.repeat
    assert again.record.id == answered.record.id
    assert await world.snapshot() == before


async def test_an_end_without_call_id_then_its_record_alone_is_one_call(world: World) -> None:
    # The record that follows the end on its own is that call's (it had none yet).
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyEnd", call_id=None, disposition="no_answer"))
    world.clock[0] += timedelta(minutes=5)
    fx = await world.run(record(call_id=None, disposition="no_answer", duration=0))
    assert start.call is not None and fx.record is not None
    assert fx.record.id == start.call.id and not fx.record.created


async def test_a_record_with_a_call_id_after_events_without_one_joins_the_ended_call(
    world: World,
) -> None:
    # Live events without ids, and the record (from the provider's call log) with one that
    # arrives after the end: the record of that call, not a second call with a second entry.
    start = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyAnswer", call_id=None, disposition="answered"))
    await world.run(event("NotifyEnd", call_id=None, disposition="answered"))
    fx = await world.run(record(call_id="cdr-1", call={"rec": "1"}))
    assert start.call is not None and fx.record is not None
    assert fx.record.id == start.call.id and not fx.record.created
    call = await world.store.get_call(world.tenant.id, start.call.id)
    assert call is not None and call.provider_call_id == "cdr-1" and call.has_record
    assert await calls(world) == [(start.call.id, "ended", "101")]
    assert await world.backend.count("activity") == 1
    # Taking the id, the call is that id's: another call log entry, another call.
    other = await world.run(record(call_id="cdr-2", disposition="no_answer", duration=0))
    assert other.record is not None and other.record.created


async def test_numbers_compare_after_normalisation(world: World) -> None:
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones(["+7 916 123-45-67"], "RU"))
    for i, spelling in enumerate(["79161234567", "89161234567", "+7 916 123-45-67"]):
        fx = await world.run(event("NotifyStart", src=spelling, call_id=f"n{i}"))
        assert fx.pushes[0].payload["contact"]["id"] == ivan.id
        fx = await world.run(record(src=spelling, disposition="no_answer", duration=0,
                                    call_id=f"n{i}"))
        assert fx.contact_created is None
        assert fx.activity is not None and fx.activity.contact_id == ivan.id
    assert len(await world.store.list_contacts(world.tenant.id)) == 1
    assert len(await world.store.list_activity(world.tenant.id, ivan.id)) == 3


async def test_international_prefix_and_sip_caller_ids_find_the_contact(world: World) -> None:
    """SIP trunks give the caller as a URI and foreign ones dial with `00`: the same client."""
    ivan = await world.store.create_contact(world.tenant.id, "Ivan",
                                            contact_phones(["+7 916 123-45-67"], "RU"))
    spellings = ["00 7 916 123-45-67", "sip:+79161234567@pbx.example",
                 '"Ivan" <sip:89161234567@10.0.0.1:5060>;tag=1']
    for i, spelling in enumerate(spellings):
        fx = await world.run(event("NotifyStart", src=spelling, call_id=f"u{i}"))
        assert fx.pushes[0].payload["contact"]["id"] == ivan.id
        fx = await world.run(record(src=spelling, disposition="no_answer", duration=0,
                                    call_id=f"u{i}"))
        assert fx.contact_created is None
        assert fx.activity is not None and fx.activity.contact_id == ivan.id
    assert len(await world.store.list_contacts(world.tenant.id)) == 1


async def test_a_contact_made_from_a_sip_caller_shows_the_number_not_the_trunk(
        world: World) -> None:
    """A missed call from `sip:+7...@trunk`: the new contact is named and numbered
    +79035550011 (the URI's host is the trunk's, no part of the client's number); the call
    keeps the caller as given."""
    caller = "sip:+79035550011@trunk.example;user=phone"
    fx = await world.run(record(src=caller, disposition="no_answer", duration=0))
    assert fx.contact_created is not None
    assert (fx.contact_created.name, fx.contact_created.phone) == ("+79035550011",
                                                                    "+79035550011")
    [contact] = await world.store.list_contacts(world.tenant.id)
    assert (contact.name, contact.phones) == (
        "+79035550011", (ContactPhone("+79035550011", "+79035550011"),))
    assert fx.record is not None
    call = await world.store.get_call(world.tenant.id, fx.record.id)
    assert call is not None
    assert (call.client_phone, call.client_phone_normalized) == (caller, "+79035550011")


async def test_missed_calls_from_one_number_spelled_differently_make_one_contact(
    world: World,
) -> None:
    a = await world.run(record(src="89161234567", disposition="no_answer", duration=0,
                               call_id="a"))
    b = await world.run(record(src="+7 916 123-45-67", disposition="cancel", duration=0,
                               call_id="b"))
    assert a.contact_created is not None and b.contact_created is None
    assert b.activity is not None and b.activity.contact_id == a.contact_created.id


async def test_contacts_of_another_tenant_are_never_matched(world: World) -> None:
    other = await world.store.create_tenant("globex")
    await world.store.create_contact(other.id, "Theirs", contact_phones([CLIENT], "RU"))
    fx = await world.run(event("NotifyStart"))
    assert fx.pushes[0].payload["contact"] is None
    fx = await world.run(record(disposition="no_answer", duration=0))
    assert fx.contact_created is not None


# --- a whole webhook: event + record + storage ------------------------------------------------


async def test_a_retried_webhook_changes_nothing(world: World) -> None:
    webhook = {**event("NotifyEnd", disposition="no_answer"),
               **record(disposition="no_answer", duration=0, call={"r": 1})}
    writes = (StorageWrite("set", "last", {"c": 1}), StorageWrite("delete", "gone"))
    first = await world.run(webhook, storage_writes=writes)
    assert first.call is not None and first.call.created
    assert first.record is not None and first.record.id == first.call.id
    assert first.contact_created is not None
    before = await world.snapshot(skip=("call_events", "storage"))
    for _ in range(2):
        again = await world.run(webhook)
        assert again.call is not None and again.call.repeat
        assert again.record is not None and again.record.repeat
        assert again.activity is not None and again.activity.action == "unchanged"
        assert again.contact_created is None and again.pushes == ()
    assert await world.snapshot(skip=("call_events", "storage")) == before


async def test_storage_writes_commit_with_the_effects(world: World) -> None:
    expiry = world.clock[0] + timedelta(seconds=61)  # run() ticks the clock by a second
    writes = (StorageWrite("set", "token", "abc", expiry), StorageWrite("set", "n", 1),
              StorageWrite("delete", "n"))
    fx = await world.run(event("NotifyStart"), storage_writes=writes)
    assert fx.to_json()["storage"] == [{"op": "set", "key": "token"},
                                       {"op": "set", "key": "n"},
                                       {"op": "delete", "key": "n"}]
    now = world.clock[0]
    item = await world.store.storage_get(world.module.id, "token", now)
    assert item is not None and item.value == "abc"
    assert item.expires_at == expiry == now + timedelta(seconds=60)
    assert await world.store.storage_get(world.module.id, "token",
                                         now + timedelta(seconds=60)) is None
    assert await world.store.storage_get(world.module.id, "n", now) is None


async def test_a_storage_limit_rolls_back_the_whole_webhook(world: World) -> None:
    writes = (StorageWrite("set", "big", "x" * 100),)
    before = await world.snapshot(skip=())
    with pytest.raises(StorageLimitExceeded):
        await world.run(event("NotifyStart"), storage_writes=writes,
                        storage_limits=StorageLimits(max_value_bytes=50))
    assert await world.snapshot(skip=()) == before


async def test_dry_run_reports_and_stores_nothing(world: World) -> None:
    before = await world.snapshot(skip=())
    webhook = {**event("NotifyEnd", disposition="no_answer"),
               **record(disposition="no_answer", duration=0)}
    fx = await world.dry(webhook, storage_writes=(StorageWrite("set", "k", 1),))
    assert await world.snapshot(skip=()) == before
    data = fx.to_json()
    assert data["call"]["created"] and data["call"]["state_after"] == "ended"
    assert data["contact_created"]["phone"] == CLIENT_E164
    assert data["activity"]["action"] == "created"
    assert data["storage"] == [{"op": "set", "key": "k"}]
    # The notifications a real run would send show too.
    await world.run(event("NotifyStart"))
    fx = await world.dry(event("NotifyAnswer"))
    assert fx.to_json()["notifications"] == [
        {"user_id": world.alice.id, "kind": "answered", "call_id": fx.call.id}]  # type: ignore[union-attr]
    assert len(await world.store.list_notifications(world.tenant.id, world.alice.id)) == 1


async def test_effects_json_shape(world: World) -> None:
    fx = await world.run(event("NotifyStart"))
    data = fx.to_json()
    assert set(data) == {"call", "record", "activity", "contact_created", "notifications",
                         "storage"}
    assert data["call"] == {"id": fx.call.id, "created": True,  # type: ignore[union-attr]
                            "state_before": None, "state_after": "ringing", "repeat": False,
                            "late": False}
    assert data["record"] is None and data["activity"] is None
    assert data["notifications"] == [{"user_id": world.alice.id, "kind": "ringing",
                                      "call_id": fx.call.id}]  # type: ignore[union-attr]
    assert fx.pushes[0].kind is NotificationKind.RINGING


async def test_effects_json_is_every_part_as_the_records_show_it(world: World) -> None:
    # Effects.to_json writes its parts out by hand (it is stored with every webhook); it says
    # what models.to_json says of the same records, for a unit with every part in it.
    await world.run(event("NotifyStart"))
    fx = await world.run({**event("NotifyEnd", disposition="no_answer"),
                          **record(disposition="no_answer", duration=0)})
    assert fx.call is not None and fx.record is not None and fx.contact_created is not None
    data = fx.to_json()
    for part in ("call", "record", "activity", "contact_created"):
        assert data[part] == to_json(getattr(fx, part)), part
    assert data["call"]["state_before"] == "ringing"
    assert data["record"]["state_after"] == "ended"


async def test_an_events_effects_text_is_the_encoders(world: World) -> None:
    # Effects.to_json writes the text of an event's effects itself (sandbox/jsontext.py
    # JSONObject): the store's encoder writes the same for the same dict.
    from runtime.store.dialect import dumps
    from sandbox.jsontext import JSONObject

    shown = []
    for result in (event("NotifyStart"), event("NotifyStart"), event("NotifyStart", dst="109"),
                   event("NotifyAnswer"), event("NotifyEnd", disposition="answered")):
        data = (await world.run(result)).to_json()
        assert isinstance(data, JSONObject) and data.text is not None
        assert data.text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        assert dumps(data) == data.text
        shown.append(data)
    assert shown[0]["notifications"] and shown[1]["call"]["repeat"]  # (told, and a repeat)
    # Other effects are encoded by the store as any dict.
    both = (await world.run({**event("NotifyEnd", disposition="no_answer"),
                             **record(disposition="no_answer", duration=0)})).to_json()
    assert getattr(both, "text", None) is None
    assert dumps(both) == json.dumps(both, separators=(",", ":"), ensure_ascii=False)


async def test_an_empty_result_does_nothing(world: World) -> None:
    before = await world.snapshot(skip=())
    fx = await world.run({})
    assert fx == Effects()
    assert await world.snapshot(skip=()) == before


# --- concurrency: several nodes, one call ---------------------------------------------------


async def nodes(world: World, count: int = 3) -> list[Store]:
    """The world's store and more stores on the same database: nodes of one deployment."""
    return [world.store, *[await world.backend.open(commit_window=0) for _ in range(count - 1)]]


async def race(world: World, stores: list[Store], webhooks: list[dict[str, Any]]
               ) -> list[Effects]:
    """All at once, spread over the nodes; every webhook is its own unit, as in the service."""
    units = []
    for i, webhook in enumerate(webhooks):
        parsed = ParseResult.model_validate(webhook)
        context = world.ctx()
        units.append(stores[i % len(stores)].write(
            lambda tx, c=context, p=parsed: act(tx, c, p)))
    return list(await asyncio.gather(*units))


async def test_events_of_one_call_racing_on_several_nodes_end_in_one_call(world: World) -> None:
    stores = await nodes(world)
    kinds = [event("NotifyStart", dst=COMPANY), event("NotifyInternal", dst="101"),
             event("NotifyInternal", dst="102"), event("NotifyAnswer", dst="102"),
             event("NotifyEnd", dst="102", disposition="answered"),
             record(dst="102", call={"rec": "r-1"})]
    webhooks = [kind for _ in range(4) for kind in kinds]  # every one retried 3 times
    results = await race(world, stores, webhooks)

    [call] = await world.store.list_calls(world.tenant.id)
    assert call.state is CallState.ENDED and call.disposition == "answered"
    assert call.has_record and call.record_call == {"rec": "r-1"} and call.duration == 74
    assert {(fx.call or fx.record).id for fx in results} == {call.id}  # type: ignore[union-attr]
    history = await world.store.list_call_events(world.tenant.id, call.id)
    assert len(history) == len(webhooks)
    for kind in {h.kind for h in history}:
        effects = sorted(h.effect.value for h in history if h.kind == kind)
        # The first of each kind and numbers is applied (or late); every retry is a repeat.
        firsts = [e for e in effects if e != "repeat"]
        per_phone = 2 if kind == "notify_internal" else 1
        assert len(firsts) == per_phone, (kind, effects)
    assert await world.backend.count("activity") == 1
    assert await world.backend.count("calls") == 1
    for user in (world.alice, world.bob):
        sent = [(n.call_id, n.kind) for n in
                await world.store.list_notifications(world.tenant.id, user.id)]
        assert len(sent) == len(set(sent)), sent  # never the same kind twice
    pushed = [n for fx in results for n in fx.pushes]
    assert len(pushed) == len({n.id for n in pushed}) == sum(
        [await world.backend.count("notifications")])


async def test_a_missed_call_racing_on_several_nodes_makes_one_contact(world: World) -> None:
    stores = await nodes(world)
    webhooks = [event("NotifyStart"), event("NotifyEnd", disposition="no_answer"),
                {**event("NotifyEnd", disposition="no_answer"),
                 **record(disposition="no_answer", duration=0)}] * 5
    results = await race(world, stores, webhooks)
    [call] = await world.store.list_calls(world.tenant.id)
    [contact] = await world.store.list_contacts(world.tenant.id)
    assert sum(fx.contact_created is not None for fx in results) == 1
    assert call.contact_id == contact.id and call.state is CallState.ENDED
    [entry] = await world.store.list_activity(world.tenant.id, contact.id)
    assert entry.call_id == call.id and entry.data["missed"]


async def test_identical_events_without_call_id_racing_make_one_call(world: World) -> None:
    # Matched by numbers only: the lookup and the insert must not interleave across nodes.
    results = await race(world, await nodes(world), [event("NotifyStart", call_id=None)] * 12)
    [call] = await world.store.list_calls(world.tenant.id)
    assert sum(fx.call.created for fx in results if fx.call) == 1
    history = await world.store.list_call_events(world.tenant.id, call.id)
    assert sorted(h.effect.value for h in history) == ["applied"] + ["repeat"] * 11
    assert len(await world.store.list_notifications(world.tenant.id, world.alice.id)) == 1


async def test_a_call_back_ringing_on_several_nodes_after_the_end_makes_one_new_call(
    world: World,
) -> None:
    # Without a callId the ended call is read too; its start says this one is a new call,
    # which the nodes must create once.
    first = await world.run(event("NotifyStart", call_id=None))
    await world.run(event("NotifyEnd", call_id=None, disposition="no_answer"))
    results = await race(world, await nodes(world), [event("NotifyStart", call_id=None)] * 12)
    assert first.call is not None and sum(fx.call.created for fx in results if fx.call) == 1
    [(new_id, state, _)] = [c for c in await calls(world) if c[0] != first.call.id]
    assert state == "ringing"
    history = await world.store.list_call_events(world.tenant.id, new_id)
    assert sorted(h.effect.value for h in history) == ["applied"] + ["repeat"] * 11
    notifications = await world.store.list_notifications(world.tenant.id, world.alice.id)
    assert [(n.call_id, n.kind.value) for n in notifications] == [
        (first.call.id, "ringing"), (first.call.id, "ended"), (new_id, "ringing")]


async def test_events_with_and_without_call_id_racing_make_one_call(world: World) -> None:
    # Some with the callId, some without: whatever the order, the same numbers are one call.
    webhooks = [event("NotifyStart", call_id=None), event("NotifyStart")] * 6
    await race(world, await nodes(world), webhooks)
    [call] = await world.store.list_calls(world.tenant.id)
    history = await world.store.list_call_events(world.tenant.id, call.id)
    assert sorted(h.effect.value for h in history) == ["applied"] + ["repeat"] * 11
    assert len(await world.store.list_notifications(world.tenant.id, world.alice.id)) == 1


async def test_an_answer_with_and_without_call_id_racing_is_applied_once(world: World) -> None:
    await world.run(event("NotifyStart"))  # the call has its callId from the start
    # Found by callId or by numbers: both kinds of unit must serialise on the same call.
    results = await race(world, await nodes(world),
                         [event("NotifyAnswer"), event("NotifyAnswer", call_id=None)] * 6)
    [call] = await world.store.list_calls(world.tenant.id)
    assert call.state is CallState.ANSWERED
    assert sum(1 for fx in results if fx.call and not fx.call.repeat) == 1
    answered = [n for n in await world.store.list_notifications(world.tenant.id, world.alice.id)
                if n.kind is NotificationKind.ANSWERED]
    assert len(answered) == 1


async def test_missed_calls_from_one_number_in_two_modules_make_one_contact(
    world: World,
) -> None:
    other = await world.store.create_module(world.tenant.id, NewModule(name="b", region="RU"))
    stores = await nodes(world, 4)
    missed = record(disposition="no_answer", duration=0)
    units = []
    for i in range(12):
        parsed = ParseResult.model_validate(missed)
        context = world.ctx(module_id=(world.module.id, other.id)[i % 2])
        units.append(stores[i % len(stores)].write(
            lambda tx, c=context, p=parsed: act(tx, c, p)))
    results = await asyncio.gather(*units)
    contacts = await world.store.list_contacts(world.tenant.id)
    assert len(contacts) == 1, contacts
    assert sum(fx.contact_created is not None for fx in results) == 1
    assert len(await world.store.list_calls(world.tenant.id)) == 2  # one per module
    assert await world.backend.count("activity") == 2



class PausedAfterScene:
    """A unit's transaction that, once it has read its call's scene, waits for `gate`: the
    unit's reads are then as stale as they get when another node commits meanwhile."""

    def __init__(self, tx: Any, read: asyncio.Event, gate: asyncio.Event) -> None:
        self._tx, self._read, self._gate = tx, read, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def call_scene(self, lookup: Any) -> Any:
        scene = await self._tx.call_scene(lookup)
        self._read.set()
        await asyncio.wait_for(self._gate.wait(), timeout=60)
        return scene


async def test_a_call_recorded_while_its_numbers_contact_is_made_on_another_node_is_linked(
    world: World,
) -> None:
    """Two calls of one unknown client end at once on two nodes: a missed one (whose record
    makes the client's contact) and an answered one (which makes none). The answered call's
    record found no contact when it looked, but the contact was committed before it: it must
    be linked to it (its entry in the contact's stream), not left without a contact forever
    (a contact the runtime makes adopts nothing)."""
    if world.backend.name == "sqlite":
        pytest.skip("one writer: units cannot interleave")
    first, second = await nodes(world, 2)
    read, gate = asyncio.Event(), asyncio.Event()
    answered = ParseResult.model_validate(record(call_id="c-answered", dst="102"))
    missed = ParseResult.model_validate(record(call_id="c-missed", disposition="no_answer",
                                               duration=0))
    answered_ctx, missed_ctx = world.ctx(), world.ctx()
    slow = asyncio.ensure_future(first.write(
        lambda tx: act(PausedAfterScene(tx, read, gate), answered_ctx, answered)))  # type: ignore[arg-type]
    await asyncio.wait_for(read.wait(), timeout=60)
    made = await second.write(lambda tx: act(tx, missed_ctx, missed))
    gate.set()
    await slow
    assert made.contact_created is not None
    [contact] = await world.store.list_contacts(world.tenant.id)
    calls_now = {c.provider_call_id: c for c in await world.store.list_calls(world.tenant.id)}
    assert calls_now["c-answered"].contact_id == contact.id
    stream = await world.store.list_activity(world.tenant.id, contact.id)
    assert sorted(entry.data["disposition"] for entry in stream) == ["answered", "no_answer"]


async def test_notify_internal_after_the_answer_is_a_transfer_not_a_late_event(
    world: World,
) -> None:
    """Contract §5: NotifyInternal notifies the user bound to its dstPhone; an answered call
    ringing at a colleague's phone is a transfer, and the call stays answered."""
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyAnswer", disposition="answered"))
    transfer = await world.run(event("NotifyInternal", dst="102"))
    assert transfer.call is not None and not transfer.call.late
    assert transfer.call.state_after is CallState.ANSWERED
    assert told(transfer) == [(world.bob.id, "ringing")]
    await world.run(event("NotifyEnd", dst="102", disposition="answered"))
    late = await world.run(event("NotifyInternal", dst="103"))
    assert late.call is not None and late.call.late
    assert late.pushes == ()


async def test_a_users_notifications_are_numbered_in_commit_order(world: World) -> None:
    """A client catching up "after" the last notification it saw must not miss one that was
    numbered before it but committed after it (two calls' units on two nodes)."""
    first_in, release = asyncio.Event(), asyncio.Event()
    other = (await nodes(world, 2))[1]
    ring_a = ParseResult.model_validate(event("NotifyStart", call_id="a"))
    ring_b = ParseResult.model_validate(event("NotifyStart", call_id="b", src="79031234567"))
    ctx_a, ctx_b = world.ctx(), world.ctx()

    async def slow(tx: Any) -> Effects:
        effects = await act(tx, ctx_a, ring_a)  # its notification is inserted, not committed
        first_in.set()
        await release.wait()
        return effects

    finished: list[str] = []
    slow_unit = asyncio.ensure_future(world.store.write(slow))
    slow_unit.add_done_callback(lambda _: finished.append("slow"))
    await first_in.wait()
    fast_unit = asyncio.ensure_future(other.write(lambda tx: act(tx, ctx_b, ring_b)))
    fast_unit.add_done_callback(lambda _: finished.append("fast"))
    await asyncio.sleep(0.3)
    # The second unit waits for the first to commit, not merely to insert (SQLite's one
    # writer; on PostgreSQL the first holds its lock on whom it may notify to its COMMIT).
    # The numbers follow the commits: checked in the order the units ended in (not by
    # whether the second had ended within the pause, which a loaded machine outlasts).
    release.set()
    a, b = await slow_unit, await fast_unit
    fast_first = finished[0] == "fast"
    first, second = (b, a) if fast_first else (a, b)
    listed = await world.store.list_notifications(world.tenant.id, world.alice.id)
    assert [n.id for n in listed] == [first.pushes[0].id, second.pushes[0].id]
    after = await world.store.list_notifications(world.tenant.id, world.alice.id,
                                                 after_id=first.pushes[0].id)
    assert [n.id for n in after] == [second.pushes[0].id]


async def test_two_group_calls_ending_at_once_notify_everyone_without_a_deadlock(
    world: World,
) -> None:
    # Call a rang alice then bob, call b bob then alice: their ends notify both, at once.
    other = (await nodes(world, 2))[1]
    for store, call_id, src, phones in ((world.store, "a", CLIENT, ("101", "102")),
                                        (other, "b", "79031234567", ("102", "101"))):
        # (each node warms its connection up: the two ends then run neck and neck)
        await world.run(event("NotifyStart", call_id=call_id, src=src, dst=COMPANY),
                        store=store)
        for phone in phones:
            await world.run(event("NotifyInternal", call_id=call_id, src=src, dst=phone),
                            store=store)
        await world.run(event("NotifyEnd", call_id="warm-" + call_id), store=store)
    ends = [ParseResult.model_validate(event("NotifyEnd", call_id=c, src=s, dst=COMPANY,
                                             disposition="no_answer"))
            for c, s in (("a", CLIENT), ("b", "79031234567"))]
    contexts = [world.ctx(), world.ctx()]
    started = asyncio.get_running_loop().time()
    done = await asyncio.gather(
        world.store.write(lambda tx: act(tx, contexts[0], ends[0])),
        other.write(lambda tx: act(tx, contexts[1], ends[1])))
    assert [sorted(told(fx)) for fx in done] == [
        sorted([(world.alice.id, "ended"), (world.bob.id, "ended")])] * 2
    assert asyncio.get_running_loop().time() - started < 0.9  # no deadlock_timeout (1 s)
    assert getattr(world.store, "retries", 0) == getattr(other, "retries", 0) == 0


# --- transfers and who answered (contract §5) ----------------------------------------------


async def test_notify_start_at_another_phone_after_the_answer_is_a_transfer(
    world: World,
) -> None:
    """A provider that reports the transferred leg as a new NotifyStart: the phone was not
    notified for this call, so its user is told it rings for them; the call stays answered."""
    await world.run(event("NotifyStart"))
    answered = await world.run(event("NotifyAnswer", disposition="answered"))
    assert answered.call is not None
    call = await world.store.get_call(world.tenant.id, answered.call.id)
    assert call is not None
    assert (call.answered_phone, call.answered_user_id) == ("101", world.alice.id)

    transfer = await world.run(event("NotifyStart", dst="102"))
    assert transfer.call is not None
    assert not transfer.call.late and not transfer.call.repeat
    assert (transfer.call.state_before, transfer.call.state_after) == (CallState.ANSWERED,) * 2
    assert told(transfer) == [(world.bob.id, "ringing")]
    events = await world.store.list_call_events(world.tenant.id, answered.call.id)
    assert [(e.kind, e.effect) for e in events][-1] == ("notify_start", EventEffect.APPLIED)
    call = await world.store.get_call(world.tenant.id, answered.call.id)
    assert call is not None and call.state is CallState.ANSWERED
    # Until the new phone answers, the one that answered is still who answered.
    assert (call.answered_phone, call.answered_user_id) == ("101", world.alice.id)

    # The same phone again: a repeat; the first phone again (not a repeat: another kind),
    # late, since it was notified.
    again = await world.run(event("NotifyStart", dst="102"))
    assert again.call is not None and again.call.repeat and again.pushes == ()
    back = await world.run(event("NotifyInternal", dst="101"))
    assert back.call is not None and back.call.late and back.pushes == ()

    # The new phone answers: it is now the answering phone, and its user who answered.
    taken = await world.run(event("NotifyAnswer", dst="102", disposition="answered"))
    assert taken.call is not None and not taken.call.late and not taken.call.repeat
    assert told(taken) == [(world.bob.id, "answered")]
    call = await world.store.get_call(world.tenant.id, answered.call.id)
    assert call is not None and call.state is CallState.ANSWERED
    assert (call.answered_phone, call.answered_user_id) == ("102", world.bob.id)
    events = await world.store.list_call_events(world.tenant.id, answered.call.id)
    assert [e.effect for e in events] == [
        EventEffect.APPLIED, EventEffect.APPLIED, EventEffect.APPLIED, EventEffect.REPEAT,
        EventEffect.LATE, EventEffect.APPLIED]


async def test_notify_start_at_an_already_notified_phone_after_the_answer_is_not_a_transfer(
    world: World,
) -> None:
    """The call rang at 101 and 102 (a group); 101 answered. A NotifyStart at 102 afterwards is
    not a transfer: 102 was notified already, so it is late and nobody is told again."""
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyInternal", dst="102"))
    await world.run(event("NotifyAnswer", disposition="answered"))
    before = await world.snapshot()
    late = await world.run(event("NotifyStart", dst="102"))
    assert late.call is not None and late.call.late and not late.call.repeat
    assert late.call.state_after is CallState.ANSWERED
    assert late.pushes == ()
    assert await world.snapshot() == before


async def test_the_answering_phone_without_a_binding_counts_as_notified(world: World) -> None:
    """A call first seen answered at an unbound phone leaves no notified row; a NotifyStart at
    that same phone afterwards is still late, not a transfer to it."""
    answered = await world.run(event("NotifyAnswer", dst="150", disposition="answered"))
    assert answered.call is not None
    call = await world.store.get_call(world.tenant.id, answered.call.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == ("150", None)
    late = await world.run(event("NotifyStart", dst="150"))
    assert late.call is not None and late.call.late


async def test_an_answered_call_record_without_an_answer_event_says_who_answered(
    world: World,
) -> None:
    await world.run(event("NotifyStart", dst="103"))
    done = await world.run(record(dst="103", disposition="answered"))
    assert done.record is not None
    call = await world.store.get_call(world.tenant.id, done.record.id)
    assert call is not None
    assert (call.answered_phone, call.answered_user_id) == ("103", world.carol.id)
    # A call known only from its record, outgoing: the operator is srcPhone.
    out = await world.run(record(direction="out", src="102", dst=CLIENT, call_id="c2"))
    assert out.record is not None and out.record.created
    call = await world.store.get_call(world.tenant.id, out.record.id)
    assert call is not None
    assert (call.answered_phone, call.answered_user_id) == ("102", world.bob.id)


async def test_a_call_record_never_overrides_the_answer_event(world: World) -> None:
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyAnswer", dst="102", disposition="answered"))
    done = await world.run(record(dst="101", disposition="answered"))
    assert done.record is not None
    call = await world.store.get_call(world.tenant.id, done.record.id)
    assert call is not None
    assert (call.answered_phone, call.answered_user_id) == ("102", world.bob.id)


async def test_a_record_corrected_to_unanswered_takes_back_who_answered(world: World) -> None:
    """Who answered came only from a record saying Answered (no answer event); the record
    corrected to NoAnswer left the call 'no_answer' yet answered by 103, listed among that
    operator's answered calls and playable with their token."""
    await world.run(event("NotifyStart", dst="103"))
    await world.run(record(dst="103", disposition="answered", duration=12))
    corrected = await world.run(record(dst="103", disposition="no_answer", duration=0))
    assert corrected.record is not None
    call = await world.store.get_call(world.tenant.id, corrected.record.id)
    assert call is not None and call.disposition == "no_answer"
    assert (call.answered_phone, call.answered_user_id) == (None, None)
    # An answer event's word stands: a later record does not take it back.
    await world.run(event("NotifyStart", dst="102", call_id="c2"))
    await world.run(event("NotifyAnswer", dst="102", disposition="answered", call_id="c2"))
    kept = await world.run(record(dst="102", disposition="no_answer", call_id="c2"))
    assert kept.record is not None
    call = await world.store.get_call(world.tenant.id, kept.record.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == (
        "102", world.bob.id)


async def test_an_unanswered_call_has_nobody_who_answered(world: World) -> None:
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyEnd", disposition="no_answer"))
    done = await world.run(record(disposition="no_answer"))
    assert done.record is not None
    call = await world.store.get_call(world.tenant.id, done.record.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == (None, None)


async def test_deleting_the_user_who_answered_keeps_the_number(world: World) -> None:
    await world.run(event("NotifyStart"))
    answered = await world.run(event("NotifyAnswer", disposition="answered"))
    assert answered.call is not None
    assert await world.store.delete_user(world.tenant.id, world.alice.id)
    call = await world.store.get_call(world.tenant.id, answered.call.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == ("101", None)


async def test_an_answer_reported_after_the_end_is_late_but_says_who_answered(
    world: World,
) -> None:
    await world.run(event("NotifyStart", dst="102"))
    await world.run(event("NotifyEnd", dst="102", disposition="answered"))
    late = await world.run(event("NotifyAnswer", dst="102", disposition="answered"))
    assert late.call is not None and late.call.late and late.pushes == ()
    call = await world.store.get_call(world.tenant.id, late.call.id)
    assert call is not None and call.state is CallState.ENDED
    assert (call.answered_phone, call.answered_user_id) == ("102", world.bob.id)
    # A second late answer from another phone changes nothing: the first one said it.
    await world.run(event("NotifyAnswer", dst="103", disposition="answered"))
    call = await world.store.get_call(world.tenant.id, late.call.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == (
        "102", world.bob.id)


async def test_an_answer_after_an_end_that_nobody_answered_says_nobody_answered(
    world: World,
) -> None:
    """The end's disposition is final: a NotifyAnswer arriving after a 'no_answer' end (a
    provider's reordered delivery) is kept in the history as late, and the call stays answered
    by nobody, not listed among 101's answered calls."""
    await world.run(event("NotifyStart"))
    await world.run(event("NotifyEnd", disposition="no_answer"))
    late = await world.run(event("NotifyAnswer", disposition="answered"))
    assert late.call is not None and late.call.late and late.pushes == ()
    call = await world.store.get_call(world.tenant.id, late.call.id)
    assert call is not None and call.state is CallState.ENDED
    assert call.disposition == "no_answer"
    assert (call.answered_phone, call.answered_user_id) == (None, None)
    events = await world.store.list_call_events(world.tenant.id, late.call.id)
    assert [(e.kind, e.effect) for e in events][-1] == ("notify_answer", EventEffect.LATE)
    # The same when a missed call's record ended it (busy), with no end event.
    await world.run(event("NotifyStart", call_id="c2"))
    await world.run(record(disposition="busy", duration=0, call_id="c2"))
    late = await world.run(event("NotifyAnswer", disposition="answered", call_id="c2"))
    assert late.call is not None and late.call.late
    call = await world.store.get_call(world.tenant.id, late.call.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == (None, None)


async def test_a_late_answer_event_says_who_answered_over_an_earlier_records_word(
    world: World,
) -> None:
    """Who answered comes from NotifyAnswer, or from an Answered record only when no answer
    event came: the answer event arriving after the record still says it."""
    await world.run(event("NotifyStart", dst=COMPANY))
    await world.run(record(dst="101", disposition="answered", duration=30))
    late = await world.run(event("NotifyAnswer", dst="102", disposition="answered"))
    assert late.call is not None and late.call.late
    call = await world.store.get_call(world.tenant.id, late.call.id)
    assert call is not None and (call.answered_phone, call.answered_user_id) == (
        "102", world.bob.id)


async def test_an_outgoing_call_taken_over_at_another_phone_ends_for_both_operators(
    world: World,
) -> None:
    """101 dials, the call is transferred to 102, who answers; NotifyOutEnd names the dialling
    phone (or the one holding the call): both operators' cards end, each once."""
    for end_at, call_id in (("101", "o1"), ("102", "o2")):
        out = {"direction": "out", "dst": CLIENT, "call_id": call_id}
        await world.run(event("NotifyOutStart", src="101", **out))
        await world.run(event("NotifyAnswer", src="101", disposition="answered", **out))
        moved = await world.run(event("NotifyInternal", src="102", **out))
        assert told(moved) == [(world.bob.id, "ringing")]
        taken = await world.run(event("NotifyAnswer", src="102", disposition="answered", **out))
        assert told(taken) == [(world.bob.id, "answered")]
        ended = await world.run(event("NotifyOutEnd", src=end_at, disposition="answered",
                                      **out))
        assert sorted(told(ended)) == sorted([(world.alice.id, "ended"),
                                              (world.bob.id, "ended")]), end_at
        again = await world.run(event("NotifyOutEnd", src=end_at, disposition="answered",
                                      **out))
        assert again.call is not None and again.call.repeat and again.pushes == ()
    # An outgoing call first seen at its end still tells the dialling operator.
    first = await world.run(event("NotifyOutEnd", direction="out", src="103", dst=CLIENT,
                                  disposition="no_answer", call_id="o3"))
    assert told(first) == [(world.carol.id, "ended")]


async def test_a_retried_earlier_record_never_undoes_a_later_one(world: World) -> None:
    """Zadarma: NOTIFY_END brings the record without the recording, NOTIFY_RECORD the same
    record with it; the provider then retries NOTIFY_END (its reply was lost). That retry is a
    record already stored: a repeat, and the recording stays (it was erased, the call left
    without a player)."""
    await world.run(event("NotifyStart"))
    await world.run({**event("NotifyEnd", disposition="answered"), **record(duration=30)})
    recorded = await world.run(record(duration=30, call={"rec": "r-1"}))
    assert recorded.activity is not None and recorded.activity.action == "updated"
    before = await world.snapshot()
    retried = await world.run({**event("NotifyEnd", disposition="answered"),
                               **record(duration=30)})
    assert retried.call is not None and retried.call.repeat
    assert retried.record is not None and retried.record.repeat
    assert retried.activity is not None and retried.activity.action == "unchanged"
    assert retried.pushes == ()
    assert await world.snapshot() == before
    call = await world.store.get_call(world.tenant.id, retried.record.id)
    assert call is not None and call.has_record and call.record_call == {"rec": "r-1"}
    entry = await world.store.get_activity_for_call(world.tenant.id, call.id)
    assert entry is not None and entry.data["call"] == {"rec": "r-1"}  # type: ignore[index]
    events = await world.store.list_call_events(world.tenant.id, call.id)
    assert [(e.kind, e.effect) for e in events][-2:] == [
        ("notify_end", EventEffect.REPEAT), ("call_record", EventEffect.REPEAT)]
    # A record that differs from every stored one is still an update (a corrected duration).
    corrected = await world.run(record(duration=31, call={"rec": "r-1"}))
    assert corrected.activity is not None and corrected.activity.action == "updated"


@pytest.mark.parametrize("direction", ["in", "out"])
async def test_every_order_of_a_transferred_call_ends_for_everyone_it_reached(
    world: World, direction: str,
) -> None:
    """101 takes the call, it is transferred to 102, who takes it, and it ends: whatever order
    the five webhooks arrive in, every user told anything of the call is told it ended (an
    outgoing call's end told only the dialling operator), nobody is told a kind twice, and the
    call ends answered."""
    if direction == "in":
        def at(kind: str, phone: str, **more: Any) -> dict[str, Any]:
            return event(kind, dst=phone, call_id=call_id, **more)
        plan = [("NotifyStart", "101", {}), ("NotifyAnswer", "101", {"disposition": "answered"}),
                ("NotifyInternal", "102", {}), ("NotifyAnswer", "102", {"disposition": "answered"}),
                ("NotifyEnd", "102", {"disposition": "answered"})]
    else:
        def at(kind: str, phone: str, **more: Any) -> dict[str, Any]:
            return event(kind, direction="out", src=phone, dst=CLIENT, call_id=call_id, **more)
        plan = [("NotifyOutStart", "101", {}), ("NotifyAnswer", "101", {"disposition": "answered"}),
                ("NotifyInternal", "102", {}), ("NotifyAnswer", "102", {"disposition": "answered"}),
                ("NotifyOutEnd", "101", {"disposition": "answered"})]
    problems = []
    for n, order in enumerate(itertools.permutations(range(len(plan)))):
        call_id = f"{direction}-{n}"
        told_here: list[tuple[str, str]] = []
        for i in order:
            kind, phone, more = plan[i]
            told_here += told(await world.run(at(kind, phone, **more)))
        reached = {user for user, _ in told_here}
        ended = {user for user, kind in told_here if kind == "ended"}
        if reached != ended or len(told_here) != len(set(told_here)):
            problems.append(f"{order}: {told_here}")
    assert not problems, "\n".join(problems[:5])


async def test_many_storage_writes_leave_the_event_loop_to_others_as_they_commit(
    world: World,
) -> None:
    """A webhook's 3,000 storage writes are applied a hundred at a time, the event loop
    turning between (SQLite's writer ran all 12,000 statements at once: a quarter of a second
    and more of every tenant's webhooks waiting)."""
    writes = [StorageWrite("set", f"k{i}", ["x" * 60] * 5) for i in range(3000)]
    parsed = ParseResult.model_validate(event("NotifyStart"))
    context = world.ctx(storage_writes=writes)
    turns = 0
    done = asyncio.Event()

    async def others() -> None:  # everyone else on the loop: one step a turn
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    async def unit(tx: Any) -> tuple[Effects, int]:
        before = turns
        effects = await act(tx, context, parsed)
        return effects, turns - before

    ticker = asyncio.ensure_future(others())
    try:
        fx, during = await world.store.write(unit)
    finally:
        done.set()
        await ticker
    assert len(fx.storage) == 3000
    assert during >= 3000 // 100 - 1  # a turn for the others after every hundred writes
    item = await world.store.storage_get(world.module.id, "k2999", world.clock[0])
    assert item is not None and item.value == ["x" * 60] * 5
