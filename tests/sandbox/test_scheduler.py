"""Fairness between tenants: round-robin queues, no pipelining behind strangers, heavy groups
held to a few workers."""

from __future__ import annotations

import asyncio

from sandbox import Call, Limits, RequestData, SandboxPool
from sandbox.scheduler import (
    FairQueue,
    GroupLoad,
    RestartBudget,
    group_worker_cap,
    heavy_group_workers,
)

BURNER = "def VoipParseWebhookRequest(request):\n    while True:\n        pass\n"
QUICK = "def VoipParseWebhookRequest(request):\n    return {}\n"


def call(source: str) -> Call:
    return Call(source=source, function="VoipParseWebhookRequest", request=RequestData())


def test_groups_are_served_round_robin() -> None:
    queue: FairQueue[str] = FairQueue()
    for n in range(3):
        queue.push("a", f"a{n}")
    queue.push("b", "b0")
    served = []
    while queue:
        group = next(queue.groups())
        served.append(queue.pop(group))
    assert served == ["a0", "b0", "a1", "a2"]


def test_a_call_put_back_goes_first() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("a", "a1")
    queue.push("b", "b1")
    queue.push_front("b", "b0")
    assert next(queue.groups()) == "b"
    assert queue.pop("b") == "b0"


def test_heaviness_follows_measured_durations() -> None:
    load = GroupLoad()
    load.observe(2.0, hit_limit=False)
    assert not load.heavy
    load.observe(1000.0, hit_limit=True)
    assert load.heavy
    for _ in range(30):
        load.observe(1.0, hit_limit=False)
    assert not load.heavy


def test_heavy_groups_never_hold_every_worker() -> None:
    assert heavy_group_workers(1) == 1
    assert heavy_group_workers(2) == 1
    assert heavy_group_workers(4) == 1
    assert heavy_group_workers(16) == 4


async def test_a_flooding_heavy_tenant_does_not_hold_back_a_light_one() -> None:
    limits = Limits(wall_seconds=30, cpu_seconds=0.3)
    async with SandboxPool(size=2, limits=limits) as pool:
        flood = [asyncio.ensure_future(pool.run(call(BURNER), group="noisy"))
                 for _ in range(10)]
        # The first burners hit their limit, which marks the group heavy.
        await asyncio.wait(flood, return_when=asyncio.FIRST_COMPLETED)
        quiet = await asyncio.gather(*(pool.run(call(QUICK), group="quiet")
                                       for _ in range(30)))
        assert all(outcome.ok for outcome in quiet)
        # Every quiet call finished while most of the flood was still waiting its turn.
        assert sum(1 for task in flood if not task.done()) >= 5
        outcomes = await asyncio.gather(*flood)
        assert {outcome.limit for outcome in outcomes} == {"cpu"}


def test_only_groups_known_to_be_quick_are_pipelined() -> None:
    load = GroupLoad()
    assert not load.may_pipeline  # a newcomer: nothing known yet
    for _ in range(3):
        load.observe(0.2, hit_limit=False)
    assert load.may_pipeline
    for _ in range(5):
        load.observe(30.0, hit_limit=False)
    assert not load.may_pipeline


def test_a_restart_budget_allows_a_burst_then_its_rate() -> None:
    budget = RestartBudget(burst=3, per_second=0.5)
    now = 100.0
    for _ in range(3):
        assert budget.available(now)
        budget.charge(now)
    assert not budget.available(now)
    assert budget.seconds_until_available(now) == 2.0
    assert not budget.available(now + 1.9)
    assert budget.available(now + 2.0)
    assert budget.charged == 3


def test_group_caps_leave_workers_for_others() -> None:
    assert group_worker_cap(4, 2, heavy=False, alone=False) == 2
    assert group_worker_cap(2, 2, heavy=False, alone=False) == 1
    assert group_worker_cap(2, 2, heavy=False, alone=True) == 2
    assert group_worker_cap(16, 8, heavy=True, alone=False) == 4
    assert group_worker_cap(1, 2, heavy=False, alone=False) == 1


def test_waiting_items_can_be_taken_out_by_a_rule() -> None:
    queue: FairQueue[int] = FairQueue()
    for n in range(6):
        queue.push("a" if n % 2 else "b", n)
    assert sorted(queue.take_where(lambda n: n < 3)) == [0, 1, 2]
    assert len(queue) == 3
    served = []
    while queue:
        served.append(queue.pop(next(queue.groups())))
    assert sorted(served) == [3, 4, 5]
