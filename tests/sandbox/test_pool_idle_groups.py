"""What the pool learns of a group (its load, that it runs checks) lasts while the group is
around, not for the pool's whole life.

A service's node sees tenants come and go for months: groups whose tenant was deleted on
another node, tenants gone quiet, each tenant's checks' group after its upload. The pool kept
each one's load for good, and past 10,000 of them it forgot the *active* quick groups' loads
after each of their calls instead, so no quick tenant pipelined any more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sandbox import Limits, SandboxPool
from sandbox import pool as pool_module
from sandbox.scheduler import GroupLoad
from tests.sandbox.test_pool import BENIGN, benign_call

LIMITS = Limits(wall_seconds=20, cpu_seconds=5)


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for `condition()` (the pool's sweep runs every second), failing after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "the pool kept what it knew of groups gone idle"
        await asyncio.sleep(0.05)


async def test_groups_that_went_idle_are_forgotten() -> None:
    async with SandboxPool(size=2, limits=LIMITS, idle_seconds=0.2) as pool:
        groups = [f"tenant-{n}" for n in range(4)]
        for group in groups:
            assert (await pool.run(benign_call(), group=group)).ok
            assert (await pool.check(BENIGN, group=f"check:{group}")).ok
        known = set(groups) | {f"check:{g}" for g in groups}
        assert known <= set(pool._loads)
        await until(lambda: known.isdisjoint(pool._loads)
                    and known.isdisjoint(pool._check_groups)
                    and known.isdisjoint(pool._budgets))
        # Back again: measured afresh, served as before.
        assert (await pool.run(benign_call(), group="tenant-0")).ok
        assert pool._loads["tenant-0"].observed == 1


async def test_a_heavy_group_is_remembered_while_idle_then_forgotten(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with SandboxPool(size=2, limits=LIMITS, idle_seconds=0.2) as pool:
        assert (await pool.run(benign_call(), group="heavy")).ok
        pool._loads["heavy"].heavy = True
        assert (await pool.run(benign_call(), group="light")).ok
        await until(lambda: "light" not in pool._loads)
        assert pool._loads["heavy"].heavy  # a heavy tenant back soon is still held back
        monkeypatch.setattr(pool_module, "HEAVY_LOAD_KEPT_SECONDS", 0.0)
        await until(lambda: "heavy" not in pool._loads)


async def test_a_quick_group_keeps_its_load_however_many_groups_came_before() -> None:
    async with SandboxPool(size=2, limits=LIMITS) as pool:
        # Groups of past months, long gone: no worker, nothing waiting.
        pool._loads.update({f"gone-{n}": GroupLoad(average_ms=0.5, observed=9)
                            for n in range(10_001)})
        for n in range(4):
            outcome = await pool.run(benign_call(n), group="quick")
            assert outcome.ok, outcome
        # Its calls are counted, so it may pipeline like any quick group.
        assert pool._loads["quick"].observed == 4
