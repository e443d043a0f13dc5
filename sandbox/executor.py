"""Run one call of a tenant script and describe what happened as a JSON-safe outcome dict.

`execute` is the language wall's boundary: it never raises. Each call gets a fresh namespace
(a fresh builtins dict, its own injected objects, and the guards and injected classes every call
shares, which no script can change), runs the module's top level, then the function.
Everything a script raises is caught here, BaseException included, and reported with the line
in the tenant's script; host frames and paths never appear in what the tenant sees.

Before the outcome is built, the call's garbage is collected (its finalisers run inside the
call, under its limits, printing into its log) and what it left in shared caches is dropped
(sandbox/leftovers.py). A call that was stopped (sandbox/stopping.py) is reported as that limit,
whatever the script made of the exception: a script cannot turn a limit into a success by
swallowing it.
"""

from __future__ import annotations

import json
import reprlib
import sys
import time
import types
from collections.abc import Callable
from typing import Any, Final

from sandbox import injected, leftovers, stopping
from sandbox.builtins_table import (
    fresh_builtins,
    missing_builtin_note,
    type_checking_note,
)
from sandbox.call import Call, HostBridge, RequestData
from sandbox.compiler import SCRIPT_FILENAME, CompiledScript, compile_script, is_source_limit
from sandbox.convert import ResultError, to_json_safe
from sandbox.guards import (
    SHARED_GUARDS,
    getattr_builtin,
    guarded_pow,
    hasattr_builtin,
    print_guard,
    safe_import,
)
from sandbox.limits import Limits, result_values
from sandbox.outcome import CompileProblem, LimitName, ScriptError
from sandbox.stopping import LimitExceeded

MESSAGE_MAX_CHARS: Final = 2000
TRACEBACK_MAX_FRAMES: Final = 20
# Frames a script may stack on top of the executor's own before RecursionError.
RECURSION_HEADROOM: Final = 500
# Functions whose return value the platform ignores (contract §2): never converted.
RESULT_IGNORED: Final = frozenset({"VoipGenerateCall"})
MODULE_NAME: Final = "script"
GARBAGE_MESSAGE: Final = (
    "the call's garbage kept re-creating itself when it was collected (finalisers making new "
    "garbage); the worker is replaced"
)

# The running call's output, for a worker that must report a call it cannot unwind.
_current_output: injected.OutputLog | None = None


_repr = reprlib.Repr()
_repr.maxstring = 400
_repr.maxother = 200
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 20
_repr.maxlevel = 3


