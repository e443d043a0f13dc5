"""What one call produced, as plain JSON-safe data.

The worker builds these as dicts (it must never hand the parent anything but JSON); the parent
parses them back into these frozen types. `LimitName` says which limit stopped a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

JSONValue = Any  # str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]

# "garbage": the call's garbage kept re-creating itself when collected at the end of the call.
# "restarts": the tenant's calls cost too many worker starts lately (sandbox.scheduler).
LimitName = Literal["wall", "cpu", "memory", "output", "result", "source", "recursion",
                    "garbage", "restarts"]
LIMIT_NAMES: frozenset[str] = frozenset(
    {"wall", "cpu", "memory", "output", "result", "source", "recursion", "garbage", "restarts"}
)


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """One reason a script was refused at compile time; `line` is the tenant's line."""

    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


@dataclass(frozen=True, slots=True)
class ScriptError:
    """Why a call failed: the exception type and message as the tenant sees them."""

    type: str
    message: str
    line: int | None = None
    # Formatted traceback lines of the tenant's own frames ("line 12, in helper"), capped.
    traceback: tuple[str, ...] = ()
    # For CompileError: every problem at once.
    problems: tuple[CompileProblem, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message, "line": self.line}
        if self.traceback:
            data["traceback"] = list(self.traceback)
        if self.problems:
            data["problems"] = [p.to_json() for p in self.problems]
        return data


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    result: JSONValue = None
    error: ScriptError | None = None
    limit: LimitName | None = None
    logs: str = ""
    logs_truncated: bool = False
    duration_ms: float = 0.0
    # CPU time the worker spent on the call (0 when the call never reached a worker's report).
    cpu_ms: float = 0.0
    # The worker that ran the call takes no more work: it exits after reporting this outcome
    # (its memory grew to a limit, its garbage would not settle, a limit could not unwind it).
    retire: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": self.result,
            "error": self.error.to_json() if self.error else None,
            "limit": self.limit,
            "logs": self.logs,
            "logs_truncated": self.logs_truncated,
            "duration_ms": round(self.duration_ms, 3),
            "cpu_ms": round(self.cpu_ms, 3),
            "retire": self.retire,
        }
