"""A worker process: forked from the template, hardened once, then runs one tenant's calls
one at a time for the pool (the pool never gives it another tenant's call).

Forked by the template (sandbox/forkserver.py) through `harden.spawn_isolated`, which calls
`child_main` in the hardened child. Its pipe ends are descriptors 3 (the pool's messages) and 4
(its own); 0, 1 and 2 are /dev/null, so nothing but the protocol reaches the channel.

The CPU limit is a profiling timer (ITIMER_PROF: this process's CPU time, fine-grained) armed
per call: it fires at the limit and then every `CPU_REFIRE_SECONDS` until the call ends. The
first firing stops the call (sandbox/stopping.py: every guard refuses from then on); each firing
raises `LimitExceeded` into the script's own frames, never into host code, so host state and
messages to the parent are never torn. A script that swallows it anyway (a generator finalised
by the collector, a `finally` that loops) gets `CPU_GRACE_SECONDS` more; then the worker reports
the limit itself and exits (`end_unstoppable_call`), and is replaced.

The wall-clock limit is the pool's: it kills a worker still in its call at the deadline. A
little before that, it sends the worker SIGALRM (sandbox/pool.py `_on_wall_warning`; time the
pool paused the worker does not count, as for the deadline), and the worker stops the call the
same way as for the CPU limit, with the label "wall": the script unwinds from the line it was
at, the error names that line, and the worker is kept. The first warning arms ITIMER_REAL to
fire again every `WALL_REFIRE_SECONDS` until the call ends, for a warning that landed in host
code. A call waiting on the host ignores the warning (it ends as before: the script goes on
with the host's answer, or the pool kills it at the deadline).

A worker retires (exits after reporting, the outcome saying `"retire": true`) when a call's
MemoryError came with its address space nearly full, or its garbage would not settle
(sandbox/leftovers.py); a MemoryError that allocated nothing (`bytes(10**12)`) retires nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import OrderedDict, deque
from types import FrameType
from typing import Any, NoReturn

from sandbox import stopping
from sandbox.call import Call
from sandbox.compiler import SCRIPT_FILENAME
from sandbox.harden import HardeningReport
from sandbox.limits import DEFAULT_LIMITS, WALL_WARNING_SIGNAL, Limits, wall_warning_seconds
from sandbox.outcome import JSONValue
from sandbox.protocol import (
    MAX_MESSAGE_BYTES,
    SOURCE_CACHE_SIZE,
    LineChannel,
    ProtocolError,
    encode,
)
from sandbox.template import WORKER_IN_FD, WORKER_OUT_FD

# A worker waits for its next call in a blocking read, never polling for it: on a 2-core
# machine a polling worker takes the CPU the service's own process needs (measured with
# bench/sandbox.py, interleaved runs: polling 0.5 ms after each call cost the workers 90 to
# 350 µs more CPU per call and gave no more calls per second, also when it yielded the core
# between polls).

# After the CPU limit fires, the timer fires again every this many seconds of CPU time.
CPU_REFIRE_SECONDS = 0.01
# CPU time a call may still use after its limit fired (a script swallowing the exception)
# before the worker reports the limit itself and exits.
CPU_GRACE_SECONDS = 0.2
# After the wall-clock warning, the worker's own timer fires again every this many seconds
# (real time) until the call ends, so a warning that found host code running reaches the script.
WALL_REFIRE_SECONDS = 0.005


_NOTHING_SENT: Any = object()


class WorkerState:
    def __init__(self, channel: LineChannel) -> None:
        self.channel = channel
        self.queued_calls: deque[dict[str, Any]] = deque()
        self.current_id: int | None = None
        self.current_cpu_seconds = 0.0
        self.current_wall_seconds = 0.0
        # ITIMER_REAL refires the wall-clock warning (armed at the first one, for this call).
        self.wall_refiring = False
        self.current_started = 0.0
        # This process's CPU time when the current call's CPU limit first fired.
        self.cpu_fired_at: float | None = None
        # True while host code talks to the parent: a limit must not tear a message in two.
        self.in_host_code = False
        # Scripts by sha256, least recently used first (the pool mirrors this LRU).
        self.sources: OrderedDict[str, str] = OrderedDict()
        # The last call's limits as sent and as parsed: the pool sends the same ones call after
        # call, and a Limits is immutable.
        self.limits_sent: Any = _NOTHING_SENT
        # The template's (immutable): one made here would be allocated in the fork, between
        # its start and its "ready".
        self.limits = DEFAULT_LIMITS
        # This process's CPU clock when the last call's CPU time was taken (`call_cpu_ms`).
        self.cpu_clock_ns = time.process_time_ns()

    def parse_limits(self, sent: Any) -> Limits:
        # The channel hands over the same object while the limits' text is unchanged.
        if sent is not self.limits_sent and sent != self.limits_sent:
            self.limits = Limits.from_json(sent)
            self.limits_sent = sent
        return self.limits

    def call_cpu_ms(self) -> float:
        """The CPU time this worker used since the last call's was taken: the call's own, and
        the reading of its message (a few microseconds), never less than the limit saw.

        The worker runs one call at a time and uses no CPU while it waits for the next, so one
        reading of the clock per call is enough: a reading is a system call, and one at each
        end of a call made two. Milliseconds to the microsecond, in integer steps (a float's
        shortest text is then short)."""
        now = time.process_time_ns()
        used, self.cpu_clock_ns = now - self.cpu_clock_ns, now
        return (used + 500) // 1000 / 1000

    def resolve_source(self, call: dict[str, Any]) -> bool:
        """Put the script's text into `call`; False when it came by hash and is not here."""
        sha256 = call.get("source_sha256")
        source = call.get("source")
        if not isinstance(sha256, str):
            return isinstance(source, str)
        if isinstance(source, str):
            self.sources[sha256] = source
        elif sha256 in self.sources:
            call["source"] = self.sources[sha256]
        else:
            return False
        self.sources.move_to_end(sha256)
        while len(self.sources) > SOURCE_CACHE_SIZE:
            self.sources.popitem(last=False)
        return True


