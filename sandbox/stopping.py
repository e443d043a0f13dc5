"""Stopping a script from outside its own code: the limit exception, and the state that says so.

The worker's CPU timer (sandbox/worker.py) raises `LimitExceeded` into the script's frames. A
script can swallow one such raise: CPython discards an exception raised in a generator's
`finally` while the collector finalises it, and a `finally` may simply loop on. So once a limit
has fired, the call is *stopped*, not merely interrupted: from then on every guard and every
injected function refuses to go on (`STOPPED` is read on their hot path, so it is one module
global), and the timer keeps firing until the call ends.

A worker resets the state at the start of each call (`resume`). In-process callers of the
executor never stop anything, so for them it stays `None`.
"""

from __future__ import annotations

from typing import Final

from sandbox.outcome import LimitName


class LimitExceeded(BaseException):
    """Raised into a script to stop it (from the CPU timer's signal handler, or by a guard once
    the call is stopped).

    A BaseException, so `except Exception` in a script cannot catch it, and bare `except:` is
    compiled as `except Exception:`; the executor reports it with `limit` set.
    """

    def __init__(self, limit: LimitName, message: str = "") -> None:
        super().__init__(message or f"the {limit} limit was exceeded")
        self.limit: LimitName = limit


class _Stop:
    """Why the current call was stopped: the limit and the message every refusal repeats."""

    __slots__ = ("limit", "message")

    def __init__(self, limit: LimitName, message: str) -> None:
        self.limit: Final = limit
        self.message: Final = message


# The current call's stop, or None while it may run. Read by every guard: keep it a plain
# module global (one dictionary lookup).
STOPPED: _Stop | None = None


def stop(limit: LimitName, message: str) -> None:
    """Mark the current call stopped (the first limit wins)."""
    global STOPPED
    if STOPPED is None:
        STOPPED = _Stop(limit, message)


def resume() -> None:
    """A new call starts: nothing is stopped."""
    global STOPPED
    STOPPED = None


def refusal() -> LimitExceeded:
    """A fresh exception for the current stop (a fresh one, so tracebacks do not pile up)."""
    current = STOPPED
    if current is None:  # pragma: no cover  (callers check STOPPED first)
        return LimitExceeded("cpu")
    return LimitExceeded(current.limit, current.message)


def refuse_if_stopped() -> None:
    """For host code at a safe point (not the hot path): raise if the call is stopped."""
    if STOPPED is not None:
        raise refusal()
