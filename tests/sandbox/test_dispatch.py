"""Where the pool's dispatch passes put waiting calls when many tenants wait and every worker
slot is taken: the pool's own decisions, on workers that stand in for processes (their pipes
record what is written; nothing is forked), so each state is set up exactly."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool
from sandbox.outcome import Outcome
from sandbox.pool import limits_bytes, no_capabilities
from sandbox.protocol import EncodedCall, source_facts
from sandbox.scheduler import GroupLoad, RestartBudget
from sandbox.workers import PendingCall, Worker

LIMITS = Limits(wall_seconds=20, cpu_seconds=0.5)
QUICK = "def VoipParseWebhookRequest(request):\n    return {}\n"


class Pipe:
    """A worker's pipe that records the calls written to it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(data)


class StandIns:
    """A pool (never started) holding stand-in workers, one per group, all known quick."""

    def __init__(self, groups: list[str], *, size: int, inflight_per_worker: int) -> None:
        self.pool = SandboxPool(size=size, inflight_per_worker=inflight_per_worker,
                                limits=LIMITS, spare_workers=0)
        # What `_replenish` asks of the template; spawns are recorded, not made.
        self.pool._template = types.SimpleNamespace(ready=True, down=False)  # type: ignore[assignment]
        self.spawns = 0
        self.pool._spawn = self._spawn  # type: ignore[method-assign]
        self.ids = iter(range(1, 1_000_000))
        self.workers: dict[str, Worker] = {}
        for index, group in enumerate(groups):
            worker = Worker(id=index + 1, pid=0, pidfd=None, group=group, ready=True,
                            gone=True)  # gone: never signalled or reniced
            worker.stdin = Pipe()  # type: ignore[assignment]
            self.pool._workers.append(worker)
            self.pool._by_group[group] = [worker]
            self.pool._bound += 1
            self.pool._loads[group] = GroupLoad(average_ms=0.3, observed=100)
            self.workers[group] = worker

    async def _spawn(self) -> None:
        self.spawns += 1

    def pending(self, group: str) -> PendingCall:
        call = Call(source=QUICK, function="VoipParseWebhookRequest", request=RequestData())
        sha256, _ = source_facts(QUICK)
        encoded = EncodedCall.of_call(call, sha256, limits_bytes(LIMITS))
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        return PendingCall(next(self.ids), group, encoded, sha256, LIMITS, no_capabilities,
                           future)

    def running(self, group: str) -> PendingCall:
        """A call of `group` already running in its worker."""
        pending = self.pending(group)
        self.pool._start_on(self.workers[group], pending)
        return pending

    def waiting(self, group: str) -> PendingCall:
        pending = self.pending(group)
        self.pool._waiting.push(group, pending)
        return pending

    def in_pipe(self, group: str) -> int:
        """Calls sent to the group's worker and not ended (each was written to its pipe)."""
        worker = self.workers[group]
        assert isinstance(worker.stdin, Pipe)
        assert len(worker.stdin.written) >= len(worker.inflight)
        return len(worker.inflight)


@pytest.fixture
async def stand_ins() -> AsyncIterator[Callable[..., StandIns]]:
    made: list[StandIns] = []

    def make(groups: list[str], *, size: int = 1, inflight_per_worker: int = 2) -> StandIns:
        made.append(StandIns(groups, size=size, inflight_per_worker=inflight_per_worker))
        return made[-1]

    yield make
    for pool in made:
        for worker in pool.workers.values():
            for pending in worker.inflight:
                pending.end()
        pool.pool._closed = True
        pool.pool._gate.close()


async def test_with_every_slot_taken_a_tenant_with_a_busy_worker_still_fills_its_pipe(
    stand_ins: Any,
) -> None:
    # size 1 x 2 calls per pipe: two workers at once at most. A and B run a call each; C and D,
    # whose workers are idle, must wait for a slot; A's next call goes into A's pipe at once.
    pool = stand_ins(["A", "B", "C", "D"])
    pool.running("A")
    pool.running("B")
    c, d, a = pool.waiting("C"), pool.waiting("D"), pool.waiting("A")
    pool.pool._dispatch()
    assert pool.in_pipe("A") == 2 and a in pool.workers["A"].inflight
    assert pool.in_pipe("C") == pool.in_pipe("D") == 0
    assert len(pool.pool._waiting) == 2 and not c.future.done() and not d.future.done()
    # A slot frees (B's call ends): the next waiting group in turn takes it, then no other.
    pool.pool._complete_head(pool.workers["B"], Outcome(ok=True))
    assert pool.in_pipe("C") == 1 and pool.in_pipe("D") == 0