def limit_outcome(limit: str, message: str, started: float) -> dict[str, Any]:
    return {
        "ok": False,
        "result": None,
        "error": {"type": "LimitExceeded", "message": message, "line": None},
        "limit": limit,
        "logs": "",
        "logs_truncated": False,
        "duration_ms": (time.perf_counter() - started) * 1000,
        "retire": False,
    }


class WorkerBridge:
    """The HostBridge inside a worker: capability requests over the same channel."""

    def __init__(self, state: WorkerState, call_id: int) -> None:
        self.state = state
        self.call_id = call_id

    def request(self, payload: dict[str, JSONValue]) -> dict[str, JSONValue]:
        state = self.state
        stopping.refuse_if_stopped()
        state.in_host_code = True
        try:
            reply = self._exchange(payload)
        finally:
            state.in_host_code = False
        # The limit may have fired during the exchange (it never raises into host code):
        # this is the safe point to stop the script.
        stopping.refuse_if_stopped()
        return reply

    def _exchange(self, payload: dict[str, JSONValue]) -> dict[str, JSONValue]:
        line = encode({"type": "capability", "id": self.call_id, "request": payload})
        if len(line) > MAX_MESSAGE_BYTES:
            # The pool would take the line for a broken worker and replace it, failing the call
            # with a protocol error: refused here instead, as the host would refuse it (the
            # script gets its FetchError or StorageError).
            return {"ok": False, "error": f"the request is {len(line)} bytes as JSON text, more "
                                          f"than the {MAX_MESSAGE_BYTES} the host reads"}
        self.state.channel.send_line(line)
        while True:
            message = self.state.channel.receive()
            if message is None:
                os._exit(0)
            if message["type"] == "call":
                # The pool pipelines calls; keep this one for after the current call.
                self.state.queued_calls.append(message)
                continue
            if message["type"] == "capability_reply" and message.get("id") == self.call_id:
                reply = message.get("reply")
                if isinstance(reply, dict):
                    return reply
                return {"ok": False, "error": "the host sent an invalid reply"}


def child_main(report: HardeningReport) -> NoReturn:
    """The worker's life, in a process the template forked and `spawn_isolated` hardened.

    Its pipe ends are at WORKER_IN_FD (calls) and WORKER_OUT_FD (messages); 0, 1 and 2 are
    /dev/null (inherited from the template). Never returns: the process ends here.
    """
    try:
        serve(report)
    finally:
        os._exit(0)


