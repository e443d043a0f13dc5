"""The template process (fork server) and the pool's line to it.

Starting Python for every worker costs hundreds of milliseconds; forking a process that has
already imported and warmed everything costs about one. The template is that process: started
once by the pool, it imports the sandbox, warms what a first call would (platform code only: it
never runs tenant code), runs `harden.prepare_template()`, then waits for spawn requests. For
each, it forks through `harden.spawn_isolated()`, whose final child hardens itself and becomes
the worker (`entry`, normally `sandbox.worker:child_main`).

The template makes each worker's two pipes and answers with the pool's ends (SCM_RIGHTS), the
worker's pid and a pidfd: the pool kills and watches the worker through it, with no pid-reuse
race. Once it has answered, the template holds none of the worker's pipes (the pool sees EOF
when a worker dies). Each request also names the spec of the spawn after it (`standby`: the
pool reserves the next worker's uid in advance), so the template can fork and harden that
worker before it is asked for (sandbox/template.py); its "ready" is then waiting in its pipe
when the answer arrives. As the workers' parent, the template reaps them and reports each
exit status.

Control messages are JSON datagrams on a SOCK_SEQPACKET socketpair:
    pool → template: {"type": "spawn", "id", "spec": {...}, "standby": {...} or null}
                     {"type": "kill", "pid"} (only where pidfds are missing)
    template → pool: {"type": "ready", "pid", "notes"}
                     {"type": "spawned", "id", "pid", "pidfd": bool}
                         + [messages read end, calls write end] (+ [pidfd])
                     {"type": "spawn_failed", "id", "error"}
                     {"type": "exited", "pid", "status"}
The template trusts the pool; the pool reads the template's messages strictly anyway.

Test-only: the worker entry is fixed when the template starts (a command-line argument the pool
passes from its constructor), so a template started by the service can only ever spawn the real
worker; tests start their own pool/template with another entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Re-exported: the pool's side and the worker use the same numbers and names.
from sandbox.template import DEFAULT_ENTRY as DEFAULT_ENTRY
from sandbox.template import MAX_CONTROL_MESSAGE as MAX_CONTROL_MESSAGE
from sandbox.template import PACKAGE_PARENT as PACKAGE_PARENT
from sandbox.template import TEMPLATE_LOW_FD as TEMPLATE_LOW_FD
from sandbox.template import WORKER_IN_FD as WORKER_IN_FD
from sandbox.template import WORKER_OUT_FD as WORKER_OUT_FD

log = logging.getLogger("sandbox.forkserver")

# Deadlines (generous: the machine may be loaded). Every wait on the template has one.
TEMPLATE_START_SECONDS = 30.0
SPAWN_REPLY_SECONDS = 10.0
STDERR_KEEP_BYTES = 8192


class SpawnError(Exception):
    """The template could not start a worker (or did not answer in time)."""


def bootstrap_source(package_parent: str) -> str:
    return (
        "import sys; sys.path.insert(0, " + repr(package_parent) + "); "
        "from sandbox.template import template_main; template_main()"
    )


# --- the pool's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class SpawnedWorker:
    """A worker just forked: its pid, a pidfd when the kernel has them, the pool's pipe ends."""

    pid: int
    pidfd: int | None
    read_fd: int  # the worker's messages
    write_fd: int  # calls to the worker


ExitListener = Callable[[int, int], None]


