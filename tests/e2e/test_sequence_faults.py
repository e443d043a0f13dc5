"""Whole call sequences under faults, against the real service as a separate process: SIGKILL
in the middle (SQLite; PostgreSQL with one node and with two), PostgreSQL's sessions killed,
SIGTERM, the SQLite file locked by another process. The provider retries each webhook until
it is acknowledged and sometimes once more after; afterwards every call is stored once, in its
final state, with each step applied once
(call_sequences.check_sequences)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests import pg
from tests.e2e.call_sequences import SequenceLoad, check_sequences, known_contacts, plan_call
from tests.e2e.private_postgres import private_postgres
from tests.e2e.service_process import SeedTenant, ServiceProcess, call_json, seed_tenant
from tests.e2e.test_storage_full import fill, small_disk  # noqa: F401 (a fixture)

CALLS = 80


def plans(prefix: str, count: int = CALLS) -> list[Any]:
    return [plan_call(n, prefix, answered=n % 3 != 0) for n in range(count)]


async def until(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def sigkill(service: ServiceProcess) -> None:
    assert service.process is not None
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()


async def run_with_fault(services: list[ServiceProcess], fault: Callable[[SequenceLoad],
                         Awaitable[None]], *, prefix: str = "c",
                         crashed_workers: bool = False) -> None:
    """Sequences through every node's webhook URL; `fault` runs once a third of the steps were
    acknowledged; the load goes on (retrying) until every call's steps were acknowledged.
    `crashed_workers`: the fault kills sandbox workers, so a call it cut short is answered
    500 naming an execution whose error says the worker stopped."""
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tenant: SeedTenant = await seed_tenant(session, services[0].base)
        call_plans = plans(prefix)
        await known_contacts(session, tenant.api, tenant.key, call_plans)
        hooks = [tenant.hook.replace(services[0].base, s.base) for s in services]
        load = SequenceLoad(hooks, call_plans)
        total = sum(len(p.steps) for p in call_plans)
        runner = asyncio.ensure_future(load.run(session))
        try:
            await until("a third of the steps", lambda: load.acks >= total // 3 or runner.done())
            assert not runner.done(), "the load ended before the fault"
            await fault(load)
            await asyncio.wait_for(runner, 240)
        finally:
            runner.cancel()
        await check_sequences(session, services[-1].base + "/api/v1", tenant.key, call_plans)
        # Nothing answered with an error the provider could not retry on; each refusal says
        # when to retry and why.
        assert set(load.refused) <= ({500, 503} if crashed_workers else {503}), (
            load.refused, load.refusal_bodies[:3])
        for status, headers, text in load.refusal_bodies:
            if status == 500:
                execution = await call_json(
                    session, "GET", f"{tenant.api}/executions/{json.loads(text)['execution_id']}",
                    tenant.key)
                assert execution["error"]["type"] == "WorkerCrashed", execution
                continue
            assert int(headers["Retry-After"]) > 0, (headers, text)
            assert json.loads(text)["error"] in ("storage_unavailable", "shutting_down"), text


async def test_sigkill_in_the_middle_of_call_sequences_sqlite(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()

        async def crash(load: SequenceLoad) -> None:
            sigkill(service)
            await asyncio.sleep(0.3)
            service.start()

        await run_with_fault([service], crash)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()


def sandbox_processes(service: ServiceProcess) -> tuple[list[int], list[int]]:
    """The service's worker templates (its children) and their workers (theirs)."""
    assert service.process is not None

    def children(pid: int) -> list[int]:
        try:
            return [int(c) for c in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    templates = children(service.process.pid)
    return templates, [w for t in templates for w in children(t)]


async def test_workers_and_template_sigkilled_from_outside_in_the_middle_of_call_sequences(
        tmp_path: Path) -> None:
    """Sandbox workers SIGKILLed from outside (an OOM killer, an operator) one after another
    under load, then their template: a call a killed worker was running is answered 500 naming
    an execution that says so (the provider retries), the calls queued behind it run on a new
    worker, and every call is stored once."""
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()

        async def kill_workers(load: SequenceLoad) -> None:
            for _ in range(8):
                before = load.acks
                _, workers = sandbox_processes(service)
                for pid in workers[:1]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                await until("acknowledgements after the kill",
                            lambda before=before: load.acks >= before + 5)
            templates, _ = sandbox_processes(service)
            for pid in templates:
                os.kill(pid, signal.SIGKILL)

        await run_with_fault([service], kill_workers, crashed_workers=True)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()


async def with_postgres_nodes(tmp_path: Path, count: int,
                              body: Callable[[list[ServiceProcess], str], Awaitable[None]],
                              url: str | None = None) -> None:
    """`count` nodes on one fresh schema of the shared server (or of `url`)."""
    url = url or await pg.postgres_url()
    schema = pg.new_schema_name()
    nodes = []
    for n in range(count):
        (tmp_path / f"node{n}").mkdir()
        nodes.append(ServiceProcess(tmp_path / f"node{n}",
                                    storage_url=f"{url}?schema={schema}"))
    try:
        for node in nodes:  # one at a time: the first migrates the schema
            node.start()
            await node.wait_ready()
        await body(nodes, url)
    finally:
        for node in nodes:
            node.stop()
        await pg.drop_schema(url, schema)
    for node in nodes:
        assert "Traceback" not in node.log(), node.log()


async def test_sigkill_in_the_middle_of_call_sequences_postgres(tmp_path: Path) -> None:
    async def body(nodes: list[ServiceProcess], url: str) -> None:
        async def crash(load: SequenceLoad) -> None:
            sigkill(nodes[0])
            await asyncio.sleep(0.3)
            nodes[0].start()

        await run_with_fault(nodes, crash)

    await with_postgres_nodes(tmp_path, 1, body)


async def test_sigkill_of_one_of_two_nodes_in_the_middle_of_call_sequences(
        tmp_path: Path) -> None:
    async def body(nodes: list[ServiceProcess], url: str) -> None:
        async def crash(load: SequenceLoad) -> None:
            sigkill(nodes[0])
            before = load.acks
            # The other node goes on serving the calls meanwhile.
            await until("the other node's acknowledgements", lambda: load.acks >= before + 20)
            nodes[0].start()

        await run_with_fault(nodes, crash)

    await with_postgres_nodes(tmp_path, 2, body)


async def test_postgres_sessions_killed_in_the_middle_of_call_sequences(
        tmp_path: Path) -> None:
    """The service's sessions killed five times (a server of the test's own: killing sessions
    on the shared one would hit other tests); nothing acknowledged is lost, the refusals are
    503s, and the log has no traceback."""
    async def body(nodes: list[ServiceProcess], url: str) -> None:
        async def terminate(load: SequenceLoad) -> None:
            admin = await asyncpg.connect(url)
            try:
                for _ in range(5):
                    before = load.acks
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid <> pg_backend_pid() AND application_name LIKE 'voip-runtime%'")
                    await until("acknowledgements after the kill",
                                lambda before=before: load.acks >= before + 5)
            finally:
                await admin.close()

        await run_with_fault(nodes, terminate)

    with private_postgres() as postgres:
        await with_postgres_nodes(tmp_path, 2, body, postgres.url)


async def test_sigterm_in_the_middle_of_call_sequences_then_restart(tmp_path: Path) -> None:
    """A graceful stop under load: what is in flight finishes or is refused (503, or the
    connection refused once the socket closed), the process exits 0, and after the restart
    the sequences complete with nothing lost or doubled."""
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()

        async def stop_and_start(load: SequenceLoad) -> None:
            service.terminate()
            assert await asyncio.to_thread(service.wait, 60) == 0, service.log()
            service.start()

        await run_with_fault([service], stop_and_start)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()


async def test_sqlite_disk_full_in_the_middle_of_call_sequences(
        small_disk: Path, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    """The data directory's filesystem fills up under load: 503s while it lasts (the provider
    retries), recovery without a restart when space is back, and every call stored once.
    (Remounting it read-only is refused while the database is open for writing, EBUSY, so a
    read-only data directory is only met at start.)"""
    service = ServiceProcess(tmp_path, data_dir=small_disk / "data")
    service.start()
    try:
        await service.wait_ready()

        async def disk_full(load: SequenceLoad) -> None:
            filler = fill(small_disk)
            try:
                await until("503s", lambda: load.refused[503] >= 20)
            finally:
                filler.unlink()

        await run_with_fault([service], disk_full)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()


async def test_postgres_stopped_in_the_middle_of_call_sequences_on_two_nodes(
        tmp_path: Path) -> None:
    """The database stops under load and comes back: both nodes answer 503 with Retry-After
    meanwhile, recover without a restart, and every call is stored once."""
    with private_postgres() as postgres:
        async def body(nodes: list[ServiceProcess], url: str) -> None:
            async def stop_and_start(load: SequenceLoad) -> None:
                await asyncio.to_thread(postgres.stop)
                try:
                    await until("503s", lambda: load.refused[503] >= 20)
                finally:
                    await asyncio.to_thread(postgres.start)

            await run_with_fault(nodes, stop_and_start)

        await with_postgres_nodes(tmp_path, 2, body, postgres.url)


async def test_sqlite_locked_by_another_process_in_the_middle_of_call_sequences(
        tmp_path: Path) -> None:
    """Another program (a backup script, an operator's sqlite3 shell) holds the database's
    write lock under load, past the service's busy timeout: webhooks are answered 503 with
    Retry-After and a JSON cause naming the lock, never acknowledged unstored; once the lock
    is let go the service takes writes again without a restart, and every call is stored
    once."""
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()

        async def locked(load: SequenceLoad) -> None:
            taken, release = threading.Event(), threading.Event()

            def hold() -> None:
                conn = sqlite3.connect(service.data_dir / "voip-runtime.db",
                                       isolation_level=None, timeout=30)
                try:
                    conn.execute("BEGIN EXCLUSIVE")
                    taken.set()
                    release.wait(120)
                    conn.execute("ROLLBACK")
                finally:
                    conn.close()

            holder = asyncio.ensure_future(asyncio.to_thread(hold))
            try:
                await until("the lock taken", taken.is_set)
                await until("503s", lambda: load.refused[503] >= 1)
            finally:
                release.set()
                await holder
            refusal = [json.loads(text) for status, _, text in load.refusal_bodies
                       if status == 503]
            assert refusal[0] == {
                "error": "storage_unavailable",
                "message": "storage unavailable: the database is locked by another process; "
                           "nothing was stored, retry later"}, refusal[0]

        await run_with_fault([service], locked)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()
