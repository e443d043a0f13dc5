"""Every call that runs has a wall-clock deadline, however pausing and its timer interleave.

The pool arms one timer per call, at the slow check (SLOW_CALL_SECONDS), which arms the wall
clock for what is left of the limit; pausing a worker stops its running call's clock and
resuming restarts it. These drive the pool's own bookkeeping with a worker that is no process
(`gone`: no signal is ever sent), so only the clocks are under test.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sandbox import Limits, SandboxPool
from sandbox.outcome import Outcome
from sandbox.pool import SLOW_CALL_SECONDS, no_capabilities
from sandbox.protocol import EncodedCall
from sandbox.workers import PendingCall, Worker

WALL = 0.2


class Pipe:
    """The worker's stdin: takes every write, never closes."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    yield SandboxPool(size=1, limits=Limits(wall_seconds=WALL, cpu_seconds=5))


def worker() -> Worker:
    w = Worker(id=1, pid=0, pidfd=None, ready=True, gone=True)
    w.stdin = Pipe()  # type: ignore[assignment]
    return w


def call(number: int, limits: Limits) -> PendingCall:
    encoded = EncodedCall(b"{}", b'""', b"{}")
    return PendingCall(number, "tenant", encoded, "sha", limits, no_capabilities,
                       asyncio.get_running_loop().create_future())


async def test_a_call_past_its_wall_clock_fails_with_the_slow_check_armed_first(
        pool: SandboxPool) -> None:
    w = worker()
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    outcome: Outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == "wall"
    assert outcome.duration_ms >= WALL * 1000 * 0.9
    assert w.dead


async def test_a_call_paused_before_its_slow_check_gets_its_wall_clock_on_resume(
        pool: SandboxPool) -> None:
    w = worker()
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    pool._pause_worker(w)
    await asyncio.sleep(SLOW_CALL_SECONDS * 2)  # the slow check comes while paused
    assert head.deadline is None and not head.future.done()
    pool._resume_worker(w)
    outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == "wall"


async def test_the_next_call_started_while_its_worker_was_paused_gets_its_wall_clock(
        pool: SandboxPool) -> None:
    # The paused call's outcome was already in the pipe: the next call in the pipe starts on
    # a stopped worker, and its slow check comes before the worker is resumed.
    w = worker()
    first, second = call(1, pool.limits), call(2, pool.limits)
    w.inflight.extend([first, second])
    pool._arm_deadline(w, first)
    pool._pause_worker(w)
    pool._complete_head(w, Outcome(ok=True))
    assert first.future.done() and w.inflight[0] is second
    await asyncio.sleep(SLOW_CALL_SECONDS * 2)
    assert second.deadline is None and not second.future.done()
    pool._resume_worker(w)
    outcome = await asyncio.wait_for(second.future, WALL * 10)
    assert outcome.limit == "wall"


class ComputingWorker(Worker):
    """A worker whose CPU time runs with the clock (a call computing all along, in C code
    its own CPU timer cannot stop), or stands still (a call waiting) when `computing` is off."""

    computing = True

    def cpu_seconds(self) -> float | None:
        return time.perf_counter() if self.computing else 1.0


@pytest.mark.parametrize(("computing", "limit", "message"), [
    (True, "cpu", "CPU time limit of 0.1 s exceeded"),
    (False, "wall", f"wall-clock limit of {WALL:g} s exceeded"),
])
async def test_a_call_ended_by_its_wall_clock_is_labelled_by_the_cpu_it_spent(
        computing: bool, limit: str, message: str) -> None:
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=WALL, cpu_seconds=0.1))
    w = ComputingWorker(id=1, pid=0, pidfd=None, ready=True, gone=True)
    w.computing = computing
    w.stdin = Pipe()  # type: ignore[assignment]
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    outcome: Outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == limit
    assert outcome.error is not None and outcome.error.message == message


@dataclass(eq=False)
class SignalledWorker(Worker):
    """A worker that records the signals the pool sends it (and whether the call it was sent
    for had ended by then) instead of sending them."""

    sent: list[tuple[int, bool]] = field(default_factory=list)

    def send_signal(self, signum: int) -> bool:
        head = self.inflight[0] if self.inflight else None
        self.sent.append((signum, head is not None and head.future.done()))
        return True


def signalled_worker() -> SignalledWorker:
    w = SignalledWorker(id=1, pid=0, pidfd=None, ready=True, gone=True)
    w.stdin = Pipe()  # type: ignore[assignment]
    return w


async def test_the_worker_is_warned_before_its_call_reaches_the_deadline(
        pool: SandboxPool) -> None:
    w = signalled_worker()
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == "wall"  # this worker never answers: the deadline kills it
    assert w.sent[0] == (signal.SIGALRM, False)


async def test_a_paused_call_is_warned_only_after_it_resumes(pool: SandboxPool) -> None:
    w = signalled_worker()
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    pool._pause_worker(w)
    await asyncio.sleep(WALL * 2)  # well past the warning's and the deadline's time
    assert head.deadline is None  # the warning's timer (the deadline's comes after it)
    assert w.sent == [(signal.SIGSTOP, False)]
    pool._resume_worker(w)
    assert head.deadline is not None
    outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == "wall"
    assert w.sent[:3] == [
        (signal.SIGSTOP, False), (signal.SIGCONT, False), (signal.SIGALRM, False)]


async def test_a_call_waiting_on_the_host_is_not_warned(pool: SandboxPool) -> None:
    w = signalled_worker()
    head = call(1, pool.limits)
    w.inflight.append(head)
    pool._arm_deadline(w, head)
    head.asking = True
    outcome = await asyncio.wait_for(head.future, WALL * 10)
    assert outcome.limit == "wall"
    assert signal.SIGALRM not in [signum for signum, _ in w.sent]
