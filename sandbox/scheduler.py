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
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
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
        self._queues.setdefault(group, deque()).append(item)
        self._size += 1

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

    def drain(self) -> list[T]:
        items = [item for queue in self._queues.values() for item in queue]
        self._queues.clear()
        self._size = 0
        return items


def heavy_group_workers(pool_size: int) -> int:
    """How many workers a heavy group may hold at once: a quarter, at least one, and never
    all of them when there are two or more."""
    return max(1, min(pool_size // 4, pool_size - 1))
