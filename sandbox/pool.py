"""The parent's side of the process wall: a pool of pre-started, hardened workers.

Calls wait in per-tenant queues and are handed out fairly (sandbox/scheduler.py): to an idle
worker, or into the pipe of a worker running only the same tenant's quick calls, up to
`inflight_per_worker` (the next call waits in the pipe, saving a wake-up per call). The pool
enforces the wall clock itself: when the call at the head of a worker overruns, the worker is
killed and replaced, and calls queued behind it go back to the pool. A worker that reports a
memory limit exits by itself and is replaced the same way; a CPU limit only unwinds the script.
A worker running a heavy tenant's call is paused while other tenants' calls are being served
(sandbox/yielding.py); the time it spends paused does not count against that call's wall clock.

`fetch()` and `storage` requests arrive on the same pipe and are answered by the
`CapabilityHandler` the caller supplies with each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sandbox.call import Call
from sandbox.limits import DEFAULT_LIMITS, Limits
from sandbox.outcome import LimitName, Outcome, ScriptError
from sandbox.protocol import (
    MAX_MESSAGE_BYTES,
    SOURCE_CACHE_SIZE,
    ProtocolError,
    decode,
    encode,
    outcome_from_json,
    source_facts,
)
from sandbox.scheduler import FairQueue, GroupLoad, heavy_group_workers
from sandbox.worker import bootstrap_source
from sandbox.yielding import YieldGate

log = logging.getLogger("sandbox.pool")

CapabilityHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

WORKER_START_TIMEOUT = 20.0
SLOW_CALL_SECONDS = 0.05
CAN_RENICE = os.geteuid() == 0
STDERR_KEEP_BYTES = 8192
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=64)
def limits_json(limits: Limits) -> dict[str, Any]:
    return limits.to_json()


class PoolClosed(Exception):
    """The pool was closed before the call could run."""


async def no_capabilities(request: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "error": "fetch() and storage are not available in this context"}


def failure(
    error_type: str, message: str, *, limit: LimitName | None = None, duration_ms: float = 0.0
) -> Outcome:
    return Outcome(
        ok=False,
        error=ScriptError(type=error_type, message=message),
        limit=limit,
        duration_ms=duration_ms,
    )


@dataclass
class PendingCall:
    id: int
    group: str
    call: dict[str, Any]  # the call's JSON without its source
    source: str
    source_sha256: str
    limits: Limits
    handler: CapabilityHandler
    future: asyncio.Future[Outcome]
    started_at: float = 0.0
    # Time the worker spent paused for lighter calls (sandbox.yielding) while this call ran:
    # it does not count against the wall-clock limit.
    paused_seconds: float = 0.0
    deadline: asyncio.TimerHandle | None = None
    slow: asyncio.TimerHandle | None = None

    def cancel_timers(self) -> None:
        for timer in (self.deadline, self.slow):
            if timer is not None:
                timer.cancel()


@dataclass(eq=False)  # identity: workers are keys of the yield gate
class Worker:
    transport: asyncio.SubprocessTransport | None = None
    stdin: asyncio.WriteTransport | None = None
    started: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    exited: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    inflight: deque[PendingCall] = field(default_factory=deque)
    ready: bool = False
    dead: bool = False
    # Reported a limit after which it exits by itself: take no more calls, and whatever is
    # still queued in its pipe never started.
    retiring: bool = False
    stderr_tail: bytearray = field(default_factory=bytearray)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    idle_priority: bool = False
    # Stopped by the yield gate since then, in the middle of this call.
    paused_at: float | None = None
    paused_call: PendingCall | None = None
    # Sources this worker holds, mirroring its own LRU: a known script is sent by hash alone.
    sources: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def write(self, data: bytes) -> None:
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.write(data)

    def mark_source(self, sha256: str) -> bool:
        """Record that the worker will hold this source; True when it already did."""
        known = sha256 in self.sources
        self.sources[sha256] = None
        self.sources.move_to_end(sha256)
        while len(self.sources) > SOURCE_CACHE_SIZE:
            self.sources.popitem(last=False)
        return known


@dataclass
class PoolStats:
    calls: int = 0
    workers_started: int = 0
    workers_replaced: int = 0
    limit_hits: Counter[str] = field(default_factory=Counter)
    hardening: dict[str, list[str]] = field(default_factory=dict)


class SandboxPool:
    def __init__(
        self,
        size: int = 4,
        limits: Limits = DEFAULT_LIMITS,
        inflight_per_worker: int = 4,
        python: str = sys.executable,
    ) -> None:
        if size < 1 or inflight_per_worker < 1:
            raise ValueError("a pool needs at least one worker and one call per worker")
        self.size = size
        self.limits = limits
        self.inflight_per_worker = inflight_per_worker
        self.python = python
        self.stats = PoolStats()
        self._workers: list[Worker] = []
        self._waiting: FairQueue[PendingCall] = FairQueue()
        self._loads: dict[str, GroupLoad] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._background: set[asyncio.Task[Any]] = set()
        self._gate: YieldGate[Worker] = YieldGate(
            self._pause_worker, self._resume_worker, clock=time.perf_counter,
            call_later=lambda delay, callback: asyncio.get_running_loop().call_later(
                delay, callback),
        )

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.gather(*(self._spawn() for _ in range(self.size)))

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        self._gate.close()
        for worker in list(self._workers):
            self._kill(worker)
        for pending in self._waiting.drain():
            if not pending.future.done():
                pending.future.set_exception(PoolClosed("the sandbox pool was closed"))
        workers = list(self._workers)
        for worker in workers:
            if worker.transport is not None:
                worker.transport.close()
        if workers:
            # Reap the processes before the loop goes away.
            await asyncio.wait([asyncio.shield(w.exited) for w in workers], timeout=5)
        for task in list(self._background):
            task.cancel()

    @property
    def live_workers(self) -> int:
        return sum(1 for worker in self._workers if worker.ready and not worker.dead)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    # -- running calls --------------------------------------------------------------------------
    async def run(
        self,
        call: Call,
        *,
        limits: Limits | None = None,
        handler: CapabilityHandler | None = None,
        group: str = "",
    ) -> Outcome:
        """Run one call in a worker; always returns an Outcome (never raises for tenant code).

        `group` names whose call this is (the service passes the tenant): groups are served
        fairly (see sandbox.scheduler).
        """
        if self._closed:
            raise PoolClosed("the sandbox pool is closed")
        limits = limits or self.limits
        sha256, size = source_facts(call.source)
        if size > limits.source_bytes:
            # The worker refuses it too; checked here so it never crosses the pipe.
            return failure("CompileError",
                           f"the script is {size} bytes; the limit is {limits.source_bytes}",
                           limit="source")
        call_id = next(self._ids)
        body = call.to_json()
        del body["source"]
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        pending = PendingCall(call_id, group, body, call.source, sha256,
                              limits, handler or no_capabilities, future)
        self.stats.calls += 1
        # Known from its first call on, so a newcomer cannot take every worker at once.
        self._loads.setdefault(group, GroupLoad())
        self._waiting.push(group, pending)
        self._dispatch()
        outcome = await future
        if outcome.limit is not None:
            self.stats.limit_hits[outcome.limit] += 1
        load = self._loads.setdefault(group, GroupLoad())
        if not load.heavy:
            self._gate.light_activity()
        load.observe(outcome.duration_ms, outcome.limit in ("cpu", "wall", "memory"))
        if not load.heavy and load.average_ms < 1.0 and len(self._loads) > 10_000:
            del self._loads[group]  # forget idle light groups rather than grow forever
        return outcome

    async def check(self, source: str, *, limits: Limits | None = None, group: str = ""
                    ) -> Outcome:
        """Compile and contract-check a script in a worker (the compiler meets hostile input)."""
        return await self.run(Call(source=source, function=None), limits=limits, group=group)

    def _dispatch(self) -> None:
        while self._waiting:
            for group in self._waiting.groups():
                worker = self._worker_for(group)
                if worker is not None:
                    break
            else:
                return
            pending = self._waiting.pop(group)
            if pending.future.done():
                continue
            worker.inflight.append(pending)
            self._set_priority(worker, group)
            worker.write(self._message(worker, pending))
            if not self._heavy(group):
                self._gate.light_activity()
            if len(worker.inflight) == 1:
                self._arm_deadline(worker, pending)

    def _worker_for(self, group: str) -> Worker | None:
        """An idle worker, or one running only this group's calls with room in its pipe.

        No group holds every worker (one is always left for the others), and a heavy group
        only a few.
        """
        usable = [w for w in self._workers if w.ready and not w.dead and not w.retiring]
        heavy = self._heavy(group)
        held = sum(1 for w in usable if any(p.group == group for p in w.inflight))
        if heavy:
            cap = heavy_group_workers(self.size)
        elif len(self._loads) > 1:
            cap = max(1, self.size - 1)
        else:
            cap = self.size  # the only group seen: nobody to leave a worker for
        idle = [] if held >= cap else [w for w in usable if not w.inflight]
        if idle:
            return idle[0]
        if not self._loads.get(group, GroupLoad()).may_pipeline:
            return None  # only calls known to be quick wait in a busy worker's pipe
        own = [
            w for w in usable
            if w.inflight and len(w.inflight) < self.inflight_per_worker
            and all(p.group == group for p in w.inflight)
        ]
        return min(own, key=lambda w: len(w.inflight)) if own else None

    def _heavy(self, group: str) -> bool:
        load = self._loads.get(group)
        return load is not None and load.heavy

    def _set_priority(self, worker: Worker, group: str) -> None:
        """Heavy groups' calls run under SCHED_IDLE: only on CPU time nobody else wants, and
        preempted at once when another task wakes. A niceness still takes a share (and
        delays the wakeups of everyone else by a scheduler tick); SCHED_IDLE does not.

        Only with the privilege to restore the normal policy afterwards (root); else skipped.
        """
        if not CAN_RENICE or worker.transport is None:
            return
        idle = self._heavy(group)
        if worker.idle_priority != idle:
            policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
            with contextlib.suppress(OSError):
                os.sched_setscheduler(worker.transport.get_pid(), policy, os.sched_param(0))
                worker.idle_priority = idle

    def _message(self, worker: Worker, pending: PendingCall) -> bytes:
        call = dict(pending.call, source_sha256=pending.source_sha256)
        if not worker.mark_source(pending.source_sha256):
            call["source"] = pending.source
        return encode({"type": "call", "id": pending.id, "call": call,
                       "limits": limits_json(pending.limits)})

    def _arm_deadline(self, worker: Worker, pending: PendingCall) -> None:
        loop = asyncio.get_running_loop()
        pending.started_at = time.perf_counter()
        pending.deadline = loop.call_later(
            pending.limits.wall_seconds, self._on_deadline, worker, pending
        )
        pending.slow = loop.call_later(SLOW_CALL_SECONDS, self._on_slow, worker, pending)
        if self._heavy(pending.group):
            self._gate.heavy_started(worker)

    def _on_slow(self, worker: Worker, pending: PendingCall) -> None:
        """A call still running after SLOW_CALL_SECONDS: its group counts as heavy from now
        on (no need to wait for it to finish), and it yields the CPU to everyone else."""
        if not worker.inflight or worker.inflight[0] is not pending or pending.future.done():
            return
        self._loads.setdefault(pending.group, GroupLoad()).heavy = True
        self._set_priority(worker, pending.group)
        self._gate.heavy_started(worker)

    def _pause_worker(self, worker: Worker) -> None:
        """Stop a heavy call's worker (the yield gate decided); its wall clock stops too."""
        if worker.dead or worker.transport is None:
            return
        with contextlib.suppress(ProcessLookupError):
            worker.transport.send_signal(signal.SIGSTOP)
        worker.paused_at = time.perf_counter()
        head = worker.inflight[0] if worker.inflight else None
        worker.paused_call = head
        if head is not None and head.deadline is not None:
            head.deadline.cancel()
            head.deadline = None

    def _resume_worker(self, worker: Worker) -> None:
        paused_at, head = worker.paused_at, worker.paused_call
        worker.paused_at = worker.paused_call = None
        if worker.dead or worker.transport is None or paused_at is None:
            return
        with contextlib.suppress(ProcessLookupError):
            worker.transport.send_signal(signal.SIGCONT)
        if (head is None or not worker.inflight or worker.inflight[0] is not head
                or head.future.done()):
            return
        now = time.perf_counter()
        head.paused_seconds += now - paused_at
        remaining = head.limits.wall_seconds - (now - head.started_at - head.paused_seconds)
        head.deadline = asyncio.get_running_loop().call_later(
            max(0.0, remaining), self._on_deadline, worker, head)

    def _on_deadline(self, worker: Worker, pending: PendingCall) -> None:
        if not worker.inflight or worker.inflight[0] is not pending or pending.future.done():
            return
        elapsed = (time.perf_counter() - pending.started_at - pending.paused_seconds) * 1000
        pending.future.set_result(failure(
            "LimitExceeded",
            f"wall-clock limit of {pending.limits.wall_seconds:g} s exceeded",
            limit="wall",
            duration_ms=elapsed,
        ))
        self._kill(worker)

    def _resend_head(self, worker: Worker) -> None:
        """The worker lacked a source we thought it had (the two LRUs should never disagree).

        Its pipe may already hold more calls that depend on the same belief, so every call on
        it goes back to the queue (none had started) and the worker is replaced.
        """
        for pending in worker.inflight:
            pending.cancel_timers()
        for pending in reversed(worker.inflight):
            self._waiting.push_front(pending.group, pending)
        worker.inflight.clear()
        log.warning("sandbox worker lost a cached script; replacing it")
        self._kill(worker)
        self._dispatch()

    def _complete_head(self, worker: Worker, outcome: Outcome) -> None:
        pending = worker.inflight.popleft()
        pending.cancel_timers()
        self._gate.heavy_finished(worker)
        if not pending.future.done():
            pending.future.set_result(outcome)
        if worker.inflight and not worker.retiring:
            self._arm_deadline(worker, worker.inflight[0])
        self._dispatch()

    # -- workers ------------------------------------------------------------------------------
    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        worker = Worker()
        transport, _ = await loop.subprocess_exec(
            lambda: WorkerProtocol(self, worker),
            self.python, "-I", "-c", bootstrap_source(PACKAGE_PARENT),
            json.dumps(self.limits.to_json()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={},
            close_fds=True,
            start_new_session=True,
        )
        worker.transport = transport
        if CAN_RENICE and self._workers:
            # A replacement starts on CPU time nobody else wants: starting Python costs a few
            # hundred milliseconds of CPU, which must not come out of the tenants being served.
            # It gets the normal policy back once ready.
            with contextlib.suppress(OSError):
                os.sched_setscheduler(transport.get_pid(), os.SCHED_IDLE, os.sched_param(0))
                worker.idle_priority = True
        # uvloop's pipe transports implement WriteTransport without subclassing it.
        worker.stdin = cast(asyncio.WriteTransport, transport.get_pipe_transport(0))
        self._workers.append(worker)
        self.stats.workers_started += 1
        try:
            await asyncio.wait_for(asyncio.shield(worker.started), WORKER_START_TIMEOUT)
        except TimeoutError:
            log.error("sandbox worker did not start in %s s; stderr: %s", WORKER_START_TIMEOUT,
                      worker.stderr_tail.decode(errors="replace")[-2000:])
            self._kill(worker)

    def _on_line(self, worker: Worker, line: bytes) -> None:
        """One message from a worker, handled as it arrives (no task hop per message)."""
        try:
            message = decode(line)
            kind = message["type"]
            if not worker.ready:
                self._on_ready(worker, message)
                return
            if not worker.inflight or message.get("id") != worker.inflight[0].id:
                raise ProtocolError(f"a {kind!r} message for a call that is not running")
            if kind == "outcome":
                outcome = self._within_limits(
                    outcome_from_json(message.get("outcome")), worker.inflight[0].limits,
                    len(line),
                )
                if outcome.retire:  # the worker exits by itself after this outcome
                    worker.retiring = True
                self._complete_head(worker, outcome)
            elif kind == "capability":
                request = message.get("request")
                if not isinstance(request, dict):
                    raise ProtocolError("a capability request must be an object")
                self._track(worker, self._answer(worker, worker.inflight[0], request))
            elif kind == "source_missing":
                self._resend_head(worker)
            else:
                raise ProtocolError(f"unexpected message {kind!r}")
        except ProtocolError as error:
            self._protocol_violation(worker, str(error))

    @staticmethod
    def _within_limits(outcome: Outcome, limits: Limits, size: int) -> Outcome:
        """The worker enforces output and result limits; check them again from outside."""
        # JSON may escape a character into up to 6 bytes; anything beyond that bound is a
        # result the worker should have refused.
        if size > (limits.result_bytes + limits.output_bytes) * 6 + 65536:
            return failure("InvalidResult",
                           f"the result is larger than {limits.result_bytes} bytes as JSON",
                           limit="result", duration_ms=outcome.duration_ms)
        if len(outcome.logs) > limits.output_bytes:
            return replace(outcome, logs=outcome.logs[: limits.output_bytes],
                           logs_truncated=True)
        return outcome

    def _on_ready(self, worker: Worker, message: dict[str, Any]) -> None:
        if message.get("type") != "ready":
            raise ProtocolError("the worker's first message must be 'ready'")
        hardening = message.get("hardening")
        if not self.stats.hardening and isinstance(hardening, dict):
            self.stats.hardening = hardening
            log.info("sandbox workers hardened: active=%s inactive=%s",
                     hardening.get("active"), hardening.get("inactive"))
        worker.ready = True
        if worker.idle_priority and CAN_RENICE and worker.transport is not None:
            with contextlib.suppress(OSError):
                os.sched_setscheduler(worker.transport.get_pid(), os.SCHED_OTHER,
                                      os.sched_param(0))
                worker.idle_priority = False
        if not worker.started.done():
            worker.started.set_result(None)
        self._dispatch()

    def _protocol_violation(self, worker: Worker, reason: str) -> None:
        """A worker that breaks the protocol is not trusted with another call."""
        if worker.inflight and not worker.inflight[0].future.done():
            worker.inflight[0].future.set_result(failure(
                "WorkerProtocolError", f"the worker sent an invalid message: {reason}"
            ))
        self._kill(worker)

    def _track(self, worker: Worker, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        worker.tasks.add(task)
        task.add_done_callback(worker.tasks.discard)

    async def _answer(self, worker: Worker, pending: PendingCall, request: dict[str, Any]) -> None:
        try:
            reply = await pending.handler(request)
        except Exception as error:  # a host-side bug must not hang the tenant's call
            log.exception("capability handler failed")
            reply = {"ok": False, "error": f"the host could not complete the request ({error})"}
        if worker.dead or not worker.inflight or worker.inflight[0] is not pending:
            return
        worker.write(encode({"type": "capability_reply", "id": pending.id, "reply": reply}))

    def _kill(self, worker: Worker) -> None:
        if worker.dead:
            return
        worker.dead = True
        self._gate.heavy_finished(worker)
        if worker.transport is not None:
            with contextlib.suppress(ProcessLookupError):
                worker.transport.send_signal(signal.SIGKILL)

    def _on_worker_exit(self, worker: Worker) -> None:
        """The process has exited and its pipes are closed."""
        worker.dead = True
        self._gate.heavy_finished(worker)
        if not worker.exited.done():
            worker.exited.set_result(None)
        if not worker.started.done():
            worker.started.set_result(None)
        returncode = worker.transport.get_returncode() if worker.transport else None
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.inflight and not worker.retiring:
            head = worker.inflight.popleft()
            head.cancel_timers()
            if not head.future.done():
                head.future.set_result(failure(
                    "WorkerCrashed",
                    f"the sandbox worker stopped unexpectedly (exit status {returncode})",
                    duration_ms=(time.perf_counter() - head.started_at) * 1000,
                ))
        # Calls queued behind it never started: give them to another worker.
        for pending in worker.inflight:
            pending.cancel_timers()
        for pending in reversed(worker.inflight):
            self._waiting.push_front(pending.group, pending)
        worker.inflight.clear()
        if worker.transport is not None:
            worker.transport.close()
        if not self._closed:
            self._dispatch()
            self.stats.workers_replaced += 1
            task = asyncio.ensure_future(self._spawn())
            self._background.add(task)
            task.add_done_callback(self._background.discard)


class WorkerProtocol(asyncio.SubprocessProtocol):
    """Bytes from one worker process: protocol lines on stdout, diagnostics on stderr."""

    def __init__(self, pool: SandboxPool, worker: Worker) -> None:
        self.pool = pool
        self.worker = worker
        self.buffer = bytearray()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        chunk = data.encode() if isinstance(data, str) else data
        worker = self.worker
        if fd == 2:
            worker.stderr_tail += chunk
            del worker.stderr_tail[:-STDERR_KEEP_BYTES]
            return
        self.buffer += chunk
        while not worker.dead:
            end = self.buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self.pool._on_line(worker, line)
        if len(self.buffer) > MAX_MESSAGE_BYTES:
            self.buffer.clear()
            self.pool._protocol_violation(worker, "a message larger than the protocol allows")

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool._on_worker_exit(self.worker)
