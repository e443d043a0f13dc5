"""Heavy calls step aside for light ones: the yield gate's decisions (fake clock), and the pool
stopping a burner's worker while light calls run, without charging it wall-clock time."""

from __future__ import annotations

import asyncio
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


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


async def test_the_pool_stops_a_burner_while_light_calls_run_and_charges_it_no_wall_time(
) -> None:
    # The burner's wall limit (1 s) is shorter than the time light calls keep it paused.
    limits = Limits(wall_seconds=1.0, cpu_seconds=0.3)
    async with SandboxPool(size=2, limits=limits) as pool:
        burner = asyncio.ensure_future(pool.run(call(BURNER), group="noisy"))
        await asyncio.sleep(0.1)  # past the slow-call mark: the group is heavy now
        [heavy] = [w for w in pool.workers() if w.group == "noisy"]
        assert heavy.busy
        pid = heavy.pid
        states = []
        began = time.perf_counter()
        while time.perf_counter() - began < 1.5:
            outcome = await pool.run(call(QUICK), group="quiet")
            assert outcome.ok
            states.append(process_state(pid))
        # Stopped nearly all the time the light calls ran (it still gets a small share).
        assert states.count("T") / len(states) > 0.8
        assert not burner.done()
        outcome = await burner
        # It ran out of CPU, not of wall-clock time, and its worker was not replaced.
        assert outcome.limit == "cpu"
        assert pool.stats.workers_replaced == 0
        assert process_state(pid) != "T"
