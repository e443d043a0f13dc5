"""The template process (fork server): the program the pool starts once to fork workers from.

Kept apart from the pool's side (sandbox/forkserver.py, which has the protocol's description)
so that the template imports nothing it does not need: not asyncio, not the pool. Every page the
template holds costs each fork a page-table entry to copy, and a forked worker pays a
copy-on-write fault for each of those pages it writes to (Python writes reference counts on
every object it touches). The template imports the sandbox's executor and what tenant code can
reach, warms it, and then only waits for spawn requests.

The template makes each worker's two pipes itself and hands the pool its ends with the answer.
That lets it make the next worker before it is asked for: once idle for STANDBY_AFTER_MS after
a spawn, it forks a standby for the spec the pool said the next spawn will carry (its own uid
included), and the standby hardens itself completely and writes its "ready" into its pipe
while nobody waits. The next request with that spec is answered with the standby's pipe ends
at once: its "ready" is already there. A standby holds no tenant anything (it is a worker that
has not had a call), and until it is handed over only the template holds its pipes.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import importlib
import json
import os
import select
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from sandbox.harden import IsolationSpec

# The worker's pipe ends, at these numbers in the worker: calls in, messages out.
WORKER_IN_FD = 3
WORKER_OUT_FD = 4
# How much of a worker's reason for failing to harden itself reaches the pool's log.
UNHARDENED_REASON_CHARS = 500
# The template keeps its own descriptors at or above this, so 3 and 4 stay free for the above.
TEMPLATE_LOW_FD = 10
DEFAULT_ENTRY = "sandbox.worker:child_main"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_CONTROL_MESSAGE = 64 * 1024
# After a spawn, the template forks the next standby worker once it has been idle this long
# (milliseconds): a worker forked on request may still be hardening itself on the other core,
# and the one handed over is taking its first call.
STANDBY_AFTER_MS = 5


@dataclass(frozen=True)
class MadeWorker:
    """A worker the template forked, and the pool's ends of its pipes, which the template holds
    until it hands them over (a standby) or closes them (a discarded standby exits on EOF)."""

    spec: IsolationSpec
    pid: int
    messages_fd: int  # the pool reads the worker's messages here
    calls_fd: int  # the pool writes calls here

    def close(self) -> None:
        for fd in (self.messages_fd, self.calls_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _resolve(entry: str) -> Callable[..., NoReturn]:
    module_name, _, function = entry.partition(":")
    module = importlib.import_module(module_name)
    target: Callable[..., NoReturn] = getattr(module, function)
    return target


def _warm() -> None:
    """Do once, in the template, what every worker's first call would otherwise pay for.

    Platform code only: a fixed script of ours is compiled and run with no host, so the
    compiler, the guards and the executor's lazy imports are ready in every fork.
    """
    from sandbox.call import Call, RequestData
    from sandbox.executor import execute
    from sandbox.limits import Limits

    class NoHost:
        def request(self, payload: dict[str, Any]) -> dict[str, Any]:
            return {"ok": False, "error": "no host in the template"}

    warmup = (
        "import json\n"
        "def VoipParseWebhookRequest(request):\n"
        "    data = request.json()\n"
        "    return {'response': {'status': 200, 'headers': {}, 'body': str(data)}}\n"
    )
    call = Call(source=warmup, function="VoipParseWebhookRequest",
                request=RequestData(body='{"warm": true}'))
    execute(call, Limits(), NoHost())


def _exit_status(wait_status: int) -> int:
    """Exit code, or minus the signal that killed it."""
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def _move_high(fd: int) -> int:
    """The same descriptor at TEMPLATE_LOW_FD or above (close-on-exec); the old one closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, TEMPLATE_LOW_FD)
    os.close(fd)
    return high


def _close_inherited(control_fd: int) -> None:
    """Close every descriptor but stdin, stdout, stderr and the control socket.

    The template holds nothing it was not given, so no worker it forks starts with it: the
    pool's event loop may leave more in the program it starts (uvloop's subprocess plumbing
    leaves copies of the stdio pipes at higher numbers, and the write end of a pipe of its
    own)."""
    os.closerange(3, control_fd)
    os.closerange(control_fd + 1, os.sysconf("SC_OPEN_MAX"))


