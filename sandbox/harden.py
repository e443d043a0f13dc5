"""Hardening a worker process before it takes tenant work (the process wall).

Applied once, in this order, after every module the worker will ever need is imported:
descriptors closed, network namespace (when allowed), resource limits, privileges dropped,
no-new-privs, and a seccomp filter. Each step reports whether it took effect; the worker sends
that list to the parent, which logs it once, so an operator can see which protections are live.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import resource
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

# --- Linux constants (uapi headers) -------------------------------------------------------
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
AUDIT_ARCH_X86_64 = 0xC000003E
EPERM = 1

BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06

# Offsets into struct seccomp_data.
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4


def seccomp_data_arg_low(index: int) -> int:
    """Offset of the low 32 bits of syscall argument `index` (little-endian)."""
    return 16 + 8 * index


# open(2)/openat(2) flags that mean "this call may write or create a file".
OPEN_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # WRONLY RDWR CREAT TRUNC APPEND

# x86_64 system calls a worker never needs: networking, new processes and programs, signals to
# other processes, privilege and namespace changes, filesystem writes, kernel interfaces that
# have a history of privilege escalations. Denied with EPERM so Python reports a clean OSError.
X86_64_DENIED_SYSCALLS: dict[str, int] = {
    "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "recvfrom": 45, "sendmsg": 46,
    "recvmsg": 47, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435,
    "kill": 62, "tkill": 200, "tgkill": 234, "ptrace": 101, "process_vm_readv": 310,
    "process_vm_writev": 311, "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438,
    "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setgroups": 116,
    "setresuid": 117, "setresgid": 119, "unshare": 272, "setns": 308, "chroot": 161,
    "mount": 165, "umount2": 166, "creat": 85, "rename": 82, "mkdir": 83, "rmdir": 84,
    "link": 86, "unlink": 87, "symlink": 88, "chmod": 90, "fchmod": 91, "chown": 92,
    "fchown": 93, "lchown": 94, "truncate": 76, "mknod": 133, "mkdirat": 258, "mknodat": 259,
    "fchownat": 260, "unlinkat": 263, "renameat": 264, "linkat": 265, "symlinkat": 266,
    "fchmodat": 268, "renameat2": 316, "openat2": 437, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "keyctl": 250, "add_key": 248, "request_key": 249,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169,
    "kexec_load": 246, "acct": 163, "swapon": 167, "swapoff": 168, "sethostname": 170,
    "setdomainname": 171, "iopl": 172, "ioperm": 173, "personality": 135,
}
X86_64_OPEN = 2
X86_64_OPENAT = 257
X32_SYSCALL_BIT = 0x40000000

NOBODY_UID = 65534
NOBODY_GID = 65534
MAX_OPEN_FILES = 16


@dataclass
class HardeningReport:
    """Which protections are active in this worker, and why the others are not."""

    active: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"active": self.active, "inactive": self.inactive}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def build_seccomp_program() -> bytes:
    """The BPF filter for x86_64, as raw sock_filter instructions."""
    deny = SECCOMP_RET_ERRNO | EPERM
    program = [
        _bpf(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        _bpf(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _bpf(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _bpf(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        # The x32 ABI reaches the same kernel entry points under other numbers: refuse it.
        _bpf(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _bpf(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    for number in sorted(set(X86_64_DENIED_SYSCALLS.values())):
        program.append(_bpf(BPF_JEQ_K, 0, 1, number))
        program.append(_bpf(BPF_RET_K, 0, 0, deny))
    # Reading files stays possible (the language wall has no way to open one anyway); opening
    # for writing or creating is refused by flags.
    for number, flags_arg in ((X86_64_OPENAT, 2), (X86_64_OPEN, 1)):
        program += [
            _bpf(BPF_JEQ_K, 0, 4, number),
            _bpf(BPF_LD_W_ABS, 0, 0, seccomp_data_arg_low(flags_arg)),
            _bpf(BPF_JSET_K, 0, 1, OPEN_WRITE_FLAGS),
            _bpf(BPF_RET_K, 0, 0, deny),
            _bpf(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ]
    program.append(_bpf(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b"".join(program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_seccomp(libc: ctypes.CDLL) -> None:
    program = build_seccomp_program()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def close_inherited_descriptors(keep: set[int]) -> None:
    for fd in range(3, 1024):
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def harden(memory_bytes: int, keep_fds: set[int]) -> HardeningReport:
    """Lock this process down. Must be called after every needed import."""
    report = HardeningReport()
    libc = _libc()
    close_inherited_descriptors(keep_fds)
    os.environ.clear()
    report.active.append("descriptors closed, empty environment")

    if libc.unshare(CLONE_NEWNET) == 0:
        report.active.append("network namespace (no interfaces)")
    else:
        report.inactive.append(
            f"network namespace: unshare failed ({os.strerror(ctypes.get_errno())})"
        )

    # Address space: what the interpreter already maps, plus the tenant's allowance.
    with open("/proc/self/statm", encoding="ascii") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    address_space = mapped + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    report.active.append(
        f"rlimits: address space {address_space // (1024 * 1024)} MiB, no file writes, "
        f"no core dumps, {MAX_OPEN_FILES} descriptors"
    )

    if os.geteuid() == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY_GID)
            os.setuid(NOBODY_UID)
            report.active.append("privileges dropped to nobody")
        except OSError as error:
            report.inactive.append(f"privilege drop: {error}")
    if os.geteuid() != 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        report.active.append("rlimit: no new processes")

    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        report.active.append("no_new_privs")
    machine = platform.machine()
    if machine != "x86_64":
        report.inactive.append(f"seccomp: no filter written for {machine}")
    else:
        try:
            _install_seccomp(libc)
            report.active.append(
                "seccomp: no sockets, processes, signals to others, file writes, privilege "
                "or namespace changes"
            )
        except OSError as error:
            report.inactive.append(f"seccomp: {error}")
    return report


# --- the fork server's interface (sandbox/forkserver.py calls these in the template) --------


@dataclass(frozen=True)
class IsolationSpec:
    """What one worker is to be: plain data, built by the pool from its configuration."""

    uid: int | None  # the worker's own uid when the template runs as root, else None
    gid: int | None
    memory_bytes: int  # the tenant's memory allowance (address space / cgroup)
    keep_fds: frozenset[int]  # the worker's pipe ends, already at their final numbers
    readable_paths: tuple[str, ...]  # the Python installation + the package dir (read-only)


def prepare_template() -> list[str]:
    """Once, in the template, before any spawn; returns notes for the log."""
    return []


def spawn_isolated(spec: IsolationSpec,
                   child_main: Callable[[HardeningReport], NoReturn]) -> int:
    """Fork a worker: in the child, harden it and run `child_main` (never returns there).

    Returns the child's pid in the template; raises OSError when the fork fails. (The minimal
    version: the per-worker uid and the readable paths are left to the full OS wall.)
    """
    pid = os.fork()
    if pid == 0:
        try:
            child_main(harden(spec.memory_bytes, keep_fds=set(spec.keep_fds)))
        finally:
            os._exit(70)
    return pid
