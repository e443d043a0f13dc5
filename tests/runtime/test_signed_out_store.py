"""Console sign-outs kept in the store (runtime/console/session.py), on both backends: a node
started anew (another store on the same database) reads the sessions signed out that have not
expired, the soonest to expire first; a second sign-out of a session changes nothing; the
retention task deletes them once their sessions would have expired anyway."""

from __future__ import annotations

from datetime import timedelta

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