async def test_a_tenant_that_took_the_last_slot_in_a_pass_still_fills_its_pipe_in_it(
    stand_ins: Any,
) -> None:
    # One slot left: C's first waiting call takes it (every slot is taken from then on); D
    # waits; C's second waiting call follows into C's pipe in the same pass.
    pool = stand_ins(["A", "C", "D"])
    pool.running("A")
    pool.waiting("C")
    pool.waiting("D")
    pool.waiting("C")
    pool.pool._dispatch()
    assert pool.in_pipe("C") == 2
    assert pool.in_pipe("D") == 0 and len(pool.pool._waiting) == 1


async def test_with_every_slot_taken_a_throttled_tenants_calls_are_still_refused_at_once(
    stand_ins: Any,
) -> None:
    # T's workers kept crashing: its restart budget is spent and it has no worker left. Its
    # waiting call is refused in the next pass, slots or none.
    pool = stand_ins(["A", "B"])
    pool.running("A")
    pool.running("B")
    pool.pool._budgets["T"] = RestartBudget(burst=1, per_second=0.001)
    crashed = Worker(id=99, pid=0, pidfd=None, group="T", ready=True, gone=True, dead=True)
    pool.pool._charge(crashed)  # its last worker's crash, charged as the pool does
    refused = pool.waiting("T")
    pool.pool._dispatch()
    outcome = refused.future.result()
    assert outcome.limit == "restarts"


class CountedWorker(Worker):
    """A stand-in worker that counts how often the pool asks whether it is usable."""

    asked = 0

    @property
    def usable(self) -> bool:
        CountedWorker.asked += 1
        return self.ready and not self.dead and not self.retiring and not self.eof