def gc_ready() -> None:
    """Collect now and freeze what survives: the forks then share those pages instead of
    copying them the first time their collector walks the template's objects."""
    import gc

    gc.collect()
    gc.freeze()


def template_main() -> NoReturn:
    """The template's program: `python -I -c <bootstrap> <control fd> <entry>`."""
    from sandbox import harden

    passed = int(sys.argv[1])
    entry = sys.argv[2]
    _close_inherited(passed)
    control_fd = _move_high(passed)
    devnull = _move_high(os.open(os.devnull, os.O_RDWR))
    # Reserve the workers' descriptor numbers so nothing else of ours lands there.
    for fd in (0, 1, WORKER_IN_FD, WORKER_OUT_FD):
        os.dup2(devnull, fd)

    child_main = _resolve(entry)
    import sandbox.executor  # noqa: F401  (everything tenant code can reach, imported once)

    _warm()
    notes = harden.prepare_template()
    control = socket.socket(fileno=control_fd)

    wake_read, wake_write = (_move_high(fd) for fd in os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC))
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(wake_write)

    def in_child() -> None:
        # A worker is nobody's template: it must not answer SIGCHLD or wake our loop.
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    os.register_at_fork(after_in_child=in_child)

    def send(message: dict[str, Any], fds: list[int] | None = None) -> None:
        data = json.dumps(message).encode()
        if fds:
            socket.send_fds(control, [data], fds)
        else:
            control.send(data)

    # The next worker, forked ahead of its request (see the module doc), and the spec the
    # pool said the next spawn will carry: forked once the template has been idle for
    # STANDBY_AFTER_MS.
    standby: MadeWorker | None = None
    standby_due: harden.IsolationSpec | None = None

    live: set[int] = set()  # every child not reaped yet, standbys included
    handed: set[int] = set()  # the pool's workers: their exits are reported

    def reap() -> None:
        nonlocal standby
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            live.discard(pid)
            if standby is not None and standby.pid == pid:
                standby.close()  # it failed to harden, or was killed: never handed over
                standby = None
            if pid in handed:
                handed.discard(pid)
                send({"type": "exited", "pid": pid, "status": _exit_status(status)})

    def isolation_spec(raw: Any) -> harden.IsolationSpec:
        if not isinstance(raw, dict):
            raise ValueError("a spawn needs a spec")
        return harden.IsolationSpec(
            uid=raw.get("uid"), gid=raw.get("gid"), memory_bytes=int(raw["memory_bytes"]),
            keep_fds=frozenset({WORKER_IN_FD, WORKER_OUT_FD}),
            readable_paths=tuple(raw.get("readable_paths") or ()),
        )

    def unhardened(reason: str) -> None:
        """In a worker that could not harden itself as required: its one message to the pool,
        in place of "ready", saying which layer failed (its stderr goes nowhere)."""
        line = json.dumps({"type": "unhardened", "error": reason[:UNHARDENED_REASON_CHARS]})
        os.write(WORKER_OUT_FD, line.encode() + b"\n")

    def make_worker(spec: harden.IsolationSpec) -> MadeWorker:
        """Fork a worker (hardened by itself before it reads its first call) with new pipes;
        the template keeps the pool's ends. Raises OSError when it cannot."""
        calls_read, calls_write = os.pipe2(os.O_CLOEXEC)
        messages_read, messages_write = os.pipe2(os.O_CLOEXEC)
        try:
            os.dup2(calls_read, WORKER_IN_FD)  # dup2: inheritable, for the fork only
            os.dup2(messages_write, WORKER_OUT_FD)
            try:
                pid = harden.spawn_isolated(spec, child_main, unhardened)
            finally:
                # The template must not hold a worker's ends of its pipes: the pool sees a
                # worker die by its EOF.
                os.dup2(devnull, WORKER_IN_FD)
                os.dup2(devnull, WORKER_OUT_FD)
        except BaseException:
            for fd in (messages_read, calls_write):
                os.close(fd)
            raise
        finally:
            os.close(calls_read)
            os.close(messages_write)
        live.add(pid)
        return MadeWorker(spec=spec, pid=pid, messages_fd=messages_read, calls_fd=calls_write)

    def still_running(made: MadeWorker) -> bool:
        try:
            pid, _status = os.waitpid(made.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        live.discard(made.pid)  # reaped here: it exited before it was handed over
        return False

    def spawn(message: dict[str, Any], fds: list[int]) -> None:
        nonlocal standby, standby_due
        for fd in fds:  # the template makes the pipes; nothing is expected here
            os.close(fd)
        request_id = message.get("id")
        try:
            spec = isolation_spec(message.get("spec"))
            following = message.get("standby")
            standby_due = isolation_spec(following) if following is not None else None
        except (KeyError, TypeError, ValueError) as error:
            send({"type": "spawn_failed", "id": request_id, "error": f"bad spec: {error}"})
            return
        made: MadeWorker | None = None
        if standby is not None:
            waiting, standby = standby, None
            if waiting.spec == spec and still_running(waiting):
                made = waiting
            else:
                waiting.close()  # its EOF makes it exit; reaped (unreported) when it does
        if made is None:
            try:
                made = make_worker(spec)
            except OSError as error:
                send({"type": "spawn_failed", "id": request_id, "error": str(error)})
                return
        handed.add(made.pid)
        pidfd: int | None = None
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(made.pid)
        try:
            passed = [made.messages_fd, made.calls_fd] + ([pidfd] if pidfd is not None else [])
            send({"type": "spawned", "id": request_id, "pid": made.pid,
                  "pidfd": pidfd is not None}, passed)
        finally:
            made.close()  # the pool has its own copies now
            if pidfd is not None:
                os.close(pidfd)

    def prepare_standby(spec: harden.IsolationSpec) -> None:
        nonlocal standby
        try:
            standby = make_worker(spec)
        except OSError:
            standby = None  # the next spawn forks on request; nothing is lost but the head start
            return
        rehearse(standby)

    def rehearse(made: MadeWorker) -> None:
        """Walk the answer's path once, sending nothing, right after a fork.

        A fork marks every page of the template copy-on-write; the first write to each (Python
        writes reference counts on every object it touches) then costs the template a page
        copy, about a hundred of them on the way from a request to its answer. Taken here,
        while idle, they are not paid inside the next request."""
        raw = {"uid": made.spec.uid, "gid": made.spec.gid,
               "memory_bytes": made.spec.memory_bytes,
               "readable_paths": list(made.spec.readable_paths)}
        message = json.loads(json.dumps({"type": "spawn", "id": 0, "spec": raw,
                                         "standby": raw}).encode())
        if isolation_spec(message.get("spec")) == made.spec and still_running(made):
            with contextlib.suppress(OSError):
                os.close(os.pidfd_open(made.pid))
        json.dumps({"type": "spawned", "id": 0, "pid": made.pid, "pidfd": True}).encode()
        array.array("i", [made.messages_fd, made.calls_fd])  # what send_fds packs

    gc_ready()
    send({"type": "ready", "pid": os.getpid(), "notes": notes})
    os.dup2(devnull, 2)  # from here on, diagnostics travel as messages; workers inherit null
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    while True:
        ready = poller.poll(STANDBY_AFTER_MS if standby_due is not None else None)
        if not ready and standby_due is not None:
            due, standby_due = standby_due, None
            prepare_standby(due)
            continue
        for fd, _events in ready:
            if fd == wake_read:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_read, 256):
                        pass
                reap()
                continue
            try:
                data, fds, _flags, _address = socket.recv_fds(control, MAX_CONTROL_MESSAGE, 4)
            except InterruptedError:
                continue
            if not data:
                # The pool is gone (closed, or died). Its workers would see their pipes close,
                # but only once they next read: one stuck in C code would live on unsupervised.
                for pid in live:  # unreaped children: these pids cannot have been reused
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                os._exit(0)
            message = json.loads(data)
            if message.get("type") == "spawn":
                spawn(message, fds)
            elif message.get("type") == "kill" and message.get("pid") in live:
                # Still our unreaped child: its pid cannot have been reused.
                os.kill(int(message["pid"]), signal.SIGKILL)
            else:
                for fd in fds:
                    os.close(fd)
        reap()