def serve(report: HardeningReport) -> None:
    # Everything tenant code can reach was imported by the template before the fork.
    import sandbox.executor as executor

    channel = LineChannel(read_fd=WORKER_IN_FD, write_fd=WORKER_OUT_FD)
    state = WorkerState(channel)
    install_cpu_timer_handler(state)
    install_wall_warning_handler(state)
    channel.send({"type": "ready", "pid": os.getpid(), "hardening": report.to_json()})

    while True:
        message: dict[str, Any] | None
        try:
            message = state.queued_calls.popleft() if state.queued_calls else channel.receive()
        except ProtocolError:
            return  # the pool sent something unreadable: it will see this worker exit
        if message is None:
            return
        if message["type"] != "call":
            continue
        if not isinstance(message.get("call"), dict) or not state.resolve_source(message["call"]):
            channel.send({"type": "source_missing", "id": message.get("id")})
            continue
        outcome = run_one(state, message, executor)
        channel.send_outcome(message["id"], outcome)
        if outcome.get("retire"):
            return


def cpu_limit(state: WorkerState) -> BaseException:
    """What the CPU timer raises into the script: a BaseException scripts cannot catch (their
    bare `except:` is compiled as `except Exception:`), so the worker survives and is reused."""
    return stopping.refusal()


def on_cpu_timer(state: WorkerState, frame: FrameType | None) -> None:
    """SIGPROF: the call's CPU limit fired (first time) or fires again (every refire).

    It stops the call and raises only into the script's own frames: host code (a guard, an
    exchange with the parent, the executor building the outcome) is never interrupted, and
    refuses by itself at its next safe point because the call is stopped.
    """
    if state.current_id is None:
        return
    if stopping.STOPPED is None:
        state.cpu_fired_at = time.process_time()
        stopping.stop("cpu", f"CPU time limit of {state.current_cpu_seconds:g} s exceeded")
    elif (
        state.cpu_fired_at is not None
        and time.process_time() - state.cpu_fired_at > CPU_GRACE_SECONDS
        and not (state.in_host_code or state.channel.sending)
    ):
        end_unstoppable_call(state)
    if frame is not None and frame.f_code.co_filename == SCRIPT_FILENAME:
        raise cpu_limit(state)


def end_unstoppable_call(state: WorkerState) -> NoReturn:
    """The script went on past its CPU limit and grace: report the limit, retire, exit now."""
    from sandbox.executor import current_logs

    # The script may be at its recursion limit: leave room for building and sending this.
    sys.setrecursionlimit(sys.getrecursionlimit() + 1000)
    outcome = limit_outcome(
        "cpu",
        f"CPU time limit of {state.current_cpu_seconds:g} s exceeded; the script went on "
        "after it, so its worker was stopped",
        state.current_started,
    )
    outcome["logs"], outcome["logs_truncated"] = current_logs()
    outcome["retire"] = True
    try:
        state.channel.send({"type": "outcome", "id": state.current_id, "outcome": outcome})
    finally:
        os._exit(0)  # the pool replaces a worker that exits without reporting, too


def _ignore_unraisable(unraisable: Any) -> None:
    """Exceptions CPython cannot raise (in a finaliser) are the script's own business: a
    swallowed limit is known from sandbox.stopping, and nothing of it belongs on stderr."""


