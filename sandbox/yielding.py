"""Heavy calls run on the time light calls leave: a worker running a heavy group's call is
paused (SIGSTOP) while other groups' calls are being served, and continued (SIGCONT) once they
have been quiet for a moment.

Why pausing and not only a scheduling priority: the pool already runs heavy calls under
SCHED_IDLE, yet on a virtual machine a vCPU kept busy by an idle-priority loop still costs the
other tenants (measured in bench/webhooks.py: a light tenant beside a heavy one lost a third
of its throughput and its p99 doubled; with the heavy worker stopped, both were as if alone).

A paused call is not forgotten: while light calls keep coming without a pause, it still runs
`SHARE_SLICE` seconds in every `SHARE_PERIOD` (0.5%), so it finishes (its CPU limit still
applies; time spent paused does not count against its wall-clock limit). The share is small on
purpose: every slice is a window in which the light tenants' requests slow down, and a request
in flight during a slice counts as hurt. Measured with a light tenant at ~1,300 webhooks/s: a
4% share lifted its p99 1.3-1.5x, 1% up to 1.5x, 0.5% not measurably. Any 20 ms gap in the
light traffic lets heavy calls run at full speed again.

`YieldGate` only decides; the pool does the signalling and the deadline bookkeeping through
the `pause` and `resume` callbacks it supplies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

W = TypeVar("W", bound=Hashable)

# Light calls count as active until this long after the last was dispatched or finished.
QUIET_SECONDS = 0.02
# While light calls keep coming, a paused heavy call still runs this long in every period.
SHARE_PERIOD = 2.0
SHARE_SLICE = 0.01


@dataclass
class _Heavy:
    paused: bool = False
    since: float = 0.0  # when it was last paused or continued
    slice_until: float = 0.0  # running on its share until then


class YieldGate(Generic[W]):
    def __init__(self, pause: Callable[[W], None], resume: Callable[[W], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 call_later: Callable[[float, Callable[[], None]], asyncio.TimerHandle]
                 | None = None) -> None:
        self._pause = pause
        self._resume = resume
        self._clock = clock
        self._call_later = call_later
        self._heavy: dict[W, _Heavy] = {}
        self._last_light = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def paused(self, worker: W) -> bool:
        state = self._heavy.get(worker)
        return state is not None and state.paused

    def light_activity(self) -> None:
        """A light call was dispatched or finished: heavy calls step aside."""
        now = self._clock()
        self._last_light = now
        if self._heavy:
            for worker, state in self._heavy.items():
                if not state.paused and now >= state.slice_until:
                    self._pause_one(worker, state, now)
            self._arm(now)

    def heavy_started(self, worker: W) -> None:
        """`worker` now runs a heavy group's call."""
        if worker in self._heavy:
            return
        now = self._clock()
        state = self._heavy[worker] = _Heavy(since=now)
        if self._light(now):
            self._pause_one(worker, state, now)
            self._arm(now)

    def heavy_finished(self, worker: W) -> None:
        """The heavy call ended (or the worker died): never leave a worker stopped."""
        state = self._heavy.pop(worker, None)
        if state is not None and state.paused:
            self._resume(worker)

    def tick(self) -> None:
        """Continue heavy calls when light ones went quiet, or when their share is due."""
        self._timer = None
        now = self._clock()
        light = self._light(now)
        for worker, state in self._heavy.items():
            if state.paused and (not light or now - state.since >= SHARE_PERIOD):
                state.paused = False
                state.since = now
                state.slice_until = now + SHARE_SLICE if light else 0.0
                self._resume(worker)
            elif not state.paused and light and now >= state.slice_until:
                self._pause_one(worker, state, now)
        self._arm(now)

    def _light(self, now: float) -> bool:
        return now - self._last_light < QUIET_SECONDS

    def _pause_one(self, worker: W, state: _Heavy, now: float) -> None:
        state.paused = True
        state.since = now
        state.slice_until = 0.0
        self._pause(worker)

    def _next_event(self, now: float) -> float | None:
        """When tick() next has something to do, if ever."""
        moments: list[float] = []
        for state in self._heavy.values():
            if state.paused:
                moments.append(state.since + SHARE_PERIOD)
                moments.append(self._last_light + QUIET_SECONDS)
            elif state.slice_until > now:
                moments.append(state.slice_until)
        return min(moments) if moments else None

    def _arm(self, now: float) -> None:
        if self._call_later is None:
            return
        moment = self._next_event(now)
        if moment is None or (self._timer is not None and self._timer_at <= moment):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = moment
        self._timer = self._call_later(max(0.0, moment - now), self.tick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for worker in list(self._heavy):
            self.heavy_finished(worker)
