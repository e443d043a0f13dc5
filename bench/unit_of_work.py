"""CPU per webhook unit of work, without HTTP or the sandbox: what the store side costs.

    .venv/bin/python bench/unit_of_work.py [--units 20000] [--concurrency 32]

Each unit is what bench/baseline_server.py does per webhook after reading the body: parse the
JSON, build the seed module's result, validate it, then act on it and write the execution row
in one group-committed SQLite unit. Prints CPU microseconds per unit (this process, commit
thread included) and units per second, and the same for a unit that only inserts the execution
row, as the floor any webhook pays. Asserts nothing.
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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_server import seed_result
from runtime import ids
from runtime.acting import ActContext, act
from runtime.contract import ParseResult, validate_result
from runtime.store import SqliteStore
from runtime.store.base import Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now

REQUEST_HEADERS = [["Host", "127.0.0.1:8080"], ["Content-Type", "application/json"],
                   ["Content-Length", "90"]]


async def measure(units: int, concurrency: int, full: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="voip-unit-") as tmp:
        store = await SqliteStore.open(Path(tmp) / "unit.db", commit_window=0)
        tenant = await store.create_tenant("bench")
        module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
        counter = itertools.count()

        async def one() -> None:
            n = next(counter)
            body = json.dumps({"type": "start", "callId": f"u-{n}",
                               "srcPhone": f"+7916{n % 10_000_000:07d}",
                               "dstPhone": "101"}).encode()
            data = json.loads(body)
            result = validate_result("VoipParseWebhookRequest", seed_result(data))
            assert isinstance(result, ParseResult)
            execution = Execution(
                id=ids.new_id(ids.EXECUTION), tenant_id=tenant.id, module_id=module.id,
                version_id=None, function="VoipParseWebhookRequest",
                outcome=ExecutionOutcome.OK, created_at=utc_now(),
                request={"method": "POST", "url": "http://127.0.0.1:8080/hooks/token",
                         "headers": REQUEST_HEADERS, "body": body.decode()},
                result=result.to_json())
            context = ActContext(tenant_id=tenant.id, module_id=module.id, region="RU",
                                 execution_id=execution.id, now=utc_now())

            async def unit(tx: Tx) -> None:
                if full:
                    effects = await act(tx, context, result)
                    await tx.insert_execution(replace(execution, effects=effects.to_json()))
                else:
                    await tx.insert_execution(execution)

            await store.write(unit)

        async def client(count: int, work: Callable[[], Awaitable[None]]) -> None:
            for _ in range(count):
                await work()

        await asyncio.gather(*(client(100, one) for _ in range(concurrency)))  # warm up
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(units // concurrency, one) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await store.close()
        done = units // concurrency * concurrency
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
    for label, full in (("execution row only", False), ("webhook unit of work", True)):
        cpu_us, per_second = asyncio.run(measure(args.units, args.concurrency, full))
        print(f"  {label:<22} {cpu_us:6.0f} µs CPU per unit   {per_second:7.0f} units/s")


if __name__ == "__main__":
    main()
