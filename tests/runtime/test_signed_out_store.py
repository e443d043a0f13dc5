"""Console sign-outs kept in the store (runtime/console/session.py), on both backends: a node
started anew (another store on the same database) reads the sessions signed out that have not
expired, the soonest to expire first; a second sign-out of a session changes nothing; the
retention task deletes them once their sessions would have expired anyway."""

from __future__ import annotations

from datetime import timedelta

from runtime.console.signed_out import SignedOut
from runtime.retention import Pruner
from runtime.store import Store
from runtime.store.models import utc_now
from tests.runtime.conftest import Backend
from tests.runtime.test_retention import config


async def test_sign_outs_outlive_the_node_until_their_sessions_expire(
        store: Store, backend: Backend) -> None:
    now = utc_now().replace(microsecond=0)
    later, soon = now + timedelta(hours=12), now + timedelta(hours=1)
    await store.write(lambda tx: tx.keep_signed_out("s-later", later))
    await store.write(lambda tx: tx.keep_signed_out("s-soon", soon))
    await store.write(lambda tx: tx.keep_signed_out("s-soon", later))  # again: no change
    await store.write(lambda tx: tx.keep_signed_out("s-gone", now - timedelta(seconds=1)))

    other_node = await backend.open()  # another node, or this one after a restart
    assert await other_node.signed_out_sessions(now) == [("s-soon", soon), ("s-later", later)]

    report = await Pruner(store, config(batch_rows=10),
                          clock=lambda: soon + timedelta(seconds=1)).run_pass()
    assert report.deleted["signed_out"] == 2  # s-gone and s-soon
    assert await store.signed_out_sessions(now) == [("s-later", later)]


async def test_one_credential_s_sign_outs_are_bounded_in_the_store(
        store: Store, backend: Backend) -> None:
    """A row per sign-out, kept 12 hours: a user looping sign-in and sign-out grew the table
    without bound. Past `keep_per_owner` of one owner the oldest become one mark row; a node
    reading them refuses every one of those sessions."""
    now = utc_now().replace(microsecond=0)
    looped = [(f"loop.s{n}", now + timedelta(hours=11, seconds=n)) for n in range(20)]
    for sid, expires in looped:
        await store.write(lambda tx, sid=sid, expires=expires: tx.keep_signed_out(
            sid, expires, owner="loop", keep_per_owner=4))
    await store.write(lambda tx: tx.keep_signed_out(
        "other.a", now + timedelta(hours=1), owner="other", keep_per_owner=4))
    await store.write(lambda tx: tx.keep_signed_out("legacy", now + timedelta(hours=1)))

    kept = await (await backend.open()).signed_out_sessions(now)
    assert sorted(sid for sid, _ in kept) == sorted(
        ["legacy", "other.a", "loop.*", *(sid for sid, _ in looped[-4:])])
    assert dict(kept)["loop.*"] == looped[-5][1]  # the latest of those it stands for

    memory = SignedOut(keep_per_owner=4)
    for sid, expires in kept:
        memory.add(sid, expires.timestamp(), now.timestamp())
    assert all(memory.refuses(sid, expires.timestamp()) for sid, expires in looped)
    assert not memory.refuses("loop.new", (now + timedelta(hours=12)).timestamp())
    assert not memory.refuses("other.b", looped[0][1].timestamp())

    report = await Pruner(store, config(batch_rows=10),
                          clock=lambda: now + timedelta(hours=13)).run_pass()
    assert report.deleted["signed_out"] == len(kept)  # the mark goes with the rest
