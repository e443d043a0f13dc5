"""Resource limits for one call, as one frozen object.

Limits are data: the pool hands them to a worker with every call (CPU, output, result) or at
start (memory, which is a property of the process), and enforces the wall clock itself.
"""

from __future__ import annotations

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
