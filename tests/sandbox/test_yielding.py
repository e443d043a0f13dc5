"""Heavy calls step aside for light ones: the yield gate's decisions (fake clock), and the pool
stopping a burner's worker while light calls run, without charging it wall-clock time."""

from __future__ import annotations

import asyncio
import signal
import time

from sandbox import Call, Limits, RequestData, SandboxPool
from sandbox.yielding import QUIET_SECONDS, SHARE_PERIOD, SHARE_SLICE, YieldGate

BURNER = "def VoipParseWebhookRequest(request):\n    while True:\n        pass\n"
QUICK = "def VoipParseWebhookRequest(request):\n    return {}\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate_with_log() -> tuple[YieldGate[str], list[tuple[str, str]], Clock]:
    log: list[tuple[str, str]] = []
    clock = Clock()
    gate: YieldGate[str] = YieldGate(lambda w: log.append(("pause", w)),
                                     lambda w: log.append(("resume", w)), clock=clock)
    return gate, log, clock


def test_a_heavy_call_runs_while_nobody_else_is_served() -> None:
    gate, log, _ = gate_with_log()
    gate.heavy_started("w1")
    assert log == []
    assert not gate.paused("w1")


def test_light_activity_pauses_heavy_calls_until_it_goes_quiet() -> None:
    gate, log, clock = gate_with_log()
    gate.heavy_started("w1")
    gate.light_activity()
    assert log == [("pause", "w1")]
    clock.now += QUIET_SECONDS / 2
    gate.light_activity()
    gate.tick()
    assert log == [("pause", "w1")]  # still busy: stays paused
    clock.now += QUIET_SECONDS * 1.5
    gate.tick()
    assert log == [("pause", "w1"), ("resume", "w1")]
    assert not gate.paused("w1")


def test_a_heavy_call_starting_among_light_ones_is_paused_at_once() -> None:
    gate, log, _ = gate_with_log()
    gate.light_activity()
    gate.heavy_started("w1")
    assert log == [("pause", "w1")]


def test_a_paused_heavy_call_still_gets_its_share() -> None:
    gate, log, clock = gate_with_log()
    gate.heavy_started("w1")
    gate.light_activity()
    # Light calls keep coming without a break.
    while clock.now < 100.0 + SHARE_PERIOD:
        clock.now += QUIET_SECONDS / 4
        gate.light_activity()
        gate.tick()
    assert log == [("pause", "w1"), ("resume", "w1")]  # its slice
    assert not gate.paused("w1")
    clock.now += SHARE_SLICE / 2
    gate.light_activity()  # the slice is not cut short
    assert not gate.paused("w1")
    clock.now += SHARE_SLICE
    gate.light_activity()
    assert gate.paused("w1")
    assert log[-1] == ("pause", "w1")


def test_a_finished_or_dead_worker_is_never_left_stopped() -> None:
    gate, log, _ = gate_with_log()
    gate.heavy_started("w1")
    gate.light_activity()
    gate.heavy_finished("w1")
    assert log == [("pause", "w1"), ("resume", "w1")]
    gate.heavy_finished("w1")  # twice (completion, then exit): nothing more
    gate.light_activity()
    assert log == [("pause", "w1"), ("resume", "w1")]


def call(source: str) -> Call:
    return Call(source=source, function="VoipParseWebhookRequest", request=RequestData())


SIGSTOP_BIT = 1 << (signal.SIGSTOP - 1)


def stopped(pid: int) -> bool:
    """Stopped, or sent SIGSTOP and not yet scheduled to act on it (a worker at idle priority
    on a busy machine can wait a while): either way the pool has paused it and not continued
    it (SIGCONT discards a pending stop). A process that is gone is not stopped."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except FileNotFoundError:
        return False
    pending = int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)
    return fields["State"].split()[0] == "T" or bool(pending & SIGSTOP_BIT)


async def heavy_worker_pid(pool: SandboxPool, group: str) -> int:
    """The pid of `group`'s worker once the pool counts the group as heavy (its call ran past
    the slow-call mark), however long that takes on a busy machine."""
    while True:
        load = pool._loads.get(group)
        workers = [w for w in pool.workers() if w.group == group]
        if load is not None and load.heavy and workers:
            [worker] = workers
            assert worker.busy
            return worker.pid
        await asyncio.sleep(0.01)


async def test_the_pool_stops_a_burner_while_light_calls_run_and_charges_it_no_wall_time(
) -> None:
    # The burner's CPU limit is a small part of its wall limit, so that what it still needs
    # when it is continued it gets even at idle priority on a busy machine.
    limits = Limits(wall_seconds=1.5, cpu_seconds=0.15)
    async with SandboxPool(size=2, limits=limits) as pool:
        burner = asyncio.ensure_future(pool.run(call(BURNER), group="noisy"))
        pid = await heavy_worker_pid(pool, "noisy")
        # Light calls for longer than the burner's wall limit: were the time it spends
        # stopped charged to it, it would end meanwhile.
        samples = []
        began = time.perf_counter()
        while time.perf_counter() - began < limits.wall_seconds * 1.5:
            outcome = await pool.run(call(QUICK), group="quiet")
            assert outcome.ok
            samples.append(stopped(pid))
        # Stopped as each light call ended (it still gets a small share now and then).
        assert samples.count(True) / len(samples) > 0.8, samples
        assert not burner.done()
        # The light calls went quiet: it is continued, with what is left of its wall limit.
        while stopped(pid):
            await asyncio.sleep(0.005)
        assert not burner.done()
        outcome = await burner
        # It ran out of CPU, not of wall-clock time, and its worker was not replaced.
        assert outcome.limit == "cpu", outcome
        assert pool.stats.workers_replaced == 0
        assert not stopped(pid)