def run_one(state: WorkerState, message: dict[str, Any], executor: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        call = Call.from_json(message["call"])
        limits = state.parse_limits(message["limits"])
    except (KeyError, TypeError, ValueError) as error:
        return {
            "ok": False, "result": None, "limit": None, "logs": "", "logs_truncated": False,
            "error": {"type": "BadCall", "message": str(error)[:500], "line": None},
            "duration_ms": 0.0, "retire": False,
        }
    state.current_id = message["id"]
    state.current_cpu_seconds = limits.cpu_seconds
    state.current_wall_seconds = limits.wall_seconds
    state.current_started = started
    bridge = WorkerBridge(state, message["id"])
    try:
        outcome = execute_with_cpu_timer(state, executor, call, limits, bridge)
    except BaseException as error:  # the boundary: nothing escapes a worker's call
        limit = getattr(error, "limit", None)
        if limit in ("cpu", "wall"):
            outcome = limit_outcome(limit, str(error), started)
        else:
            outcome = {
                "ok": False, "result": None, "limit": None, "logs": "", "logs_truncated": False,
                "error": {"type": "InternalError", "message": type(error).__name__,
                          "line": None},
                "duration_ms": (time.perf_counter() - started) * 1000,
                # Something broke in the worker's own code: do not trust it with more work.
                "retire": True,
            }
    finally:
        state.current_id = None
        stopping.resume()
    # The tenant's usage page sums it; a script cannot make it smaller than what the limit saw.
    cpu_ms = state.call_cpu_ms()
    if outcome.get("limit") == "cpu":
        # Stopped by its CPU timer, which counts the kernel's CPU time sampled at each tick:
        # on a loaded machine that runs ahead of the exact clock read here (a loop stopped at
        # a 0.5 s limit read 0.3999 s), and the call would report less than its limit.
        cpu_ms = max(cpu_ms, round(limits.cpu_seconds * 1000.0, 3))
    outcome["cpu_ms"] = cpu_ms
    return outcome


def execute_with_cpu_timer(state: WorkerState, executor: Any, call: Call, limits: Limits,
                           bridge: WorkerBridge) -> dict[str, Any]:
    """Run the call under its CPU timer (ITIMER_PROF counts this process's CPU time): first at
    the limit, then every CPU_REFIRE_SECONDS until the call is over (garbage collection and
    all). The SIGPROF handler is installed once per worker (`install_cpu_timer_handler`)."""
    stopping.resume()
    state.cpu_fired_at = None
    sys.unraisablehook = _ignore_unraisable
    signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds, CPU_REFIRE_SECONDS)
    try:
        outcome: dict[str, Any] = executor.execute(call, limits, bridge)
        return outcome
    finally:
        # The call is over for the handler first, then the timer stops: a SIGPROF that lands
        # in between, or whose Python-level handler runs a few bytecodes later, finds no call
        # and does nothing (no signal mask needed, which cost two system calls per call).
        state.current_id = None
        signal.setitimer(signal.ITIMER_PROF, 0)
        if state.wall_refiring:  # (only then: a system call per call is not free)
            state.wall_refiring = False
            signal.setitimer(signal.ITIMER_REAL, 0)


def on_wall_warning(state: WorkerState, frame: FrameType | None) -> None:
    """SIGALRM: the pool says the call's wall clock is nearly out (or the worker's own refire).

    Like the CPU timer: it stops the call and raises only into the script's own frames. It
    ignores a warning while host code talks to the parent (a call waiting on storage or
    fetch keeps its outcome as before), and one meant for the call before this one: the pool
    sends it when the call has run most of its wall clock, so a warning that finds the current
    call only just started came for the one that ended as the pool sent it.
    """
    if state.current_id is None or state.in_host_code or state.channel.sending:
        return
    wall = state.current_wall_seconds
    if time.perf_counter() - state.current_started < (wall - wall_warning_seconds(wall)) / 2:
        return
    stopping.stop("wall", f"wall-clock limit of {wall:g} s exceeded")
    if not state.wall_refiring:
        state.wall_refiring = True
        signal.setitimer(signal.ITIMER_REAL, WALL_REFIRE_SECONDS, WALL_REFIRE_SECONDS)
    if frame is not None and frame.f_code.co_filename == SCRIPT_FILENAME:
        raise stopping.refusal()


def install_wall_warning_handler(state: WorkerState) -> None:
    """WALL_WARNING_SIGNAL -> on_wall_warning for this worker's life (ignored between calls)."""
    signal.signal(WALL_WARNING_SIGNAL, lambda signum, frame: on_wall_warning(state, frame))


def install_cpu_timer_handler(state: WorkerState) -> None:
    """SIGPROF -> on_cpu_timer for this worker's life (it ignores a signal between calls)."""
    signal.signal(signal.SIGPROF, lambda signum, frame: on_cpu_timer(state, frame))
