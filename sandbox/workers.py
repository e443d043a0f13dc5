"""Worker processes as the pool sees them: the pipes, the pidfd, the calls in flight.

A worker is forked by the template (sandbox/forkserver.py), so it is not the pool's child: the
pool learns that it died from its pipe's EOF and its pidfd (readable once the process is gone),
and from the template's report of the exit status. Signals go through the pidfd, which names
this process and no other even after its pid is reused.

A worker starts as a *spare* (`group` None) and is bound to one group, a tenant, on its first
call; it serves that group until it dies. Nothing here decides which call runs where: that is
sandbox/pool.py with sandbox/scheduler.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.forkserver import SpawnedWorker
from sandbox.limits import Limits
from sandbox.outcome import Outcome
from sandbox.protocol import MAX_MESSAGE_BYTES, SOURCE_CACHE_SIZE, EncodedCall

CapabilityHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(eq=False)
class PendingCall:
    id: int
    group: str
    encoded: EncodedCall
    source_sha256: str
    limits: Limits
    handler: CapabilityHandler
    future: asyncio.Future[Outcome]
    queued_at: float = 0.0  # time.monotonic() when it entered the queue
    started_at: float = 0.0
    # Time the worker spent paused for lighter calls (sandbox.yielding) while this call ran:
    # it does not count against the wall-clock limit.
    paused_seconds: float = 0.0
    # The worker's CPU time (read from outside) when this call was first seen running long.
    cpu_baseline: float | None = None
    # The wall clock's next timer: first the warning shortly before the deadline (the worker
    # is signalled to stop the script from inside, so the error carries its line: sandbox.pool
    # `_on_wall_warning`), then the deadline itself.
    deadline: asyncio.TimerHandle | None = None
    slow: asyncio.TimerHandle | None = None
    cpu_check: asyncio.TimerHandle | None = None
    # Capability requests being answered for this call: cancelled when the call ends.
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    asking: bool = False  # a capability request is being answered
    # Time spent waiting for the host's answers (a fetch() to a slow provider, say): the call
    # used no CPU then, so it neither makes its group heavy nor counts in its average.
    asked_at: float = 0.0
    host_seconds: float = 0.0
    # Whether the message that started it on its worker carried the script's text (else only
    # its hash): a worker may say it lacks the text only of a call sent by hash.
    sent_source: bool = False

    def wall_seconds_left(self, now: float) -> float:
        """What is left of the call's wall-clock limit (time paused excluded)."""
        return self.limits.wall_seconds - (now - self.started_at - self.paused_seconds)

    def own_seconds(self, now: float) -> float:
        """Seconds this call has run on its worker: not paused, not waiting on the host."""
        waiting = now - self.asked_at if self.asking else 0.0
        return now - self.started_at - self.paused_seconds - self.host_seconds - waiting

    def cancel_timers(self) -> None:
        for timer in (self.deadline, self.slow, self.cpu_check):
            if timer is not None:
                timer.cancel()
        self.deadline = self.slow = self.cpu_check = None

    def end(self) -> None:
        """The call is over on its worker: stop its clocks and whatever it asked the host."""
        self.cancel_timers()
        for task in list(self.tasks):
            task.cancel()


