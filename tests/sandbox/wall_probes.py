"""What a breached worker tries: unrestricted Python, no language wall. Run inside a worker
spawned by `sandbox.harden.spawn_isolated` (see wall_template.py), each probe reports
"allowed" or "refused: <exception>"; the process-wall test asserts every one is refused.

Everything is imported at the top: the template imports this module before it forks, as the
pool's template imports the executor, so the probes test the wall and not a missing import.
"""

from __future__ import annotations

import _thread
import ctypes
import errno
import fcntl
import hashlib
import json
import mmap
import os
import re
import resource
import signal
import socket
import sys
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
MAP_NORESERVE = 0x4000
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


# x86_64 numbers of calls the seccomp allowlist must refuse outright (EPERM before the kernel
# looks at the arguments), with harmless arguments in case one ever gets through.
SECCOMP_DENIED: dict[str, tuple[int, tuple[int, ...]]] = {
    "clone with new namespaces": (56, (0x10000000 | 0x20000000 | signal.SIGCHLD, 0, 0, 0, 0)),
    "clone3": (435, (0, 0)),
    "vfork": (58, ()),
    "setns": (308, (0, 0)),
    "chroot": (161, (0,)),
    "pivot_root": (155, (0, 0)),
    "umount2": (166, (0, 0)),
    "fsopen": (430, (0, 0)),
    "open_tree": (428, (-100, 0, 0)),
    "move_mount": (429, (-1, 0, -1, 0, 0)),
    "execveat": (322, (-100, 0, 0, 0, 0)),
    "memfd_create": (319, (0, 0)),
    "memfd_secret": (447, (0,)),
    "io_uring_setup": (425, (1, 0)),
    "bpf": (321, (0, 0, 0)),
    "perf_event_open": (298, (0, 0, -1, -1, 0)),
    "userfaultfd": (323, (0,)),
    "keyctl": (250, (0, 0, 0, 0, 0)),
    "add_key": (248, (0, 0, 0, 0, 0)),
    "request_key": (249, (0, 0, 0, 0)),
    "settimeofday": (164, (0, 0)),
    "clock_settime": (227, (0, 0)),
    "adjtimex": (159, (0,)),
    "clock_adjtime": (305, (0, 0)),
    "sethostname": (170, (0, 0)),
    "setdomainname": (171, (0, 0)),
    "setuid": (105, (0,)),
    "setresuid": (117, (0, 0, 0)),
    "setgid": (106, (0,)),
    "setgroups": (116, (0, 0)),
    "capset": (126, (0, 0)),
    "prctl": (157, (0, 0, 0, 0, 0)),
    "seccomp": (317, (0, 0, 0)),
    "personality": (135, (0xFFFFFFFF,)),
    "arch_prctl": (158, (0, 0)),
    "modify_ldt": (154, (0, 0, 0)),
    "iopl": (172, (0,)),
    "ioperm": (173, (0, 0, 0)),
    "syslog": (103, (10, 0, 0)),
    "pidfd_open": (434, (1, 0)),
    "pidfd_getfd": (438, (0, 0, 0)),
    "kcmp": (312, (1, 1, 0, 0, 0)),
    "process_madvise": (440, (0, 0, 0, 0, 0)),
    "process_mrelease": (448, (0, 0)),
    "migrate_pages": (256, (1, 0, 0, 0)),
    "move_pages": (279, (1, 0, 0, 0, 0, 0)),
    "ioprio_set": (251, (1, 1, 0)),
    "sched_setparam": (142, (1, 0)),
    "sched_setattr": (314, (1, 0, 0)),
    "name_to_handle_at": (303, (-100, 0, 0, 0, 0)),
    "open_by_handle_at": (304, (-100, 0, 0)),
    "openat2": (437, (-100, 0, 0, 0)),
    "inotify_init1": (294, (0,)),
    "fanotify_init": (300, (0, 0)),
    "mlockall": (151, (1,)),
    "mknodat": (259, (-100, 0, 0, 0)),
    "symlink": (88, (0, 0)),
    "link": (86, (0, 0)),
    "rename": (82, (0, 0)),
    "unlink": (87, (0,)),
    "chmod": (90, (0, 0)),
    "chown": (92, (0, 0, 0)),
    "truncate": (76, (0, 0)),
    "ftruncate": (77, (-1, 0)),
    "fallocate": (285, (-1, 0, 0, 0)),
    "utimensat": (280, (-1, 0, 0, 0)),
    "setxattr": (188, (0, 0, 0, 0, 0)),
    "splice": (275, (-1, 0, -1, 0, 0, 0)),
    "vmsplice": (278, (-1, 0, 0, 0)),
    "sendfile": (40, (-1, -1, 0, 0)),
    "copy_file_range": (326, (-1, 0, -1, 0, 0, 0)),
    "chdir": (80, (0,)),
    "umask": (95, (0o777,)),
    "sched_getaffinity": (204, (1, 0, 0)),
    "getpriority": (140, (0, 1)),
    "sysinfo": (99, (0,)),
    "reboot": (169, (0, 0, 0, 0)),
    "kexec_load": (246, (0, 0, 0, 0)),
    "init_module": (175, (0, 0, 0)),
    "swapon": (167, (0, 0)),
    "acct": (163, (0,)),
    "vhangup": (153, ()),
    "shmat": (30, (-1, 0, 0)),
    "msgsnd": (69, (-1, 0, 0, 0)),
    "semop": (65, (-1, 0, 0)),
    "mq_timedsend": (242, (-1, 0, 0, 0, 0)),
}


