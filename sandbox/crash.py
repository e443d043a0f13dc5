"""What a builder reads when the worker running their call died without an outcome.

The worker cannot say why (it is gone), and the pool does not know the line: only how the
process ended. A bare "exit status -11" means nothing to a module builder, so a crash of the
interpreter itself (SIGSEGV, SIGBUS) says what usually causes one in a script: C code that
follows nested data or recursion without a depth check, running out of stack.
"""

from __future__ import annotations

import signal
from typing import Final

_STOPPED: Final = "the sandbox worker stopped unexpectedly"

# Signals that mean the interpreter itself crashed, not that something stopped it.
_INTERPRETER_CRASHES: Final = frozenset({signal.SIGSEGV, signal.SIGBUS})

_CRASH_HINT: Final = (
    "the Python interpreter crashed while running the script. This is usually data nested "
    "very deeply (lists, tuples or dicts inside each other many thousands of levels) or very "
    "deep recursion reaching code written in C that has no depth check (hash(), repr(), ==, "
    "sorting, copying), which runs out of stack; the line it happened on is not known"
)


def worker_stopped_message(exit_status: int | None) -> str:
    """The WorkerCrashed message for a worker that ended with `exit_status` (an exit code,
    or minus the signal that killed it; None when the pool did not learn it)."""
    if exit_status is None:
        return _STOPPED
    if -exit_status in _INTERPRETER_CRASHES:
        name = signal.Signals(-exit_status).name
        return f"{_STOPPED} (exit status {exit_status}, {name}): {_CRASH_HINT}"
    return f"{_STOPPED} (exit status {exit_status})"
