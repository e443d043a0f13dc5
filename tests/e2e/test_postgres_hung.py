"""PostgreSQL that does not answer at all (a dropped network, a hung host: SIGSTOP here), not
one that refuses: the real service answers new webhooks 503 with Retry-After while it hangs,
rather than holding them for asyncpg's 60 s connect timeout or until TCP gives up, and
recovers by itself when the server answers again. The server is the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.e2e.private_postgres import PrivatePostgres, private_postgres
from tests.e2e.service_process import ServiceProcess, seed_tenant

# Less than asyncpg's default connect timeout (60 s): the old code answered nothing within it.
WHILE_HUNG_SECONDS = 40


def server_processes(postgres: PrivatePostgres) -> list[int]:
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                              text=True).stdout.split()
    return [postmaster, *map(int, children)]


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


async def test_a_hung_postgresql_is_answered_503_while_it_hangs(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=postgres.url + "?schema=voip")
        service.start()
        pids: list[int] = []
        try:
            await service.wait_ready()
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=180)) as session:
                tenant = await seed_tenant(session, service.base)
                assert (await tenant.send(session, "before"))[0] == 200
                pids = server_processes(postgres)
                signal_all(pids, signal.SIGSTOP)
                sent = [asyncio.ensure_future(tenant.send(session, f"hung-{n}"))
                        for n in range(6)]
                # A webhook that took a pool connection already open waits on it; the others
                # must be answered while the server still hangs.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + WHILE_HUNG_SECONDS
                pending = set(sent)
                while len(pending) > 3 and loop.time() < deadline:
                    _, pending = await asyncio.wait(
                        pending, timeout=deadline - loop.time(),
                        return_when=asyncio.FIRST_COMPLETED)
                answered = [task.result() for task in sent if task not in pending]
                assert len(answered) >= 3, f"{len(answered)} of 6 answered while it hung"
                for status, headers, text in answered:
                    assert status == 503, (status, text)
                    assert int(headers["Retry-After"]) > 0
                    assert json.loads(text) == {
                        "error": "storage_unavailable",
                        "message": "storage unavailable: database unreachable; nothing was "
                                   "stored, retry later"}
                signal_all(pids, signal.SIGCONT)
                pids = []
                for task in pending:
                    assert (await task)[0] in (200, 503)
                deadline = loop.time() + 90
                while (await tenant.send(session, "after"))[0] != 200:
                    assert loop.time() < deadline, "never recovered"
                    await asyncio.sleep(0.2)
                assert tenant.acknowledged <= await tenant.stored_calls(session)
        finally:
            signal_all(pids, signal.SIGCONT)
            service.stop()
        assert "Traceback" not in service.log(), service.log()


async def retention_batch_waiting_on_a_lock(postgres: PrivatePostgres) -> asyncpg.Connection:
    """A connection of the test's own holding the table of console sign-outs (which only the
    pruner and the console touch) until it is closed, once one of the service's retention
    batches waits for it: a batch caught mid-statement when the server then hangs."""
    holder = await asyncpg.connect(postgres.url)
    await holder.execute("BEGIN; LOCK TABLE voip.console_signed_out IN ACCESS EXCLUSIVE MODE")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    # (Not by the waiting session's `query`: with prepared statements it may still show the
    # connection's previous one.)
    while not await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'voip-runtime' "
            "AND wait_event_type = 'Lock' AND wait_event = 'relation'"):
        assert loop.time() < deadline, "no retention batch came to the locked table"
        await asyncio.sleep(0.05)
    return holder


async def test_sigterm_while_postgresql_hangs_still_stops_the_service(tmp_path: Path) -> None:
    """A stopping node waits for its units, its retention batch and the pool's connections a
    bounded time: a hung database must not keep it running (until TCP gives up, many
    minutes) after SIGTERM. Webhooks are in flight and a retention batch is mid-statement
    when the server hangs (a pruner waiting for its batch held a stopping node for good)."""
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=postgres.url + "?schema=voip",
                                 sandbox={"workers": 2, "other_wall_seconds": 2},
                                 retention={"interval_seconds": 0.1})
        service.start()
        pids: list[int] = []
        holder: asyncpg.Connection | None = None
        try:
            await service.wait_ready()
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=180)) as session:
                tenant = await seed_tenant(session, service.base)
                assert (await tenant.send(session, "before"))[0] == 200
                holder = await retention_batch_waiting_on_a_lock(postgres)
                pids = server_processes(postgres)
                signal_all(pids, signal.SIGSTOP)
                in_flight = [asyncio.ensure_future(tenant.send(session, f"hung-{n}"))
                             for n in range(3)]
                await asyncio.sleep(0.5)
                service.terminate()
                # Stopped while the server still hangs (the old code waited for it forever).
                try:
                    code = await asyncio.to_thread(service.wait, 90)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"still running 90 s after SIGTERM; its log:\n{service.log()}")
                assert code == 0, service.log()
                for answer in await asyncio.gather(*in_flight, return_exceptions=True):
                    # 503 (the storage refused) or the connection closed: never a 2xx.
                    assert isinstance(answer, aiohttp.ClientError) or answer[0] == 503, answer
        finally:
            signal_all(pids, signal.SIGCONT)
            if holder is not None:
                holder.terminate()
            service.stop()
        log = service.log()
        assert "Traceback" not in log, log
        assert "the retention batch still waiting for the store after 2 s was left" in log, log
        assert "still waiting for PostgreSQL after 5 s were abandoned" in log, log
