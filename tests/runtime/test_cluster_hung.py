"""runtime/cluster.py closing while PostgreSQL does not answer at all (SIGSTOP: a dropped
network, a hung host), on a server of the test's own (tests/e2e/private_postgres.py).

A relay's NOTIFY caught on a pool connection when the server hangs never ends, and neither
does its cancellation (asyncpg hands the connection back to its pool only once the server
acknowledged the cancel request). A stopping node closes its cluster before its store: an
unbounded wait here kept the node running after SIGTERM until the server came back."""

from __future__ import annotations

import asyncio
import logging
import signal

import pytest

from runtime.cluster import CLOSE_WAIT_SECONDS, Cluster
from runtime.hub import Hub
from runtime.modules_cache import ModuleCache
from runtime.store.postgres import PostgresStore
from tests.e2e.private_postgres import private_postgres
from tests.e2e.test_postgres_hung import server_processes, signal_all

# Far beyond what closing may take (two waits of CLOSE_WAIT_SECONDS, then the listener's
# close): reaching it means closing waits for the server.
NEVER_SECONDS = 60


async def test_closing_while_a_relay_waits_on_a_hung_postgresql_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    with private_postgres() as postgres:
        store = await PostgresStore.open(postgres.url + "?schema=voip")
        cluster = Cluster(store, Hub(), ModuleCache(store))
        await cluster.start()
        pids: list[int] = []
        try:
            # A pool connection that has served a NOTIFY and waits, idle, for the next.
            await store.notify(cluster.notify_channel, ['{"n": "warm-up"}'])
            pids = server_processes(postgres)
            signal_all(pids, signal.SIGSTOP)
            # The first goes out on that connection and hangs there; the second stays queued
            # for close() to flush.
            await cluster.relay("usr_1", {"type": "notification", "id": "ntf_1"})
            await asyncio.sleep(0.2)
            await cluster.relay("usr_1", {"type": "notification", "id": "ntf_2"})
            closing = asyncio.ensure_future(cluster.close())
            done, _ = await asyncio.wait({closing}, timeout=NEVER_SECONDS)
            assert closing in done, "closing waited for the hung server"
            closing.result()
            assert ("cluster-send still waiting for PostgreSQL after "
                    f"{CLOSE_WAIT_SECONDS:g} s were left behind") in caplog.text
        finally:
            signal_all(pids, signal.SIGCONT)
            with caplog.at_level(logging.CRITICAL):
                await store.close()
