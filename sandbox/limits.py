"""Resource limits for one call, as one frozen object.

Limits are data: the pool hands them to a worker with every call (CPU, output, result) or at
start (memory, which is a property of the process), and enforces the wall clock itself: a
little before the deadline it signals the worker, which stops the script where it is (so the
error names the script's line); at the deadline it kills a worker that has not answered.
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass
from typing import Any

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    wall_seconds: float = 2.0
    cpu_seconds: float = 1.0
    memory_bytes: int = 256 * MIB
    output_bytes: int = 64 * KIB
    # Room for a webhook reply body of 1 MiB (contract §4: counted, as here, in UTF-8 bytes)
    # and the rest of the result.
    result_bytes: int = 2 * MIB
    result_depth: int = 32
    source_bytes: int = 64 * KIB
    # fetch() requests one call may make; the host enforces it, the worker only reports it.
    fetches_per_call: int = 10

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def replace(self, **changes: Any) -> Limits:
        values = self.to_json()
        values.update(changes)
        return Limits(**values)


DEFAULT_LIMITS = Limits()

# Values (dict entries and list items, at every depth) a function's result may hold. The host
# checks a result in the one event loop every tenant's webhooks share, at a cost per value,
# not per byte (2 MiB of JSON is a million list items): so the worker refuses more before the
# result crosses the pipe, and the host refuses it again by the same count
# (runtime/result_bounds.py). A valid parse result holds under 9,000 (its call data, 16 KiB
# of JSON, at most 8,192); VoipGetMembers' 20,000 members, an id and a name each, 60,000.
RESULT_VALUES = 10_000
MEMBERS_RESULT_VALUES = 60_000
MEMBERS_FUNCTION = "VoipGetMembers"


def result_values(function: str | None) -> int:
    """The values `function`'s result may hold."""
    return MEMBERS_RESULT_VALUES if function == MEMBERS_FUNCTION else RESULT_VALUES

# How long before a call's wall-clock deadline the pool asks its worker to stop the script
# from inside (`wall_warning_seconds`): room for the script to unwind and the worker to report
# before the pool's own kill, which would leave the builder no line to look at. A quarter of
# the limit at most, so a short limit still gives the script most of its time.
WALL_WARNING_SECONDS = 0.1
WALL_WARNING_FRACTION = 0.25
# The signal that carries the warning (the worker arms its own refiring timer with the same
# one, ITIMER_REAL, once the call is stopped).
WALL_WARNING_SIGNAL = signal.SIGALRM


def wall_warning_seconds(wall_seconds: float) -> float:
    """How far ahead of the wall-clock deadline the worker is told to stop the script."""
    return min(WALL_WARNING_SECONDS, wall_seconds * WALL_WARNING_FRACTION)
