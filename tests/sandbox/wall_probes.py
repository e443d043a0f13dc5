"""What a breached worker tries: unrestricted Python, no language wall. Run inside a worker
spawned by `sandbox.harden.spawn_isolated` (see wall_template.py), each probe reports
"allowed" or "refused: <exception>"; the process-wall test asserts every one is refused.

Everything is imported at the top: the template imports this module before it forks, as the
pool's template imports the executor, so the probes test the wall and not a missing import.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import re
import resource
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

# The program's own symbols include libc's (find_library would run a subprocess).
LIBC = ctypes.CDLL(None, use_errno=True)

SYS_TGKILL = 234
SYS_RT_SIGQUEUEINFO = 129
SYS_RT_TGSIGQUEUEINFO = 297
SYS_PROCESS_VM_READV = 310
PTRACE_ATTACH = 16
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
SI_QUEUE = -1
# SIGCONT: the most permissive signal (the kernel lets it through within a session whatever
# the uids) and harmless if a probe ever succeeds.
PROBE_SIGNAL = signal.SIGCONT


@dataclass(frozen=True)
class Targets:
    """What the probes aim at, as the template sees it (host pids and paths)."""

    service_pid: int
    template_pid: int
    sibling_pid: int
    data_dir: str
    token_file: str
    database: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Targets:
        return cls(**data)


def _libc_call(result: int) -> int:
    if result == -1:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def _siginfo() -> ctypes.Array[ctypes.c_char]:
    buffer = ctypes.create_string_buffer(128)
    ctypes.c_int.from_buffer(buffer, 0).value = PROBE_SIGNAL
    ctypes.c_int.from_buffer(buffer, 8).value = SI_QUEUE
    return buffer


def _read(path: str, size: int = 64) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _write(path: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write("breached")
    os.unlink(path)  # only reached where writing is allowed (the control run)


def _mkdir(path: str) -> None:
    os.mkdir(path)
    os.rmdir(path)


def _fork() -> None:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)


IPC_RMID = 0


def _ipc(kind: str) -> None:
    """Create a private SysV object and remove it again (a successful probe leaves nothing)."""
    if kind == "shm":
        ident = _libc_call(LIBC.shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600))
        LIBC.shmctl(ident, IPC_RMID, None)
    elif kind == "msg":
        ident = _libc_call(LIBC.msgget(IPC_PRIVATE, IPC_CREAT | 0o600))
        LIBC.msgctl(ident, IPC_RMID, None)
    else:
        ident = _libc_call(LIBC.semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600))
        LIBC.semctl(ident, 0, IPC_RMID)


def _mq_open() -> None:
    name = b"/wall-probe"
    descriptor = _libc_call(LIBC.mq_open(name, os.O_CREAT | os.O_RDWR, 0o600, None))
    LIBC.mq_close(descriptor)
    LIBC.mq_unlink(name)


def _pidfd_signal(pid: int) -> None:
    descriptor = os.pidfd_open(pid)
    try:
        signal.pidfd_send_signal(descriptor, PROBE_SIGNAL)
    finally:
        os.close(descriptor)


def _lock(path: str, operation: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if operation == "fcntl":
            fcntl.lockf(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        else:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    finally:
        os.close(descriptor)


def _socket(family: int, kind: int, address: Any = None, protocol: int = 0) -> None:
    with socket.socket(family, kind, protocol) as sock:
        if address is not None:
            sock.connect(address)


def _process_vm_readv(pid: int) -> None:
    _libc_call(LIBC.syscall(SYS_PROCESS_VM_READV, pid, None, 0, None, 0, 0))


def probes(targets: Targets) -> dict[str, Callable[[], object]]:
    """Every probe, by name. Signals, limits and scheduling are tried on each target."""
    table: dict[str, Callable[[], object]] = {
        "read data directory": lambda: os.listdir(targets.data_dir),
        "read database": lambda: _read(targets.database),
        "read database -wal": lambda: _read(targets.database + "-wal"),
        "read database -shm": lambda: _read(targets.database + "-shm"),
        "read operator token file": lambda: _read(targets.token_file),
        "read /proc/<service>/environ": lambda: _read(f"/proc/{targets.service_pid}/environ"),
        "open /proc/<service>/mem": lambda: _read(f"/proc/{targets.service_pid}/mem", 0),
        "read /proc/<service>/net/tcp": lambda: _read(f"/proc/{targets.service_pid}/net/tcp"),
        "read /proc/net/tcp": lambda: _read("/proc/net/tcp"),
        "shmget": lambda: _ipc("shm"),
        "msgget": lambda: _ipc("msg"),
        "semget": lambda: _ipc("sem"),
        "mq_open": _mq_open,
        "create in /dev/shm": lambda: _write("/dev/shm/wall-probe"),
        "fcntl lock on the database": lambda: _lock(targets.database, "fcntl"),
        "fcntl lock on the database -shm": lambda: _lock(targets.database + "-shm", "fcntl"),
        "fcntl lock on a readable file": lambda: _lock(os.__file__, "fcntl"),
        "flock on a readable file": lambda: _lock(os.__file__, "flock"),
        "socket inet": lambda: _socket(socket.AF_INET, socket.SOCK_STREAM),
        "socket inet6": lambda: _socket(socket.AF_INET6, socket.SOCK_DGRAM),
        "socket unix": lambda: _socket(socket.AF_UNIX, socket.SOCK_STREAM),
        "socket abstract unix": lambda: _socket(socket.AF_UNIX, socket.SOCK_STREAM,
                                                "\0wall-probe"),
        "socket netlink": lambda: _socket(socket.AF_NETLINK, socket.SOCK_RAW, None, 0),
        "socketpair": lambda: socket.socketpair(),
        "write /tmp": lambda: _write("/tmp/wall-probe"),
        "write the data directory": lambda: _write(os.path.join(targets.data_dir, "probe")),
        "append to the Python installation": lambda: _write(os.__file__ + ".probe"),
        "mkdir": lambda: _mkdir("/tmp/wall-probe-dir"),
        "fork": _fork,
        "mount": lambda: _libc_call(LIBC.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "unshare a user namespace": lambda: _libc_call(LIBC.unshare(0x10000000)),
        "exec": lambda: os.execv("/bin/true", ["/bin/true"]),
    }
    for label, pid in (("service", targets.service_pid), ("template", targets.template_pid),
                       ("sibling", targets.sibling_pid)):
        table.update({
            f"kill {label}": lambda pid=pid: os.kill(pid, PROBE_SIGNAL),
            f"tgkill {label}": lambda pid=pid: _libc_call(
                LIBC.syscall(SYS_TGKILL, pid, pid, PROBE_SIGNAL)),
            f"rt_sigqueueinfo {label}": lambda pid=pid: _libc_call(
                LIBC.syscall(SYS_RT_SIGQUEUEINFO, pid, PROBE_SIGNAL, _siginfo())),
            f"rt_tgsigqueueinfo {label}": lambda pid=pid: _libc_call(
                LIBC.syscall(SYS_RT_TGSIGQUEUEINFO, pid, pid, PROBE_SIGNAL, _siginfo())),
            f"pidfd signal {label}": lambda pid=pid: _pidfd_signal(pid),
            f"prlimit {label}": lambda pid=pid: resource.prlimit(pid, resource.RLIMIT_NOFILE),
            f"renice {label}": lambda pid=pid: os.setpriority(os.PRIO_PROCESS, pid, 19),
            f"sched_setscheduler {label}": lambda pid=pid: os.sched_setscheduler(
                pid, os.SCHED_IDLE, os.sched_param(0)),
            f"sched_setaffinity {label}": lambda pid=pid: os.sched_setaffinity(pid, {0}),
            f"ptrace {label}": lambda pid=pid: _libc_call(
                LIBC.ptrace(PTRACE_ATTACH, pid, None, None)),
            f"process_vm_readv {label}": lambda pid=pid: _process_vm_readv(pid),
        })
    return table


# Probes safe to let succeed, run unhardened as the control: each must then be allowed.
# (Not exec, ptrace, renice or rescheduling: they would replace the prober or disturb the
# service; not the abstract socket: with nobody listening its connect fails either way.)
CONTROL_PROBES = (
    "read database", "read database -shm", "read operator token file",
    "read /proc/<service>/environ", "read /proc/net/tcp", "shmget", "msgget", "semget",
    "mq_open", "fcntl lock on the database", "flock on a readable file", "socket inet",
    "socket unix", "socket netlink", "write /tmp", "mkdir", "fork", "kill sibling",
    "tgkill sibling", "rt_sigqueueinfo sibling", "rt_tgsigqueueinfo sibling",
    "pidfd signal sibling", "kill service", "prlimit service",
)


def run_probes(targets: Targets, only: tuple[str, ...] | None = None) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, probe in probes(targets).items():
        if only is not None and name not in only:
            continue
        try:
            probe()
            results[name] = "allowed"
        except OSError as error:
            results[name] = f"refused: {type(error).__name__} ({error.errno})"
        except BaseException as error:  # a probe that failed some other way proves nothing
            results[name] = f"broken probe: {type(error).__name__}: {error}"
    return results


def ordinary_python() -> dict[str, object]:
    """What benign scripts lean on, with no language wall: must still work behind the OS wall."""
    return {
        "json": json.loads(json.dumps({"a": [1, 2.5, None]})),
        "re": re.sub(r"\D", "", "+7 (495) 123-45-67"),
        "strptime": datetime.strptime("2026-12-06 10:00:00", "%Y-%m-%d %H:%M:%S").isoformat(),
        "decimal": str(Decimal("0.1") + Decimal("0.2")),
        "sha256": hashlib.sha256(b"x").hexdigest()[:8],
        "urlencode": urlencode({"a": "b c"}),
        "random": len(os.urandom(16)),
        "allocate 64 MiB": len(bytearray(64 * 1024 * 1024)),
    }