def _sanitize(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    text = text[:limit] + ("…" if len(text) > limit else "")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def exception_message(exc: BaseException) -> str:
    """str(exc), bounded: a tenant's exception may carry a huge or hostile payload."""
    try:
        args = exc.args
        if type(exc) is injected.MemberKeyError:
            text = str(args[0])
        elif isinstance(exc, KeyError) and len(args) == 1:
            text = _repr.repr(args[0])
        elif len(args) == 1 and type(args[0]) is str:
            text = args[0][: MESSAGE_MAX_CHARS + 1]
        elif not args:
            text = ""
        elif type(exc).__module__ == "builtins" and all(
            type(a) in (str, int, float, bool, bytes) and len(str(a)) < MESSAGE_MAX_CHARS
            for a in args
        ):
            text = str(exc)  # e.g. UnicodeDecodeError's own wording
        else:
            text = _repr.repr(args if len(args) > 1 else args[0])
        if not text and isinstance(exc, MemoryError):
            text = "the script ran out of memory"
        return _sanitize(text)
    except BaseException:
        return "(the error message could not be shown)"


def _type_name(exc: BaseException) -> str:
    name = type(exc).__name__
    return _sanitize(name, 200) if isinstance(name, str) else "Exception"


def tenant_frames(exc: BaseException) -> list[tuple[int, str]]:
    """(line, function) of the tenant's own frames, outermost first."""
    frames: list[tuple[int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == SCRIPT_FILENAME:
            name = "<module>" if code.co_name == "<module>" else code.co_name
            frames.append((tb.tb_lineno, name))
        tb = tb.tb_next
    return frames


def script_error(exc: BaseException,
                 type_checking_names: frozenset[str] = frozenset()) -> ScriptError:
    frames = tenant_frames(exc)
    line = frames[-1][0] if frames else None
    message = (exception_message(exc)
               + (type_checking_note(exc, type_checking_names) or missing_builtin_note(exc)))
    shown = frames[-TRACEBACK_MAX_FRAMES:]
    lines = [f"line {lineno}, in {_sanitize(name, 100)}" for lineno, name in shown]
    if len(frames) > len(shown):
        lines.insert(0, f"... {len(frames) - len(shown)} earlier frames")
    prefix = f"line {line}: " if line is not None else ""
    return ScriptError(
        type=_type_name(exc), message=prefix + message, line=line, traceback=tuple(lines)
    )


def _limit_of(exc: BaseException) -> LimitName | None:
    if isinstance(exc, LimitExceeded):
        return exc.limit
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, RecursionError):
        return "recursion"
    return None


def _compile_error(problems: list[CompileProblem]) -> ScriptError:
    first = problems[0]
    where = f"line {first.line}: " if first.line is not None else ""
    more = len(problems) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ScriptError(
        type="CompileError",
        message=_sanitize(f"{where}{first.message}{tail}"),
        line=first.line,
        problems=tuple(problems),
    )


def _stack_depth() -> int:
    depth = 0
    frame = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


# What every call's namespace starts from: its name, the guards and injected names every call
# shares (objects no script can change, see guards.SHARED_GUARDS and injected.SHARED_INJECTED).
# Never handed out itself: each call gets a copy, then its own builtins and its own objects.
_SHARED_NAMES: Final[dict[str, Any]] = {
    "__name__": MODULE_NAME,
    **SHARED_GUARDS,
    **injected.SHARED_INJECTED,
}
# The builtins table; each call gets a copy (a dict's copy is one C call).
_BUILTINS: Final[dict[str, Any]] = fresh_builtins(
    guarded_pow=guarded_pow,
    safe_import=safe_import,
    guarded_getattr=getattr_builtin,
    guarded_hasattr=hasattr_builtin,
)


def _namespace(call: Call, host: HostBridge, output: injected.OutputLog) -> dict[str, Any]:
    namespace = _SHARED_NAMES.copy()
    namespace["__builtins__"] = _BUILTINS.copy()
    namespace["_print_"] = print_guard(output)
    injected.add_call_injected(namespace, host, call.settings, output)
    return namespace


def _entry_point(namespace: dict[str, Any], name: str) -> Callable[..., Any]:
    function = namespace.get(name) if name.isidentifier() and not name.startswith("_") else None
    if function is None:
        raise _FunctionMissing(f"the script does not define {name}()")
    if not (
        isinstance(function, types.FunctionType)
        and function.__code__.co_filename == SCRIPT_FILENAME
    ):
        raise _FunctionMissing(f"{name} is not a function defined with def in the script")
    return function


class _FunctionMissing(Exception):
    pass


def _shown_type(value: Any) -> str:
    """None, or "a value of type '<name>'" (never the value's repr: a tenant's code)."""
    return "None" if value is None else f"a value of type {type(value).__name__!r}"


class _Ended:
    """How a call ended, before its outcome dict is built: an Outcome's fields that the
    executor decides (a frozen dataclass of nine fields cost more to build than the dict)."""

    __slots__ = ("error", "limit", "ok", "result", "retire")

    def __init__(self, ok: bool, result: Any = None, error: ScriptError | None = None,
                 limit: LimitName | None = None, retire: bool = False) -> None:
        self.ok = ok
        self.result = result
        self.error = error
        self.limit = limit
        self.retire = retire


def _arguments(call: Call) -> list[Any]:
    # Deep copies of plain JSON: the script may change them freely.
    if not call.args:
        return [] if call.request is None else [injected.FetchRequest(call.request)]
    args: list[Any] = json.loads(json.dumps(list(call.args)))
    if call.request is not None:
        args.insert(0, injected.FetchRequest(call.request))
    return args


def _run(call: Call, limits: Limits, host: HostBridge, output: injected.OutputLog) -> _Ended:
    compiled = compile_script(call.source, limits)
    if not isinstance(compiled, CompiledScript):
        return _Ended(
            ok=False,
            error=_compile_error(compiled),
            limit="source" if is_source_limit(compiled) else None,
        )
    old_recursion_limit = sys.getrecursionlimit()
    try:
        # + 1: _run_script's own frame, below the script's first.
        sys.setrecursionlimit(_stack_depth() + 1 + RECURSION_HEADROOM)
        try:
            # The namespace is held by _run_script's frame alone, which lets it go once the
            # function has returned.
            return _run_script(call, limits, compiled, _namespace(call, host, output))
        finally:
            sys.setrecursionlimit(old_recursion_limit)
    except BaseException as exc:
        retire = _memory_retires(exc, limits)  # first: the frames still hold the allocations
        return _Ended(ok=False, error=script_error(exc, compiled.type_checking_names),
                      limit=_limit_of(exc), retire=retire)


def _run_script(call: Call, limits: Limits, compiled: CompiledScript,
                namespace: dict[str, Any]) -> _Ended:
    """The module's top level, then the function; the script's exceptions propagate."""
    exec(compiled.code, namespace)
    if call.function is None:
        return _Ended(ok=True)
    try:
        function = _entry_point(namespace, call.function)
    except _FunctionMissing as missing:
        line = compiled.functions.get(call.function)
        if line is not None:
            # Defined with def, then replaced as the top level ran: a decorator that returns
            # nothing (a registry's `def register(fn): HANDLERS[...] = fn`), or an assignment.
            # "Does not define" would be wrong; the script failed, at its def.
            found = namespace.get(call.function)
            return _Ended(ok=False, error=ScriptError(type="TypeError", line=line, message=(
                f"line {line}: {call.function} is {_shown_type(found)} once the script's top "
                f"level has run, not the function defined here: a decorator must return the "
                f"function it wraps, and nothing may assign to the name")))
        return _Ended(ok=False, error=ScriptError(type="FunctionMissing", message=str(missing)))
    result = function(*_arguments(call))
    del namespace, function
    if call.function in RESULT_IGNORED:
        return _Ended(ok=True)
    try:
        return _Ended(ok=True, result=to_json_safe(result, limits, injected.RESULT_CONVERSIONS,
                                                   result_values(call.function)))
    except ResultError as refused:
        return _Ended(
            ok=False,
            error=ScriptError(type="InvalidResult", message=_sanitize(str(refused))),
            limit=refused.limit,
        )


def _memory_retires(exc: BaseException, limits: Limits) -> bool:
    """A MemoryError retires the worker only if the memory really is nearly full."""
    return isinstance(exc, MemoryError) and leftovers.memory_nearly_full(limits.memory_bytes)


def execute(call: Call, limits: Limits, host: HostBridge) -> dict[str, Any]:
    """Run `call` and return its outcome as a JSON-safe dict (the shape of Outcome.to_json()).

    `call.function is None` compiles and checks only. Never raises. The caller's heap is left
    frozen (`gc.freeze`, see sandbox/leftovers.py): what a worker wants.
    """
    global _current_output
    leftovers.begin_call()
    started = time.perf_counter_ns()
    output = _current_output = injected.OutputLog(limits.output_bytes)
    try:
        outcome = _run(call, limits, host, output)
    except BaseException as exc:
        outcome = _Ended(
            ok=False,
            error=ScriptError(type=_type_name(exc), message=exception_message(exc)),
            limit=_limit_of(exc),
            retire=_memory_retires(exc, limits),
        )
    try:
        ended = _after_call(outcome)
        error = ended.error
        # Outcome.to_json()'s keys in its order; the worker fills in cpu_ms.
        return {
            "ok": ended.ok,
            "result": ended.result,
            "error": None if error is None else error.to_json(),
            "limit": ended.limit,
            "logs": output.text(),
            "logs_truncated": output.truncated,
            # Milliseconds to the microsecond (as round(..., 3) gives them), in integer steps.
            "duration_ms": (time.perf_counter_ns() - started + 500) // 1000 / 1000,
            "cpu_ms": 0.0,
            "retire": ended.retire,
        }
    except BaseException:
        return {
            "ok": False,
            "result": None,
            "error": {
                "type": "InternalError",
                "message": "the outcome could not be built",
                "line": None,
            },
            "limit": None,
            "logs": "",
            "logs_truncated": True,
            "duration_ms": 0.0,
            "retire": True,
        }
    finally:
        _current_output = None


def _after_call(outcome: _Ended) -> _Ended:
    """The call's garbage collected and its cache entries dropped; a stop overrides the outcome.

    The script's frames are gone by now, so its garbage is unreachable; its finalisers run in
    `collect_garbage`, still under the caller's CPU timer.
    """
    leftovers.forget_caches()  # first: what they drop may be the garbage to collect
    settled = leftovers.collect_garbage()
    stop = stopping.STOPPED
    if not settled:
        limit: LimitName = stop.limit if stop is not None else "garbage"
        return _Ended(ok=False, error=ScriptError(type="LimitExceeded", message=GARBAGE_MESSAGE),
                       limit=limit, retire=True)
    if stop is not None and outcome.limit != stop.limit:
        # The script swallowed the limit (a finally, a finalised generator) and went on.
        return _Ended(ok=False, error=ScriptError(type="LimitExceeded", message=stop.message),
                       limit=stop.limit)
    return outcome


def current_logs() -> tuple[str, bool]:
    """The running call's output so far and whether it was truncated ("" outside a call)."""
    output = _current_output
    return ("", False) if output is None else (output.text(), output.truncated)


__all__ = ["LimitExceeded", "RequestData", "execute"]