@dataclass(eq=False)  # identity: workers are keys of the yield gate
class Worker:
    id: int
    pid: int
    pidfd: int | None
    uid: int | None = None
    group: str | None = None  # the one group it serves; None while a spare
    stdin: asyncio.WriteTransport | None = None
    reader: asyncio.ReadTransport | None = None
    inflight: deque[PendingCall] = field(default_factory=deque)
    ready: bool = False
    # Out of service: killed, crashed or reclaimed. Its process may still be going away.
    dead: bool = False
    # Reported a limit after which it exits by itself: take no more calls, and whatever is
    # still queued in its pipe never started.
    retiring: bool = False
    # Its start was charged to its group's budget (a check's worker, which serves one check):
    # it is charged no more, however it ends.
    start_charged: bool = False
    # Why it was taken out of service when the pool did it (shown while it lingers).
    dead_reason: str = ""
    dead_at: float = 0.0
    eof: bool = False
    gone: bool = False  # the process no longer exists
    exit_status: int | None = None
    idle_priority: bool = False
    # Stopped by the yield gate since then, in the middle of this call.
    paused_at: float | None = None
    paused_call: PendingCall | None = None
    last_used: float = 0.0
    calls: int = 0
    ready_timer: asyncio.TimerHandle | None = None
    # Sources this worker holds, mirroring its own LRU: a known script is sent by hash alone.
    sources: OrderedDict[str, None] = field(default_factory=OrderedDict)
    exited: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def usable(self) -> bool:
        return self.ready and not self.dead and not self.retiring and not self.eof

    def write(self, data: bytes) -> bool:
        """False when the pipe to the worker is gone (never drop a message silently)."""
        if self.stdin is None or self.stdin.is_closing():
            return False
        self.stdin.write(data)
        return True

    def mark_source(self, sha256: str) -> bool:
        """Record that the worker will hold this source; True when it already did."""
        known = sha256 in self.sources
        self.sources[sha256] = None
        self.sources.move_to_end(sha256)
        while len(self.sources) > SOURCE_CACHE_SIZE:
            self.sources.popitem(last=False)
        return known

    def send_signal(self, signum: int) -> bool:
        """Signal this very process (never a later one with the same pid); False if gone."""
        if self.gone:
            return False
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signum)
            except (ProcessLookupError, OSError):
                return False
            return True
        # No pidfds on this kernel: only stop/continue go directly (the pool watches the
        # pid), and kills go through the template, the worker's parent (False here).
        if signum == signal.SIGKILL:
            return False
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def cpu_seconds(self) -> float | None:
        """CPU time the process has used (user + system), read from outside."""
        if self.gone:
            return None
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None
        # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def close_descriptors(self) -> None:
        for transport in (self.stdin, self.reader):
            if transport is not None:
                transport.close()
        if self.pidfd is not None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(Exception):
                loop.remove_reader(self.pidfd)
            with contextlib.suppress(OSError):
                os.close(self.pidfd)
            self.pidfd = None


class WorkerReader(asyncio.Protocol):
    """Lines from one worker's pipe; EOF when the process is gone or closed it."""

    def __init__(self, worker: Worker, on_line: Callable[[Worker, bytes], None],
                 on_violation: Callable[[Worker, str], None],
                 on_eof: Callable[[Worker], None]) -> None:
        self.worker = worker
        self.on_line = on_line
        self.on_violation = on_violation
        self.on_eof = on_eof
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        """Each complete line to `on_line`, until the worker is taken out; the incomplete
        rest waits for more. A chunk that starts a line (nearly every one: a worker writes a
        whole message at once) is cut where it lies, not copied through the buffer first."""
        worker = self.worker
        buffer = self.buffer
        chunk: bytes | bytearray = data
        if buffer:
            buffer += data
            chunk = buffer
        start = 0
        while not worker.dead:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            self.on_line(worker, bytes(chunk[start:end]))
            start = end + 1
        if chunk is buffer:
            del buffer[:start]
        elif start < len(data):
            buffer += data[start:]
        if len(buffer) > MAX_MESSAGE_BYTES:
            buffer.clear()
            self.on_violation(worker, "a message larger than the protocol allows")

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_eof(self.worker)


async def connect(worker: Worker, spawned: SpawnedWorker, reader: WorkerReader) -> None:
    """Attach the pool's pipe ends to the event loop.

    The write side first: once reading starts, the worker's "ready" may be handled at once,
    and a call dispatched to it then must find somewhere to go.
    """
    loop = asyncio.get_running_loop()
    read_pipe = os.fdopen(spawned.read_fd, "rb", buffering=0)
    write_pipe = os.fdopen(spawned.write_fd, "wb", buffering=0)
    write_transport, _ = await loop.connect_write_pipe(asyncio.Protocol, write_pipe)
    worker.stdin = write_transport
    read_transport, _ = await loop.connect_read_pipe(lambda: reader, read_pipe)
    worker.reader = read_transport