async def test_a_pass_with_many_tenants_waiting_for_a_slot_looks_at_none_of_them(
    stand_ins: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The state 50 interleaved tenants keep the pool in: every slot taken (A and B), 40 more
    # tenants waiting, each with its own idle worker. None of them can start a call or is
    # short of a worker, and passes run at every call's arrival and end: a pass that asked
    # each of them (its budget, its workers) cost the service's event loop about as much
    # again per call as everything else it does with the call.
    waiting = [f"W{index}" for index in range(40)]
    pool = stand_ins(["A", "B", *waiting])
    for group in waiting:
        worker = pool.workers[group]
        counted = CountedWorker(id=worker.id, pid=0, pidfd=None, group=group, ready=True,
                                gone=True)
        counted.stdin = Pipe()  # type: ignore[assignment]
        pool.pool._workers[pool.pool._workers.index(worker)] = counted
        pool.pool._by_group[group] = [counted]
        pool.workers[group] = counted
    pool.running("A")
    pool.running("B")
    for group in waiting:
        pool.pool._budget(group)  # (known to the pool, as after their first calls)
        pool.waiting(group)
    budgets_asked = 0
    available = RestartBudget.available

    def counted_available(budget: RestartBudget, now: float) -> bool:
        nonlocal budgets_asked
        budgets_asked += 1
        return available(budget, now)

    monkeypatch.setattr(RestartBudget, "available", counted_available)
    CountedWorker.asked = 0
    pool.pool._dispatch()
    assert len(pool.pool._waiting) == 40 and pool.spawns == 0
    assert CountedWorker.asked == 0 and budgets_asked == 0
    # A slot frees: the first waiting tenant in turn takes it, as before.
    pool.pool._complete_head(pool.workers["B"], Outcome(ok=True))
    assert pool.in_pipe("W0") == 1 and len(pool.pool._waiting) == 39


async def test_with_many_tenants_waiting_only_those_short_of_a_worker_make_the_pool_start_one(
    stand_ins: Any,
) -> None:
    # Three slots, all taken (A, B, C). Ten tenants wait with an idle worker each; N waits with
    # no worker at all; E waits with a worker whose pipe just closed (not usable, not yet out
    # of service). A tenant may hold two workers here: exactly N and E get one started.
    idle = [f"I{index}" for index in range(10)]
    pool = stand_ins(["A", "B", "C", "E", *idle], size=3, inflight_per_worker=1)
    for group in ("A", "B", "C"):
        pool.running(group)
    for group in idle:
        pool.waiting(group)
    pool.waiting("N")
    pool.pool._on_eof(pool.workers["E"])
    pool.waiting("E")
    pool.pool._dispatch()
    assert len(pool.pool._waiting) == 12
    await asyncio.sleep(0)  # (spawns run as tasks)
    assert pool.spawns == 2


async def test_only_waiting_tenants_without_a_worker_to_use_make_the_pool_start_one(
    stand_ins: Any,
) -> None:
    # Two slots; a tenant may hold one worker (the pool's size less one, others being there).
    # A's first waiting call takes A's idle worker, and A's second then waits behind it, as
    # B's waits behind B's running call: neither tenant is short of a worker. N has none:
    # exactly one worker is started, for N.
    pool = stand_ins(["A", "B"], size=2, inflight_per_worker=1)
    pool.running("B")
    pool.waiting("A")
    pool.waiting("A")
    pool.waiting("B")
    pool.waiting("N")
    pool.pool._dispatch()
    assert pool.in_pipe("A") == pool.in_pipe("B") == 1
    assert len(pool.pool._waiting) == 3
    await asyncio.sleep(0)  # (spawns run as tasks)
    assert pool.spawns == 1


async def test_a_lone_tenant_uses_every_slot_once_its_modules_check_is_over(
    stand_ins: Any,
) -> None:
    # An upload's check ran as `check:t` and its worker is gone: t is the only tenant with a
    # worker or a waiting call, so its second call gets a second worker started rather than
    # waiting behind its first (a check used to hold a slot back from t for good).
    pool = stand_ins(["t"], size=2, inflight_per_worker=1)
    pool.pool._loads["check:t"] = GroupLoad(average_ms=4.0, observed=1)
    pool.running("t")
    pool.waiting("t")
    pool.pool._dispatch()
    await asyncio.sleep(0)  # (spawns run as tasks)
    assert pool.spawns == 1


async def test_a_tenant_leaves_a_slot_while_another_tenant_has_a_worker(
    stand_ins: Any,
) -> None:
    # u's worker is idle, but live: t may hold one of the two slots, and its second call
    # waits for its first rather than take the slot u's next call would need.
    pool = stand_ins(["t", "u"], size=2, inflight_per_worker=1)
    pool.running("t")
    waiting = pool.waiting("t")
    pool.pool._dispatch()
    await asyncio.sleep(0)
    assert pool.spawns == 0 and not waiting.future.done()
    assert len(pool.pool._waiting) == 1


@pytest.mark.parametrize(("duration_ms", "cpu_ms", "heavy"), [
    (400.0, 2.0, False),  # waited for a core (or was paused): not the script's weight
    (400.0, 390.0, True),  # computed for 390 ms: heavy
])
async def test_a_tenant_is_weighed_by_its_calls_cpu_time_not_their_wall_clock_time(
    stand_ins: Any, duration_ms: float, cpu_ms: float, heavy: bool,
) -> None:
    pool = stand_ins(["t"], size=2, inflight_per_worker=1)
    pool.pool._loads["t"] = GroupLoad()  # a new tenant: its first call weighs in fully
    call = Call(source=QUICK, function="VoipParseWebhookRequest", request=RequestData())
    for _ in range(3):  # three such calls in a row
        task = asyncio.ensure_future(pool.pool.run(call, limits=LIMITS, group="t"))
        await asyncio.sleep(0)
        assert pool.in_pipe("t") == 1
        pool.pool._complete_head(pool.workers["t"], Outcome(
            ok=True, duration_ms=duration_ms, cpu_ms=cpu_ms))
        await task
    assert pool.pool._heavy("t") is heavy


async def test_a_call_behind_one_that_ends_while_its_worker_is_paused_keeps_its_wall_clock(
        stand_ins: Callable[..., StandIns]) -> None:
    """A heavy call's worker is paused for light calls just after it wrote its outcome (the
    parent reads it a moment later), with the group's next call already in its pipe. Ending
    the paused call resumed the worker, and resuming armed the wall-clock deadline of the
    call now at the head before that call had started: its deadline was already past, so the
    call failed at once as 'wall-clock limit of 20 s exceeded' after a fraction of a
    millisecond (a webhook answered 500, seen with SIGTERM under load on two nodes), and its
    worker was killed and charged to the tenant's restart budget."""
    pools = stand_ins(["heavy"], size=1, inflight_per_worker=2)
    pool, worker = pools.pool, pools.workers["heavy"]
    first = pools.running("heavy")
    second = pools.running("heavy")  # in the pipe behind the first
    assert pools.in_pipe("heavy") == 2
    pool._loads["heavy"].heavy = True
    pool._gate.light_activity()  # another tenant's call
    pool._gate.heavy_started(worker)
    assert pool._gate.paused(worker)

    # The light calls went quiet a moment ago; the gate's tick, which would continue the
    # worker, has not run yet (the event loop is busy reading outcomes).
    pool._gate._last_light -= 1.0
    pool._complete_head(worker, Outcome(ok=True, result={}))  # the outcome written before

    assert first.future.result().ok
    await asyncio.sleep(0.05)
    assert not second.future.done(), second.future.result()
    assert not worker.dead
    assert second.deadline is None or second.deadline.when() > asyncio.get_running_loop(
    ).time() + 10
