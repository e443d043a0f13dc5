"""Run untrusted tenant scripts: a RestrictedPython language wall inside hardened workers.

The public surface is small on purpose: build a `Call`, run it on a `SandboxPool` with
`Limits` and an optional capability handler, get back an `Outcome` of plain data. This package
knows nothing of HTTP, tenants or storage.
"""

from typing import TYPE_CHECKING, Any

from sandbox.call import (
    PARSE_FUNCTION,
    REQUIRED_FUNCTIONS,
    SCRIPT_FUNCTIONS,
    Call,
    HostBridge,
    RequestData,
)
from sandbox.limits import DEFAULT_LIMITS, Limits
from sandbox.outcome import CompileProblem, LimitName, Outcome, ScriptError

if TYPE_CHECKING:
    from sandbox.pool import CapabilityHandler, PoolClosed, SandboxPool

# The pool (and asyncio, ssl, subprocess behind it) is imported on first use, not with the
# package: the worker template imports `sandbox.*` too, and every page it holds is a page each
# fork copies a table entry for, and a worker may fault on (see sandbox/template.py).
_FROM_POOL = frozenset({"CapabilityHandler", "PoolClosed", "SandboxPool"})


def __getattr__(name: str) -> Any:
    if name in _FROM_POOL:
        from sandbox import pool

        return getattr(pool, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


__all__ = [
    "DEFAULT_LIMITS",
    "PARSE_FUNCTION",
    "REQUIRED_FUNCTIONS",
    "SCRIPT_FUNCTIONS",
    "Call",
    "CapabilityHandler",
    "CompileProblem",
    "HostBridge",
    "LimitName",
    "Limits",
    "Outcome",
    "PoolClosed",
    "RequestData",
    "SandboxPool",
    "ScriptError",
]
