"""Run untrusted tenant scripts: a RestrictedPython language wall inside hardened workers.

The public surface is small on purpose: build a `Call`, run it on a `SandboxPool` with
`Limits` and an optional capability handler, get back an `Outcome` of plain data. This package
knows nothing of HTTP, tenants or storage.
"""

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
from sandbox.pool import CapabilityHandler, PoolClosed, SandboxPool

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
