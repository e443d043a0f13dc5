"""The webhook's unit of work (acting on a NotifyStart + its execution-log row) through each
store backend and commit strategy, many writers at once. Units per second, and ratios to
SQLite's group commit measured in the same run.

    .venv/bin/python bench/store_backends.py --pg-url postgresql://postgres@127.0.0.1/postgres
        [--units 3000] [--concurrency 64] [--modules 1,16]

Strategies:
  sqlite              SqliteStore: one writer, units in savepoints, one fsync per batch
  pg pool N           PostgresStore: one transaction per unit on a pool of N connections
  pg group            one connection, units in savepoints of one transaction per batch (the
                      SQLite writer's shape, PgTx on one connection): the alternative that
                      PostgresStore does not take; prototype here only to measure it
Each run uses fresh tables (a new schema or file). `--modules`: the units are spread over
that many modules of one tenant, each with its own operator, whom every unit of that module
notifies (PostgreSQL: units of different calls never wait for each other, but units notifying
one user queue from their notification to their COMMIT: runtime/store/locks.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import ids
from runtime.acting import ActContext, act
from runtime.contract import ParseResult, validate_result
from runtime.store import SqliteStore, Store
from runtime.store.base import Tx
from runtime.store.locks import AdvisoryLocks
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now
from runtime.store.postgres import PgTarget, PostgresStore
from runtime.store.postgres_port import PgPort
from runtime.store.tx import SqlTx, run_unit

Unit = Callable[[Tx], Awaitable[Any]]


def webhook_unit(tenant_id: str, module_id: str, n: int) -> Unit:
    """What the runner commits for one "start" webhook of the seed module."""
    result = validate_result("VoipParseWebhookRequest", {"event": {
        "event": "notify_start", "direction": "in", "disposition": "unknown",
        "srcPhone": f"7916{n:07d}", "dstPhone": "101", "callId": f"c-{n}"}})
    assert isinstance(result, ParseResult)
    execution = Execution(
        id=ids.new_id(ids.EXECUTION), tenant_id=tenant_id, module_id=module_id,
        version_id=None, function="VoipParseWebhookRequest", outcome=ExecutionOutcome.OK,
        created_at=utc_now(), request={"method": "POST", "body": "{}"}, result=result.to_json(),
    )
    context = ActContext(tenant_id=tenant_id, module_id=module_id, region="RU",
                         execution_id=execution.id, now=utc_now())

    async def unit(tx: Tx) -> None:
        effects = await act(tx, context, result)
        await tx.insert_execution(replace(execution, effects=effects.to_json()))

    return unit


class PgGroupCommit:
    """Prototype: the SQLite writer's group commit over one PostgreSQL connection."""

    def __init__(self, conn: asyncpg.Connection, window: float) -> None:
        self.conn = conn
        self.window = window
        self.queue: asyncio.Queue[tuple[Unit, asyncio.Future[Any]]] = asyncio.Queue()
        self.batches = 0
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def write(self, unit: Unit) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((unit, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.window:
                await asyncio.sleep(self.window)
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            done = []
            async with self.conn.transaction():
                for i, (unit, future) in enumerate(batch):
                    await self.conn.execute(f"SAVEPOINT u{i}")
                    try:
                        port = PgPort(self.conn)
                        value = await run_unit(SqlTx(port, AdvisoryLocks(port), utc_now), unit)
                    except Exception as error:
                        await self.conn.execute(f"ROLLBACK TO SAVEPOINT u{i}")
                        future.set_exception(error)
                        continue
                    await self.conn.execute(f"RELEASE SAVEPOINT u{i}")
                    done.append((future, value))
            self.batches += 1
            for future, value in done:
                future.set_result(value)


async def seed(store: Store, modules: int) -> tuple[str, list[str]]:
    """One tenant; each module a line with its own operator bound to 101."""
    tenant = await store.create_tenant("bench")
    module_ids = []
    for i in range(modules):
        user = await store.create_user(tenant.id, f"operator{i}")
        module = await store.create_module(tenant.id, NewModule(name=f"m{i}", region="RU"))
        await store.set_bindings(tenant.id, module.id, {"101": user.id})
        module_ids.append(module.id)
    return tenant.id, module_ids


async def drive(write: Callable[[Unit], Awaitable[Any]], tenant_id: str, modules: list[str],
                units: int, concurrency: int) -> float:
    """Units per second with `concurrency` writers in flight."""
    todo = [webhook_unit(tenant_id, modules[n % len(modules)], n) for n in range(units)]
    gate = asyncio.Semaphore(concurrency)

    async def one(unit: Unit) -> None:
        async with gate:
            await write(unit)

    started = time.perf_counter()
    await asyncio.gather(*(one(u) for u in todo))
    return units / (time.perf_counter() - started)


async def run_sqlite(args: argparse.Namespace, modules: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        store = await SqliteStore.open(Path(directory) / "bench.db", commit_window=0.002)
        tenant_id, module_ids = await seed(store, modules)
        rate = await drive(store.write, tenant_id, module_ids, args.units, args.concurrency)
        stats = store.stats()
        await store.close()
    print(f"  sqlite group commit      {rate:8.0f} units/s   "
          f"(average batch {stats.average_batch:.1f})")
    return rate


async def run_pg_pool(args: argparse.Namespace, modules: int, size: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = await PostgresStore.open(args.pg_url, schema=schema, pool_size=size)
    try:
        tenant_id, module_ids = await seed(store, modules)
        rate = await drive(store.write, tenant_id, module_ids, args.units, args.concurrency)
        retries = store.retries
    finally:
        await store.close()
        await drop(args.pg_url, schema)
    print(f"  pg pool of {size:<3}           {rate:8.0f} units/s   (retries {retries})")
    return rate


async def run_pg_group(args: argparse.Namespace, modules: int, window: float) -> float:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    store = await PostgresStore.open(args.pg_url, schema=schema, pool_size=2)
    conn = await PgTarget.parse(args.pg_url, schema).connect()
    try:
        tenant_id, module_ids = await seed(store, modules)
        group = PgGroupCommit(conn, window)
        rate = await drive(group.write, tenant_id, module_ids, args.units, args.concurrency)
        group.task.cancel()
        batches = group.batches
    finally:
        await conn.close()
        await store.close()
        await drop(args.pg_url, schema)
    print(f"  pg group, window {window * 1000:.0f} ms    {rate:8.0f} units/s   "
          f"(average batch {args.units / max(batches, 1):.1f})")
    return rate


async def drop(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--modules", default="1,16")
    parser.add_argument("--pool-sizes", default="4,10,20")
    parser.add_argument("--rounds", type=int, default=3,
                        help="every strategy once per round, interleaved; medians reported")
    args = parser.parse_args()
    print(f"{args.units} webhook units, {args.concurrency} in flight, {args.rounds} rounds")
    for modules in [int(m) for m in args.modules.split(",")]:
        print(f"spread over {modules} module(s):")
        rates: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            rates.setdefault("sqlite", []).append(await run_sqlite(args, modules))
            for size in [int(s) for s in args.pool_sizes.split(",")]:
                rates.setdefault(f"pg pool {size}", []).append(
                    await run_pg_pool(args, modules, size))
            for window in (0.0, 0.002):
                rates.setdefault(f"pg group {window * 1000:.0f}ms", []).append(
                    await run_pg_group(args, modules, window))
        medians = {k: statistics.median(v) for k, v in rates.items()}
        base = medians.pop("sqlite")
        print(f"  medians: sqlite {base:.0f}/s; " + ", ".join(
            f"{k} {v:.0f}/s ({v / base:.2f})" for k, v in medians.items()))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
