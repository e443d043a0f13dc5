"""Which waiting call runs next, and where: fair between groups (tenants).

Three rules keep one tenant from hurting another:
- Waiting calls queue per group and groups are served round-robin, so a tenant with a thousand
  queued calls does not stand in front of a tenant with one.
- A call is pipelined into a busy worker only behind calls of its own group: nobody waits
  behind a stranger's slow call.
- A *heavy* group (its calls lately take long or hit limits) may occupy only a few workers at
  once, so the others always find one free. Heaviness is measured, not declared: an
  exponentially weighted average of the worker-reported durations, with hysteresis.
- A heavy group's running call steps aside (its worker is paused) while lighter calls are
  being served: see sandbox/yielding.py.
- Workers are bound to one group for life (sandbox/pool.py): a group holds at most a few of
  them (`group_worker_cap`), and a group whose calls keep costing worker starts (crashes,
  kills, memory limits) is slowed on its own `RestartBudget`, never its neighbours'.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

HEAVY_ABOVE_MS = 50.0
# Calls are queued in a busy worker's pipe (behind the same group's calls) only for groups
# whose calls are known to be quick: a slow call already in a pipe cannot be taken back.
PIPELINE_BELOW_MS = 5.0
PIPELINE_AFTER_CALLS = 3
LIGHT_BELOW_MS = 20.0
SMOOTHING = 0.3


@dataclass
class GroupLoad:
    average_ms: float = 0.0
    heavy: bool = False
    observed: int = 0
    # When the pool's sweep first found the group with no worker and no waiting call (None:
    # it has one). Only a heavy group's load outlives that, for a while (pool.py).
    idle_since: float | None = None

    @property
    def may_pipeline(self) -> bool:
        return (not self.heavy and self.observed >= PIPELINE_AFTER_CALLS
                and self.average_ms < PIPELINE_BELOW_MS)

    def observe(self, duration_ms: float, hit_limit: bool) -> None:
        self.observed += 1
        self.average_ms += SMOOTHING * (duration_ms - self.average_ms)
        if hit_limit or self.average_ms > HEAVY_ABOVE_MS:
            self.heavy = True
        elif self.average_ms < LIGHT_BELOW_MS:
            self.heavy = False


class FairQueue(Generic[T]):
    """Per-group FIFO queues, visited round-robin."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, group: str, item: T) -> None:
        queue = self._queues.get(group)  # not setdefault: a deque made for every push
        if queue is None:
            queue = self._queues[group] = deque()
        queue.append(item)
        self._size += 1

    def __contains__(self, group: object) -> bool:
        """Whether `group` has waiting items."""
        return group in self._queues

    def has_other(self, group: str) -> bool:
        """Whether a group other than `group` has waiting items."""
        return any(other != group for other in self._queues)

    def push_front(self, group: str, item: T) -> None:
        """Back to the head of its group's queue (a call that never started)."""
        self._queues.setdefault(group, deque()).appendleft(item)
        self._queues.move_to_end(group, last=False)
        self._size += 1

    def groups(self) -> Iterator[str]:
        """Groups with waiting calls, the one served longest ago first."""
        return iter(list(self._queues))

    def pop(self, group: str) -> T:
        queue = self._queues[group]
        item = queue.popleft()
        self._size -= 1
        if queue:
            self._queues.move_to_end(group)  # served: to the back of the round
        else:
            del self._queues[group]
        return item

    def take_where(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove and return every waiting item that matches (e.g. waited too long)."""
        taken: list[T] = []
        for group in list(self._queues):
            queue = self._queues[group]
            kept = deque(item for item in queue if not predicate(item))
            taken.extend(item for item in queue if predicate(item))
            self._size -= len(queue) - len(kept)
            if kept:
                self._queues[group] = kept
            else:
                del self._queues[group]
        return taken

    def drain(self) -> list[T]:
        items = [item for queue in self._queues.values() for item in queue]
        self._queues.clear()
        self._size = 0
        return items


def heavy_group_workers(pool_size: int) -> int:
    """How many workers a heavy group may hold at once: a quarter, at least one, and never
    all of them when there are two or more."""
    return max(1, min(pool_size // 4, pool_size - 1))


def group_worker_cap(max_workers: int, per_group: int, *, heavy: bool, alone: bool) -> int:
    """How many workers one group may keep busy at once.

    A heavy group gets what `heavy_group_workers` allows; any group leaves at least one worker
    for the others unless no other group is active (a live worker or a waiting call).
    """
    if heavy:
        return min(per_group, heavy_group_workers(max_workers))
    return max(1, min(per_group, max_workers if alone else max_workers - 1))


@dataclass
class RestartBudget:
    """A token bucket of worker starts a group may cause (crashes, kills, memory limits).

    Starts that nobody caused (a first worker, an idle one reclaimed) are not charged. When the
    bucket is empty the group gets no new worker until it refills: its calls fail fast with a
    limit error while it has no live worker, so a crash loop costs its author, not the others.
    """

    burst: float
    per_second: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0
    charged: int = 0

    def _refill(self, now: float) -> None:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
            return
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def charge(self, now: float) -> None:
        self._refill(now)
        self.tokens = max(0.0, self.tokens - 1.0)
        self.charged += 1

    def available(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= 1.0

    def seconds_until_available(self, now: float) -> float:
        self._refill(now)
        if self.tokens >= 1.0 or self.per_second <= 0:
            return 0.0
        return (1.0 - self.tokens) / self.per_second
