"""`SandboxPool.drop_group`: a deleted tenant's calls fail at once, running or queued, and its
workers are killed; other groups are untouched."""

from __future__ import annotations

import asyncio

from sandbox import Limits, SandboxPool
from tests.sandbox.test_pool import benign_call, parse_call, script

SLOW = script("n = 0\nfor i in range(10 ** 10):\n    n += i\nreturn {}\n")


async def test_dropping_a_group_fails_its_calls_and_kills_its_workers() -> None:
    limits = Limits(wall_seconds=60, cpu_seconds=60)
    async with SandboxPool(size=2, limits=limits, workers_per_group=1) as pool:
        assert (await pool.run(benign_call(1), group="kept")).ok
        kept_pids = {w.pid for w in pool.workers() if w.group == "kept"}
        running = [asyncio.create_task(pool.run(parse_call(SLOW), group="doomed"))
                   for _ in range(3)]  # one runs, the others wait behind it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not any(w.group == "doomed" and w.busy for w in pool.workers()):
            assert loop.time() < deadline, "the doomed group's call never started"
            await asyncio.sleep(0.01)
        started = loop.time()
        assert pool.drop_group("doomed") == 1
        outcomes = await asyncio.wait_for(asyncio.gather(*running), 5)
        assert loop.time() - started < 5
        for outcome in outcomes:
            assert not outcome.ok and outcome.error is not None
            assert outcome.error.type == "GroupDropped", outcome
        assert not any(w.group == "doomed" and w.ready for w in pool.workers())
        assert pool.drop_group("doomed") == 0
        # The other group keeps its worker and is served as before.
        assert {w.pid for w in pool.workers() if w.group == "kept"} == kept_pids
        assert (await pool.run(benign_call(2), group="kept")).ok
