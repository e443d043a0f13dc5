"""CPU per webhook unit of work, without HTTP or the sandbox: what the store side costs.

    .venv/bin/python bench/unit_of_work.py [--units 20000] [--concurrency 32]
    .venv/bin/python bench/unit_of_work.py --postgres postgresql://postgres@127.0.0.1/postgres

Runs the baseline's handling of a webhook body (bench/baseline_server.py `handle`: parse the
JSON, build the seed module's result, validate it, act on it and write the execution row in one
group-committed SQLite unit) without the HTTP around it. Prints CPU microseconds per unit (this
process, commit thread included) and units per second, and the same for a unit that only
inserts an execution row, the floor every webhook pays whatever its script returns, and the
ratio of the two (issue #16 aims at most 3x). The garbage collector is settled as the service
settles it at startup (runtime/collector.py): a unit's share of collections is what the service
pays, not what Python's default thresholds would charge. Asserts nothing.

Two webhook workloads, each a NotifyStart of a new call:
- every caller new (the headline, the worst case): a number never seen before each time, so
  nothing the runtime caches about a number (acting.normalize_phone) helps;
- a repeat caller: one srcPhone throughout, new call ids, the number's normalisation
  cached after the first. Its calls ring at 1,000 operator numbers in turn (dstPhone), as the
  bench never ends a call and a pile of open calls with the very same numbers would be a
  different cost (matching an event without a callId reads them).

With --postgres, the same units on a PostgresStore (a fresh schema, dropped after): CPU per
unit of this process and of the server's backends serving the store's pool (their
/proc/<pid>/stat, found with pg_backend_pid()), the two sides of a PostgreSQL webhook's store
cost; and the statements one unit sends (asyncpg's query logger).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_server import handle
from runtime import collector, ids
from runtime.store import SqliteStore, Store
from runtime.store.base import Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now
from runtime.store.postgres import PostgresStore

Unit = Callable[[Store, str, str, bytes], Awaitable[None]]
Numbers = Callable[[int], tuple[str, str]]  # the n-th webhook's (srcPhone, dstPhone)


def every_caller_new(n: int) -> tuple[str, str]:
    return f"+7916{n % 10_000_000:07d}", "101"


def repeat_caller(n: int) -> tuple[str, str]:
    return "+79161234567", str(1000 + n % 1000)


def backend_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these (server) processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def open_store(tmp: str, postgres: str | None, concurrency: int) -> Store:
    if postgres is None:
        return await SqliteStore.open(Path(tmp) / "unit.db", commit_window=0)
    return await PostgresStore.open(postgres, schema=f"bench_unit_{uuid.uuid4().hex[:12]}",
                                    pool_size=min(concurrency, 10))


async def backends(store: Store, probe: Callable[[], Awaitable[None]]) -> tuple[
        list[int], list[str]]:
    """The server processes behind every connection of a PostgresStore's pool (all opened),
    and the statements `probe` sent (logged on every connection while it ran: a logger
    costs the client CPU, so none stays for the measured units)."""
    if not isinstance(store, PostgresStore):
        return [], []
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    conns = [await store._pool.acquire() for _ in range(store._pool.get_max_size())]
    pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    for c in conns:
        c.add_query_logger(log)
        await store._pool.release(c)
    await probe()
    await asyncio.sleep(0)  # the query logger reports with call_soon
    conns = [await store._pool.acquire() for _ in range(store._pool.get_max_size())]
    for c in conns:
        c.remove_query_logger(log)
        await store._pool.release(c)
    return pids, sent


async def close(store: Store) -> None:
    if isinstance(store, PostgresStore):
        async with store._pool.acquire() as conn:
            await conn.execute(f'DROP SCHEMA "{store.schema}" CASCADE')
    await store.close()


async def execution_row_only(store: Store, tenant_id: str, module_id: str, body: bytes
                             ) -> None:
    execution = Execution(
        id=ids.new_id(ids.EXECUTION), tenant_id=tenant_id, module_id=module_id,
        version_id=None, function="VoipParseWebhookRequest", outcome=ExecutionOutcome.OK,
        created_at=utc_now(), request={"method": "POST", "body": json.loads(body)})

    async def unit(tx: Tx) -> None:
        await tx.insert_execution(execution)

    await store.write(unit)


def clients(work: Unit, store: Store, tenant_id: str, module_id: str,
            numbers: Numbers = every_caller_new) -> Callable[[int], Awaitable[None]]:
    """A client: `client(count)` runs `count` units in turn, each a NotifyStart of a new call,
    numbered across every client made by the same call to this."""
    counter = itertools.count()

    async def client(count: int) -> None:
        for _ in range(count):
            n = next(counter)
            src, dst = numbers(n)
            body = json.dumps({"type": "start", "callId": f"u-{n}", "srcPhone": src,
                               "dstPhone": dst}).encode()
            await work(store, tenant_id, module_id, body)

    return client


async def measure(work: Unit, units: int, concurrency: int, postgres: str | None,
                  numbers: Numbers = every_caller_new) -> tuple[float, float, float, list[str]]:
    """CPU µs per unit (this process, the server's backends), units/s, one unit's statements."""
    with tempfile.TemporaryDirectory(prefix="voip-unit-") as tmp:
        store = await open_store(tmp, postgres, concurrency)
        tenant = await store.create_tenant("bench")
        module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
        client = clients(work, store, tenant.id, module.id, numbers)
        collector.settle()  # as the service does at startup
        await asyncio.gather(*(client(100) for _ in range(concurrency)))  # warm up
        pids, unit_sent = await backends(store, lambda: client(1))
        per_client = units // concurrency
        server = backend_cpu(pids)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = backend_cpu(pids) - server
        await close(store)
        done = per_client * concurrency
        return cpu / done * 1e6, server / done * 1e6, done / wall, unit_sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", help="a PostgreSQL URL: run the units on PostgreSQL")
    parser.add_argument("--statements", action="store_true",
                        help="print the statements one webhook unit sends (PostgreSQL)")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    where = "PostgreSQL" if args.postgres else "SQLite group commit"
    print(f"{args.units} units, {args.concurrency} at a time, {where}")
    works: tuple[tuple[str, Unit, Numbers], ...] = (
        ("execution row only", execution_row_only, every_caller_new),
        ("webhook unit of work", handle, every_caller_new),
        ("  same, repeat caller", handle, repeat_caller))
    cpu: list[float] = []
    for label, work, numbers in works:
        cpu_us, server_us, per_second, sent = asyncio.run(
            measure(work, args.units, args.concurrency, args.postgres, numbers))
        cpu.append(cpu_us)
        server = f"   server {server_us:6.0f} µs" if args.postgres else ""
        print(f"  {label:<22} {cpu_us:6.0f} µs CPU per unit{server}   {per_second:7.0f} units/s"
              + (f"   {len(sent)} round trips" if args.postgres else ""))
        if args.statements:
            for statement in sent:
                print(f"    > {statement}")
    # Issue #16's aim: a webhook's unit at most 3x the floor, in the same run; the headline
    # is the unit whose caller is new (the worst case).
    print(f"  webhook unit / execution row only: {cpu[1] / cpu[0]:.1f}x CPU (aim: at most 3x)")
    print(f"  repeat caller / execution row only: {cpu[2] / cpu[0]:.1f}x CPU")


if __name__ == "__main__":
    main()
