"""CPU per webhook unit of work, without HTTP or the sandbox: what the store side costs.

    .venv/bin/python bench/unit_of_work.py [--units 20000] [--concurrency 32]

Runs the baseline's handling of a webhook body (bench/baseline_server.py `handle`: parse the
JSON, build the seed module's result, validate it, act on it and write the execution row in one
group-committed SQLite unit) without the HTTP around it. Prints CPU microseconds per unit (this
process, commit thread included) and units per second, and the same for a unit that only
inserts an execution row, the floor every webhook pays whatever its script returns, and the
ratio of the two (issue #16 aims at most 3x). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_server import handle
from runtime import ids
from runtime.store import SqliteStore
from runtime.store.base import Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now

Unit = Callable[[SqliteStore, str, str, bytes], Awaitable[None]]


async def execution_row_only(store: SqliteStore, tenant_id: str, module_id: str, body: bytes
                             ) -> None:
    execution = Execution(
        id=ids.new_id(ids.EXECUTION), tenant_id=tenant_id, module_id=module_id,
        version_id=None, function="VoipParseWebhookRequest", outcome=ExecutionOutcome.OK,
        created_at=utc_now(), request={"method": "POST", "body": json.loads(body)})

    async def unit(tx: Tx) -> None:
        await tx.insert_execution(execution)

    await store.write(unit)


async def measure(work: Unit, units: int, concurrency: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="voip-unit-") as tmp:
        store = await SqliteStore.open(Path(tmp) / "unit.db", commit_window=0)
        tenant = await store.create_tenant("bench")
        module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
        counter = itertools.count()

        async def client(count: int) -> None:
            for _ in range(count):
                n = next(counter)
                body = json.dumps({"type": "start", "callId": f"u-{n}",
                                   "srcPhone": f"+7916{n % 10_000_000:07d}",
                                   "dstPhone": "101"}).encode()
                await work(store, tenant.id, module.id, body)

        await asyncio.gather(*(client(100) for _ in range(concurrency)))  # warm up
        per_client = units // concurrency
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await store.close()
        done = per_client * concurrency
        return cpu / done * 1e6, done / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(f"{args.units} units, {args.concurrency} at a time, SQLite group commit")
    works: tuple[tuple[str, Unit], ...] = (("execution row only", execution_row_only),
                                           ("webhook unit of work", handle))
    cpu: list[float] = []
    for label, work in works:
        cpu_us, per_second = asyncio.run(measure(work, args.units, args.concurrency))
        cpu.append(cpu_us)
        print(f"  {label:<22} {cpu_us:6.0f} µs CPU per unit   {per_second:7.0f} units/s")
    # Issue #16's aim: a webhook's unit at most 3x the floor, in the same run.
    print(f"  webhook unit / execution row only: {cpu[1] / cpu[0]:.1f}x CPU (aim: at most 3x)")


if __name__ == "__main__":
    main()
