"""A worker process: forked from the template, hardened once, then runs one tenant's calls
one at a time for the pool (the pool never gives it another tenant's call).

Forked by the template (sandbox/forkserver.py) through `harden.spawn_isolated`, which calls
`child_main` in the hardened child. Its pipe ends are descriptors 3 (the pool's messages) and 4
(its own); 0, 1 and 2 are /dev/null, so nothing but the protocol reaches the channel.

The CPU limit is a one-shot profiling timer (ITIMER_PROF: this process's CPU time, fine-grained)
armed per call. When it fires, it raises `LimitExceeded`, a BaseException the script cannot
catch (its bare `except:` is compiled as `except Exception:`), and the worker goes on to the
next call. It is deferred while host code talks to the parent, so a message is never torn in
two. After a MemoryError the worker exits and is replaced (its heap may be fragmented).
"""

from __future__ import annotations

import os
import signal
import time
from collections import OrderedDict, deque
from typing import Any, NoReturn

from sandbox.call import Call
from sandbox.forkserver import WORKER_IN_FD, WORKER_OUT_FD
from sandbox.harden import HardeningReport
from sandbox.limits import Limits
from sandbox.outcome import JSONValue
from sandbox.protocol import SOURCE_CACHE_SIZE, LineChannel, ProtocolError

# How long a worker polls for its next call before sleeping (see LineChannel.receive). Only
# while its calls come that often: a worker serves one tenant, and most tenants are not busy
# enough for polling to pay; each poll that ends in sleep is CPU taken from the others.
IDLE_SPIN_SECONDS = 0.0005
SPIN_WHEN_CALLS_WITHIN = 0.002

# Limits after which this process is not trusted to take more work.
# A CPU limit or a deep recursion unwinds cleanly and leaves the worker reusable; after a
# MemoryError the heap may be fragmented to its limit, so that worker is replaced.
REPLACE_AFTER_LIMITS = frozenset({"memory"})


class WorkerState:
    def __init__(self, channel: LineChannel) -> None:
        self.channel = channel
        self.queued_calls: deque[dict[str, Any]] = deque()
        self.current_id: int | None = None
        self.current_cpu_seconds = 0.0
        self.current_started = 0.0
        self.cpu_limit_pending = False
        # True while host code talks to the parent: a limit must not tear a message in two.
        self.in_host_code = False
        # Scripts by sha256, least recently used first (the pool mirrors this LRU).
        self.sources: OrderedDict[str, str] = OrderedDict()

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
    }


class WorkerBridge:
    """The HostBridge inside a worker: capability requests over the same channel."""

    def __init__(self, state: WorkerState, call_id: int) -> None:
        self.state = state
        self.call_id = call_id

    def request(self, payload: dict[str, JSONValue]) -> dict[str, JSONValue]:
        state = self.state
        state.in_host_code = True
        try:
            reply = self._exchange(payload)
        finally:
            state.in_host_code = False
        if state.cpu_limit_pending:
            state.cpu_limit_pending = False
            raise cpu_limit(state)
        return reply

    def _exchange(self, payload: dict[str, JSONValue]) -> dict[str, JSONValue]:
        self.state.channel.send({"type": "capability", "id": self.call_id, "request": payload})
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

    def on_cpu_limit(signum: int, frame: object) -> None:
        if state.current_id is None:
            return
        if state.in_host_code or channel.sending:
            # Never tear a message on the pipe: stop the script once the exchange is over.
            state.cpu_limit_pending = True
            return
        raise cpu_limit(state)

    signal.signal(signal.SIGPROF, on_cpu_limit)
    channel.send({"type": "ready", "pid": os.getpid(), "hardening": report.to_json()})

    spin = IDLE_SPIN_SECONDS
    while True:
        message: dict[str, Any] | None
        try:
            if state.queued_calls:
                message = state.queued_calls.popleft()
            else:
                waiting_since = time.perf_counter()
                message = channel.receive(spin_seconds=spin)
                waited = time.perf_counter() - waiting_since
                spin = IDLE_SPIN_SECONDS if waited < SPIN_WHEN_CALLS_WITHIN else 0.0
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
        channel.send({"type": "outcome", "id": message["id"], "outcome": outcome})
        if outcome.get("limit") in REPLACE_AFTER_LIMITS:
            return


def cpu_limit(state: WorkerState) -> BaseException:
    """What the CPU timer raises into the script: a BaseException scripts cannot catch (their
    bare `except:` is compiled as `except Exception:`), so the worker survives and is reused."""
    from sandbox.executor import LimitExceeded

    return LimitExceeded("cpu", f"CPU time limit of {state.current_cpu_seconds:g} s exceeded")


def run_one(state: WorkerState, message: dict[str, Any], executor: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        call = Call.from_json(message["call"])
        limits = Limits.from_json(message["limits"])
    except (KeyError, TypeError, ValueError) as error:
        return {
            "ok": False, "result": None, "limit": None, "logs": "", "logs_truncated": False,
            "error": {"type": "BadCall", "message": str(error)[:500], "line": None},
            "duration_ms": 0.0,
        }
    state.current_id = message["id"]
    state.current_cpu_seconds = limits.cpu_seconds
    state.current_started = started
    bridge = WorkerBridge(state, message["id"])
    try:
        outcome = execute_with_cpu_timer(state, executor, call, limits, bridge)
    except BaseException as error:  # the boundary: nothing escapes a worker's call
        limit = getattr(error, "limit", None)
        if limit == "cpu":
            outcome = limit_outcome("cpu", str(error), started)
        else:
            outcome = {
                "ok": False, "result": None, "limit": None, "logs": "", "logs_truncated": False,
                "error": {"type": "InternalError", "message": type(error).__name__,
                          "line": None},
                "duration_ms": (time.perf_counter() - started) * 1000,
            }
    finally:
        state.current_id = None
        state.cpu_limit_pending = False
    return outcome


def execute_with_cpu_timer(state: WorkerState, executor: Any, call: Call, limits: Limits,
                           bridge: WorkerBridge) -> dict[str, Any]:
    """Run the call with a one-shot CPU timer (ITIMER_PROF counts this process's CPU time)."""
    signal.setitimer(signal.ITIMER_PROF, limits.cpu_seconds)
    try:
        outcome: dict[str, Any] = executor.execute(call, limits, bridge)
        return outcome
    finally:
        # Disarm with the signal blocked, so it cannot land between the two steps.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})
        signal.setitimer(signal.ITIMER_PROF, 0)
        state.current_id = None
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGPROF})
