"""A call flooded with repeats of one event (a webhook caller sending it at the webhook rate)
stays cheap to act on: a webhook of it reads a bounded part of its history, and still tells a
repeat from a new event.

Every webhook of a call read all of its history and decoded each row in the event loop every
tenant shares: at 100,000 rows (minutes at 500 webhooks a second) each further webhook of the
call held the loop for 1.5 s."""

from __future__ import annotations

from dataclasses import replace

from runtime import ids
from runtime.acting import act
from runtime.contract import ParseResult
from runtime.store.base import Tx
from runtime.store.models import (
    CallLookup,
    CallNotified,
    CallState,
    EventEffect,
    NotificationKind,
)
from runtime.store.queries import SCENE_HISTORY_ROWS
from tests.runtime import test_acting
from tests.runtime.test_acting import CLIENT, World, event

world = test_acting.world  # the fixture: a tenant, a module, users bound to 101-103

FLOOD = SCENE_HISTORY_ROWS + 500


async def _flood(w: World, call_id: str) -> None:
    """FLOOD repeats of the call's first event, written as the webhook path writes them."""
    [first] = await w.store.list_call_events(w.tenant.id, call_id)

    async def unit(tx: Tx) -> None:
        for n in range(FLOOD):
            await tx.insert_call_event(replace(
                first, id=ids.new_id(ids.CALL_EVENT), effect=EventEffect.REPEAT,
                received_at=first.received_at.replace(microsecond=n % 1_000_000)))
    await w.store.write(unit)


async def test_a_webhook_reads_a_bounded_history_of_a_flooded_call(world: World) -> None:
    w = world
    start = await w.run(event("NotifyStart"))
    assert start.call is not None
    await _flood(w, start.call.id)
    # A new event after the flood: by time it is past the first SCENE_HISTORY_ROWS rows.
    internal = await w.run(event("NotifyInternal", dst="102"))
    assert internal.call is not None and not internal.call.repeat
    lookup = CallLookup(
        tenant_id=w.tenant.id, module_id=w.module.id, provider_call_id="c1", direction="in",
        src_phone=CLIENT, src_phone_ext=None, dst_phone="101", dst_phone_ext=None,
        ended_since=None, client_phone=None, operator_phone=None)
    scene = await w.store.dry_run(lambda tx: tx.call_scene(lookup))
    assert scene.call is not None and scene.call.id == start.call.id
    assert len(await w.store.list_call_events(w.tenant.id, start.call.id)) == FLOOD + 2
    assert len(scene.history) == SCENE_HISTORY_ROWS  # not the FLOOD + 2 rows the call has
    # What the checks need is among the rows read: both events are still repeats ...
    for again in (event("NotifyStart"), event("NotifyInternal", dst="102")):
        fx = await w.run(again)
        assert fx.call is not None and fx.call.repeat and fx.pushes == ()
    # ... and the answer is new: the call is answered, and bob told.
    answer = await w.run(event("NotifyAnswer", dst="102"))
    assert answer.call is not None and not answer.call.repeat
    assert answer.call.state_after is CallState.ANSWERED


async def test_act_sees_the_flooded_calls_first_event(world: World) -> None:
    """The flood itself is read as it was written: one more repeat of the event is one."""
    w = world
    start = await w.run(event("NotifyStart"))
    assert start.call is not None
    await _flood(w, start.call.id)
    parsed = ParseResult.model_validate(event("NotifyStart"))
    fx = await w.store.write(lambda tx: act(tx, w.ctx(), parsed))
    assert fx.call is not None and fx.call.repeat and fx.call.id == start.call.id


async def test_a_webhook_reads_only_the_rang_phones_it_asks_about(world: World) -> None:
    """A call rung at many phones nobody is bound to (a caller sending its start at a new
    number each time) keeps a row for each, but a webhook reads the users' rows and its own
    phone's only; who rang is still known: the phone is not recorded twice, and the end
    tells the user the call rang for."""
    w = world
    start = await w.run(event("NotifyStart"))  # at 101: alice
    assert start.call is not None
    call_id = start.call.id
    rang = CallNotified(call_id, "2000", None, NotificationKind.RINGING, w.clock[0])

    async def unit(tx: Tx) -> None:
        for n in range(FLOOD):
            await tx.insert_call_notified(replace(rang, phone=str(2000 + n)))
    await w.store.write(unit)
    rows = await w.backend.count("call_notified")
    assert rows == FLOOD + 1

    again = await w.run(event("NotifyStart", dst="2500"))  # rang before, nobody bound
    assert again.call is not None and again.call.id == call_id and again.pushes == ()
    assert await w.backend.count("call_notified") == rows  # not recorded twice
    lookup = CallLookup(
        tenant_id=w.tenant.id, module_id=w.module.id, provider_call_id="c1", direction="in",
        src_phone=CLIENT, src_phone_ext=None, dst_phone="2500", dst_phone_ext=None,
        ended_since=None, client_phone=None, operator_phone="2500")
    scene = await w.store.dry_run(lambda tx: tx.call_scene(lookup))
    assert sorted((n.phone, n.user_id) for n in scene.notified) == [
        ("101", w.alice.id), ("2500", None)]  # not the FLOOD + 1 rows the call has

    ended = await w.run(event("NotifyEnd", dst="2600", disposition="answered"))
    assert [(n.user_id, n.kind.value) for n in ended.pushes] == [(w.alice.id, "ended")]


async def test_marking_a_flooded_call_handled_reads_the_users_it_rang(world: World) -> None:
    """Whom a call's "handled" mark is sent to (the console's live page) comes from the rows
    naming a user, not from the thousands of phones nobody is bound to."""
    w = world
    start = await w.run(event("NotifyStart"))  # at 101: alice
    assert start.call is not None
    rang = CallNotified(start.call.id, "2000", None, NotificationKind.RINGING, w.clock[0])

    async def unit(tx: Tx) -> list[CallNotified]:
        for n in range(FLOOD):
            await tx.insert_call_notified(replace(rang, phone=str(2000 + n)))
        return await tx.list_call_notified(rang.call_id, users_only=True)
    users = await w.store.write(unit)
    assert [(n.phone, n.user_id) for n in users] == [("101", w.alice.id)]
    everyone = await w.store.write(lambda tx: tx.list_call_notified(rang.call_id))
    assert len(everyone) == FLOOD + 1
