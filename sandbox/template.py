"""The template process (fork server): the program the pool starts once to fork workers from.

Kept apart from the pool's side (sandbox/forkserver.py, which has the protocol's description)
so that the template imports nothing it does not need: not asyncio, not the pool. Every page the
template holds costs each fork a page-table entry to copy, and a forked worker pays a
copy-on-write fault for each of those pages it writes to (Python writes reference counts on
every object it touches). The template imports the sandbox's executor and what tenant code can
reach, warms it, and then only waits for spawn requests. As root, once idle for
STANDBY_AFTER_MS after a spawn, it forks the next worker-to-be ahead of its request
(`harden.fork_standby`), so that request does not wait for the fork.
"""

from __future__ import annotations

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
from typing import Any, NoReturn

# The worker's pipe ends, at these numbers in the worker: calls in, messages out.
WORKER_IN_FD = 3
WORKER_OUT_FD = 4
# The template keeps its own descriptors at or above this, so 3 and 4 stay free for the above.
TEMPLATE_LOW_FD = 10
DEFAULT_ENTRY = "sandbox.worker:child_main"
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_CONTROL_MESSAGE = 64 * 1024
# After a spawn, the template forks the next standby worker-to-be once it has been idle this
# long (milliseconds): the worker it just spawned is hardening itself on the other core.
STANDBY_AFTER_MS = 5


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

    live: set[int] = set()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            live.discard(pid)
            send({"type": "exited", "pid": pid, "status": _exit_status(status)})

    # A worker-to-be forked ahead of the next request (harden.Standby; as root only), and the
    # readable paths of the last spec, for which the next one is forked once the template has
    # been idle for STANDBY_AFTER_MS (not at once: the worker just spawned needs the CPU).
    standby: harden.Standby | None = None
    standby_due: tuple[str, ...] | None = None

    def spawn(message: dict[str, Any], fds: list[int]) -> None:
        nonlocal standby, standby_due
        request_id = message.get("id")
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            send({"type": "spawn_failed", "id": request_id, "error": "two pipe ends expected"})
            return
        raw = message.get("spec") or {}
        spec = harden.IsolationSpec(
            uid=raw.get("uid"), gid=raw.get("gid"), memory_bytes=int(raw["memory_bytes"]),
            keep_fds=frozenset({WORKER_IN_FD, WORKER_OUT_FD}),
            readable_paths=tuple(raw.get("readable_paths") or ()),
        )
        pid: int | None = None
        if standby is not None:
            waiting, standby = standby, None
            if waiting.readable_paths == spec.readable_paths:
                try:
                    waiting.hand_over(spec, fds)
                    pid = waiting.pid
                except OSError:  # it died meanwhile: fork as usual
                    waiting.discard()
            else:
                waiting.discard()
        try:
            if pid is None:
                os.dup2(fds[0], WORKER_IN_FD)
                os.dup2(fds[1], WORKER_OUT_FD)
                try:
                    pid = harden.spawn_isolated(spec, child_main)
                except OSError as error:
                    send({"type": "spawn_failed", "id": request_id, "error": str(error)})
                    return
                finally:
                    # The template must not hold a worker's pipe: its EOF is how the pool
                    # sees it die.
                    os.dup2(devnull, WORKER_IN_FD)
                    os.dup2(devnull, WORKER_OUT_FD)
        finally:
            for fd in fds:
                os.close(fd)
        live.add(pid)
        pidfd: int | None = None
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(pid)
        try:
            send({"type": "spawned", "id": request_id, "pid": pid},
                 [pidfd] if pidfd is not None else None)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        standby_due = spec.readable_paths

    def prepare_standby(paths: tuple[str, ...]) -> None:
        nonlocal standby
        try:
            standby = harden.fork_standby(paths, child_main)
        except OSError:
            standby = None  # spawns fork as before; nothing is lost but the head start
        if standby is not None:
            live.add(standby.pid)

    gc_ready()
    send({"type": "ready", "pid": os.getpid(), "notes": notes})
    os.dup2(devnull, 2)  # from here on, diagnostics travel as messages; workers inherit null
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake_read, select.POLLIN)
    while True:
        ready = poller.poll(STANDBY_AFTER_MS if standby_due is not None else None)
        if not ready and standby_due is not None:
            paths, standby_due = standby_due, None
            prepare_standby(paths)
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
