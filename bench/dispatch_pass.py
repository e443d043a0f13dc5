"""The pool's dispatch pass with many tenants waiting and every worker slot taken, in this
process: the state `bench/isolation.py`'s interleaved tenants keep the pool in (more calls
than slots, each tenant with its own worker, a few of them busy), set up on workers that stand
in for processes (no pipes, nothing forked). After each call that ends, the pool runs such a
pass and then looks for tenants short of a worker (`_replenish`); nothing can start in it.

    .venv/bin/python bench/dispatch_pass.py [--passes 20000] [--tenants 50] [--waiting 20]

Prints the time per pass. The machine is shared, so count instructions instead:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/d.cg \\
        .venv/bin/python bench/dispatch_pass.py --passes 2000
    (and once with --passes 0: the difference of the totals / 2000 is one pass's instructions)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sandbox.pool import SandboxPool  # noqa: E402
from sandbox.scheduler import GroupLoad  # noqa: E402
from sandbox.workers import Worker  # noqa: E402

SIZE = 2
INFLIGHT_PER_WORKER = 4


async def measure(passes: int, tenants: int, waiting: int) -> None:
    pool = SandboxPool(size=SIZE, inflight_per_worker=INFLIGHT_PER_WORKER, max_workers=64)
    pool._template = types.SimpleNamespace(ready=True, down=False)  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    busy = SIZE * INFLIGHT_PER_WORKER  # every slot taken
    for index in range(tenants):
        group = f"tenant-{index}"
        worker = Worker(id=index, pid=0, pidfd=None, group=group, ready=True, gone=True)
        pool._workers.append(worker)
        pool._by_group[group] = [worker]
        pool._bound += 1
        pool._loads[group] = GroupLoad(average_ms=0.3, observed=100)  # known quick
        if index < busy:
            worker.inflight.append(object())  # type: ignore[arg-type]
            pool._busy.add(worker)
    for index in range(2):
        pool._spares.append(Worker(id=tenants + index, pid=0, pidfd=None, ready=True))
    for index in range(busy, busy + waiting):  # tenants whose own worker is idle
        group = f"tenant-{index}"
        pool._waiting.push(group, types.SimpleNamespace(  # type: ignore[arg-type]
            future=loop.create_future(), group=group))
    started = time.perf_counter()
    for _ in range(passes):
        pool._dispatch()
    took = time.perf_counter() - started
    if len(pool._waiting) != waiting or pool._starting:
        raise SystemExit("a pass started something: the state is not the one meant")
    if passes:
        print(f"{took / passes * 1e6:.2f} µs per pass ({tenants} tenants, {busy} busy, "
              f"{waiting} waiting)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=20000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(measure(args.passes, args.tenants, args.waiting))


if __name__ == "__main__":
    main()