def _seccomp_denied(number: int, arguments: tuple[int, ...]) -> None:
    """Refused only with the filter's EPERM; a call that returns, or fails with any other
    error, reached the kernel: "allowed" (the control run shows each one does)."""
    values = [ctypes.c_long(value) for value in arguments]
    result = LIBC.syscall(ctypes.c_long(number), *values)
    if result == 0 and number in (56, 58):  # a clone that got through: the child leaves
        os._exit(0)
    if result == -1 and ctypes.get_errno() == errno.EPERM:
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))


def _stray_descriptor() -> None:
    """Refused unless the worker holds a descriptor beyond stdio and its two pipes, or its
    stdio is anything but /dev/null."""
    null = os.stat("/dev/null").st_rdev
    for fd in range(1024):
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if fd in (0, 1, 2) and info.st_rdev == null:
            continue
        if fd in (3, 4) and stat_is_fifo(info.st_mode):
            continue
        return  # a descriptor the worker should not hold: "allowed"
    raise PermissionError(errno.EBADF, "no descriptor beyond stdio and the pipes")


def stat_is_fifo(mode: int) -> bool:
    return mode & 0o170000 == 0o010000


def _start_thread() -> None:
    try:
        _thread.start_new_thread(lambda: None, ())
    except RuntimeError as error:  # CPython's clone() failed
        raise PermissionError(errno.EPERM, str(error)) from None


def _open_flags(path: str, flags: int) -> None:
    os.close(os.open(path, flags))