class ForkServer:
    """The pool's handle on one template process; restart it with a new instance."""

    def __init__(self, python: str, entry: str, on_exit: ExitListener,
                 on_down: Callable[[ForkServer], None]) -> None:
        self.python = python
        self.entry = entry
        self.on_exit = on_exit
        self.on_down = on_down
        self.ready = False
        self.down = False
        self.closing = False
        self.pid: int | None = None
        self.notes: list[str] = []
        self.stderr_tail = bytearray()
        self._process: asyncio.subprocess.Process | None = None
        self._control: socket.socket | None = None
        self._ready: asyncio.Future[None] | None = None
        self._replies: dict[int, asyncio.Future[SpawnedWorker]] = {}
        self._asked: dict[int, float] = {}  # spawn requests not answered yet: when asked
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_answer = time.monotonic()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ready = loop.create_future()
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.python, "-I", "-c", bootstrap_source(PACKAGE_PARENT),
                str(theirs.fileno()), self.entry,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, pass_fds=(theirs.fileno(),), env={},
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.pid = self._process.pid
        ours.setblocking(False)
        self._control = ours
        loop.add_reader(ours.fileno(), self._on_readable)
        self._track(self._watch_process(self._process))
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), TEMPLATE_START_SECONDS)
        except TimeoutError:
            self.kill()
            raise SpawnError(
                f"the worker template did not start in {TEMPLATE_START_SECONDS:g} s; stderr: "
                + self.stderr_tail.decode(errors="replace")[-2000:]) from None

    def _track(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_process(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(4096):
            self.stderr_tail += chunk
            del self.stderr_tail[:-STDERR_KEEP_BYTES]
        await process.wait()
        self._went_down(f"the worker template exited (status {process.returncode})")

    def _went_down(self, reason: str, expected: bool = False) -> None:
        if self.down:
            return
        self.down = True
        self.ready = False
        if self._control is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._control.fileno())
            self._control.close()
        for future in self._replies.values():
            if not future.done():
                future.set_exception(SpawnError(reason))
        self._replies.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(SpawnError(
                reason + "; stderr: " + self.stderr_tail.decode(errors="replace")[-2000:]))
            self._ready.exception()  # consumed: start() reports it
        log.log(logging.INFO if expected or self.closing else logging.WARNING, "%s", reason)
        self.on_down(self)

    def _on_readable(self) -> None:
        control = self._control
        if control is None or self.down:
            return
        while True:
            try:
                data, fds, _flags, _address = socket.recv_fds(control, MAX_CONTROL_MESSAGE, 3)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                self._went_down(f"the worker template's socket failed: {error}")
                return
            for fd in fds:  # SCM_RIGHTS hands them over inheritable
                os.set_inheritable(fd, False)
            if not data:
                _close_quietly(*fds)
                self._went_down("the worker template closed its socket")
                return
            self.last_answer = time.monotonic()
            try:
                self._on_message(json.loads(data), fds)
            except (ValueError, KeyError, TypeError) as error:
                _close_quietly(*fds)
                log.error("the worker template sent an invalid message: %s", error)

    def _on_message(self, message: dict[str, Any], fds: list[int]) -> None:
        kind = message["type"]
        if kind == "ready":
            self.ready = True
            self.notes = [str(note) for note in message.get("notes") or []]
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        if kind == "exited":
            _close_quietly(*fds)
            self.on_exit(int(message["pid"]), int(message["status"]))
            return
        request_id = int(message["id"])
        future = self._replies.pop(request_id, None)
        if kind == "spawned":
            expected = 3 if message.get("pidfd") is True else 2
            if len(fds) != expected:
                _close_quietly(*fds)
                error = f"the template answered a spawn with {len(fds)} descriptors, not {expected}"
                log.error("%s", error)
                if future is not None and not future.done():
                    future.set_exception(SpawnError(error))
                return
            messages_fd, calls_fd = fds[0], fds[1]
            pidfd = fds[2] if expected == 3 else None
            if future is None or future.done():
                # Nobody waits for it any more (the spawn timed out): with its pipes closed
                # here the worker finds its input closed and exits.
                _close_quietly(*fds)
                return
            future.set_result(SpawnedWorker(int(message["pid"]), pidfd, messages_fd, calls_fd))
            return
        _close_quietly(*fds)
        if future is not None and not future.done():
            future.set_exception(SpawnError(str(message.get("error"))))

    async def spawn(self, spec: dict[str, Any],
                    standby: dict[str, Any] | None = None) -> SpawnedWorker:
        """Fork one worker; raises SpawnError when the template fails or does not answer.

        `standby`: the spec the next spawn will carry, so the template can have that worker
        forked and hardened before it is asked for (None: no head start)."""
        if not self.ready or self._control is None:
            raise SpawnError("the worker template is not running")
        request_id = next(self._ids)
        data = json.dumps({"type": "spawn", "id": request_id, "spec": spec,
                           "standby": standby}).encode()
        try:
            self._control.send(data)
        except OSError as error:
            raise SpawnError(f"cannot reach the worker template: {error}") from None
        future: asyncio.Future[SpawnedWorker] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        self._asked[request_id] = time.monotonic()
        try:
            return await asyncio.wait_for(future, SPAWN_REPLY_SECONDS)
        except TimeoutError:
            self._replies.pop(request_id, None)
            raise SpawnError(
                f"the worker template did not answer a spawn in {SPAWN_REPLY_SECONDS:g} s"
            ) from None
        finally:
            self._asked.pop(request_id, None)

    def waiting_seconds(self) -> float:
        """How long the oldest unanswered spawn request has waited (0 when none)."""
        if not self._asked:
            return 0.0
        return time.monotonic() - min(self._asked.values())

    def kill_worker(self, pid: int) -> None:
        """Where the pool holds no pidfd: the template, the worker's parent, kills it."""
        if self._control is None or self.down:
            return
        with contextlib.suppress(OSError):
            self._control.send(json.dumps({"type": "kill", "pid": pid}).encode())

    def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def close(self, timeout: float = 5.0) -> None:
        self.closing = True
        self.on_down = lambda server: None
        self.kill()
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), timeout)
        self._went_down_quietly()
        for task in list(self._tasks):
            task.cancel()

    def _went_down_quietly(self) -> None:
        if not self.down:
            self.on_down = lambda server: None
            self._went_down("the worker template was closed", expected=True)


def _close_quietly(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