def _ofd_lock(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        lock = bytearray(32)  # struct flock: l_type F_RDLCK (0), whole file
        fcntl.fcntl(descriptor, 37, bytes(lock))  # F_OFD_SETLK
    finally:
        os.close(descriptor)


def _dnotify(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.fcntl(descriptor, fcntl.F_NOTIFY, fcntl.DN_ACCESS | fcntl.DN_MULTISHOT)
    finally:
        os.close(descriptor)


def _lease(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.fcntl(descriptor, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    finally:
        os.close(descriptor)


def _setitimer_other() -> None:
    # timer_create with SIGEV_THREAD_ID naming another thread is the timer that could signal
    # elsewhere; it is refused outright (the worker's CPU timer is setitimer on itself).
    _seccomp_denied(222, (1, 0, 0))  # timer_create(CLOCK_MONOTONIC, NULL, NULL)


def _raise_limit(kind: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard == resource.RLIM_INFINITY:
        return  # no ceiling to raise: as good as allowed
    try:
        resource.setrlimit(kind, (hard + 1, hard + 1))
    except ValueError as error:  # CPython's word for the kernel's EPERM
        raise PermissionError(errno.EPERM, str(error)) from None


def _allocate(size: int) -> None:
    try:
        bytearray(size)
    except MemoryError:
        raise PermissionError(errno.ENOMEM, "MemoryError") from None


def _mmap_noreserve(size: int) -> None:
    mapped = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
    mapped.close()


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
        "exec the interpreter": lambda: os.execv(os.__file__, [os.__file__]),
        "list /proc (other tenants)": lambda: os.listdir("/proc"),
        "read /proc/self/status": lambda: _read("/proc/self/status"),
        "read /proc/self/mountinfo": lambda: _read("/proc/self/mountinfo"),
        "list /proc/<service>/cwd": lambda: os.listdir(f"/proc/{targets.service_pid}/cwd"),
        "list /proc/<service>/root": lambda: os.listdir(f"/proc/{targets.service_pid}/root"),
        "list /proc/<service>/fd": lambda: os.listdir(f"/proc/{targets.service_pid}/fd"),
        "read /proc/<service>/fd/0": lambda: _read(f"/proc/{targets.service_pid}/fd/0"),
        "read /proc/<service>/maps": lambda: _read(f"/proc/{targets.service_pid}/maps"),
        "read /proc/<service>/status": lambda: _read(f"/proc/{targets.service_pid}/status"),
        "read /proc/<service>/net/unix": lambda: _read(
            f"/proc/{targets.service_pid}/net/unix"),
        "read /proc/<service>/cmdline": lambda: _read(f"/proc/{targets.service_pid}/cmdline"),
        "list /sys": lambda: os.listdir("/sys"),
        "read /sys/kernel/uevent_seqnum": lambda: _read("/sys/kernel/uevent_seqnum"),
        "read /proc/sys/kernel/hostname": lambda: _read("/proc/sys/kernel/hostname"),
        "open /dev/kmsg": lambda: _read("/dev/kmsg"),
        "open /dev/tty": lambda: _read("/dev/tty"),
        "open /dev/console": lambda: _read("/dev/console"),
        "open /dev/mem": lambda: _read("/dev/mem"),
        "list /dev/shm": lambda: os.listdir("/dev/shm"),
        "list /dev": lambda: [name for name in os.listdir("/dev")
                              if name not in ("null", "urandom")] or _read("/dev/none"),
        "read /etc/passwd": lambda: _read("/etc/passwd"),
        # The installation's prefix is no code directory: a system Python's is /usr, with
        # /usr/local/etc and every program beneath it.
        "list the Python prefix's bin": lambda: os.listdir(os.path.join(sys.prefix, "bin")),
        "list the base Python prefix's bin": lambda: os.listdir(
            os.path.join(sys.base_prefix, "bin")),
        "list the base Python prefix's share": lambda: os.listdir(
            os.path.join(sys.base_prefix, "share")),
        "list /home": lambda: os.listdir("/home"),
        "list /tmp": lambda: _list_beyond_installation("/tmp"),
        "list the service's working directory": lambda: os.listdir(
            os.path.dirname(targets.data_dir)),
        "open read-write /dev/null": lambda: _open_flags("/dev/null", os.O_RDWR),
        "open O_TMPFILE": lambda: _open_flags("/", os.O_TMPFILE | os.O_RDWR),
        "open O_CREAT in the installation": lambda: _open_flags(
            os.path.dirname(os.__file__) + "/probe", os.O_CREAT | os.O_RDONLY),
        "descriptor beyond stdio and the pipes": _stray_descriptor,
        "thread": _start_thread,
        "socket packet": lambda: _socket(socket.AF_PACKET, socket.SOCK_RAW),
        "socket raw inet": lambda: _socket(socket.AF_INET, socket.SOCK_RAW, None,
                                           socket.IPPROTO_ICMP),
        "socket vsock": lambda: _socket(40, socket.SOCK_STREAM),
        "socket unix path to the service's directory": lambda: _socket(
            socket.AF_UNIX, socket.SOCK_STREAM, os.path.join(targets.data_dir, "sock")),
        "socket netlink route": lambda: _socket(socket.AF_NETLINK, socket.SOCK_DGRAM, None, 0),
        "socket netlink audit": lambda: _socket(socket.AF_NETLINK, socket.SOCK_RAW, None, 9),
        "fcntl OFD lock on a readable file": lambda: _ofd_lock(os.__file__),
        "fcntl F_SETOWN on a pipe": lambda: fcntl.fcntl(3, fcntl.F_SETOWN, 1),
        "fcntl F_NOTIFY on a directory": lambda: _dnotify(os.path.dirname(os.__file__)),
        "fcntl F_SETLEASE": lambda: _lease(os.__file__),
        "ioctl TIOCSTI on stdin": lambda: fcntl.ioctl(0, 0x5412, b"x"),
        "ioctl FIONREAD on the call pipe": lambda: fcntl.ioctl(3, 0x541B, b"\0" * 4),
        "setitimer to a signal for another process": lambda: _setitimer_other(),
        "raise the address-space limit": lambda: _raise_limit(resource.RLIMIT_AS),
        "raise the descriptor limit": lambda: _raise_limit(resource.RLIMIT_NOFILE),
        "raise the process limit": lambda: _raise_limit(resource.RLIMIT_NPROC),
        "allocate 4 GiB": lambda: _allocate(4 * 2**30),
        "mmap 64 GiB without reserve": lambda: _mmap_noreserve(64 * 2**30),
    }
    for name, (number, arguments) in SECCOMP_DENIED.items():
        table[f"seccomp {name}"] = (
            lambda number=number, arguments=arguments: _seccomp_denied(number, arguments))
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
    "list /proc (other tenants)", "read /proc/<service>/status", "list /sys", "read /etc/passwd",
    "list the service's working directory", "thread", "socket packet", "socket vsock",
    "fcntl OFD lock on a readable file", "seccomp umask", "seccomp sysinfo",
    "seccomp getpriority", "seccomp sched_getaffinity", "seccomp memfd_create",
    "descriptor beyond stdio and the pipes",
    "seccomp inotify_init1",
)


def _list_beyond_installation(directory: str) -> None:
    """List `directory`, refused when all it shows is the way to what the minimal root holds
    at its own path (the Python installation, the sandbox package): an installation under
    /tmp (the test's normal-user virtualenv) leaves /tmp there with that entry alone."""
    shown = set(os.listdir(directory))
    # What the minimal root holds: the Python installation and the sandbox package's checkout.
    sandbox_package = sys.modules.get("sandbox")
    held = [sys.prefix, sys.base_prefix, sys.exec_prefix]
    if sandbox_package is not None and getattr(sandbox_package, "__file__", None):
        held.append(os.path.dirname(str(sandbox_package.__file__)))
    ways_in = {os.path.relpath(path, directory).split(os.sep)[0] for path in held
               if path.startswith(directory.rstrip(os.sep) + os.sep)}
    if not shown - ways_in:
        raise FileNotFoundError(errno.ENOENT, "only the way to the Python installation", directory)


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
