"""The seccomp layer: an allowlist of the system calls a worker needs, everything else EPERM.

The list comes from tracing workers (`strace -f`) through the benign suite, the language-attack
suite and the provider scripts, plus what CPython does on paths those runs may not have taken
(a lazy import reads files, a large allocation maps memory). Arguments are checked where the
call itself is harmless but some of its uses are not: files open read-only, `fcntl` without
locks, `ioctl` only the terminal query CPython makes when it opens a file, `prlimit64` only on
this process. No `clone` at all: a worker never starts a thread or a process (nothing the
contract offers needs one), and no signal leaves it, not even to itself (the CPU timer's
SIGPROF comes from the kernel).

The filter is compiled by libseccomp (through `pyseccomp`) once, in the template, and exported
as raw BPF: the library knows each architecture's numbering and refuses the x32 ABI and foreign
architectures. The template also builds the `struct sock_fprog` pointing at those bytes, so a
worker installs the filter with one `prctl` and no Python work of its own (each object a forked
child touches costs it a copy-on-write page fault).

libseccomp lays the rules out as a binary tree (`SCMP_FLTATR_CTL_OPTIMIZE` 2), not a linear
chain: the same rules, but a system call meets about log2(n) comparisons instead of up to n.
That matters most at install time: the kernel runs the filter once per system call number to
find the ones it may allow without running it again (its action cache), and that emulation cost
the worker 89 µs of CPU with the chain against 42 µs with the tree (measured on a loaded
machine, the `prctl` alone, 100 forks each).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from dataclasses import dataclass, field

PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# Allowed as they are: they act on this process, its memory or descriptors it already holds.
PLAIN_SYSCALLS: tuple[str, ...] = (
    # memory
    "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
    # descriptors the worker already holds (its pipe, /dev/null, files it opened read-only)
    "read", "readv", "pread64", "write", "writev", "close", "lseek", "dup", "dup3",
    "poll", "ppoll", "select", "pselect6",
    # looking at files (the mount namespace and Landlock decide which exist and are readable)
    "fstat", "newfstatat", "stat", "lstat", "statx", "getdents64", "readlink", "readlinkat",
    "access", "faccessat", "faccessat2", "getcwd",
    # signals to itself: the CPU timer and its handler
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "setitimer", "getitimer",
    # time, identity, randomness
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
    "uname", "getrusage", "times", "getrlimit", "sched_yield",
    # glibc's own locks (the worker has one thread, but libc still uses them, e.g. at exit)
    "futex",
    # the end
    "exit", "exit_group", "restart_syscall",
)

# open(2)/openat(2) flags that write, create or truncate (O_TMPFILE needs write access too).
OPEN_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# fcntl commands CPython uses on its own descriptors; no locks (F_SETLK, F_OFD_SETLK...),
# no leases, no F_SETOWN (signals to other processes).
FCNTL_COMMANDS = (1, 2, 3, 4, 1030)  # F_GETFD F_SETFD F_GETFL F_SETFL F_DUPFD_CLOEXEC
# ioctl requests CPython makes: TCGETS (isatty when opening a file), FIOCLEX/FIONCLEX.
IOCTL_REQUESTS = (0x5401, 0x5451, 0x5450)
# Denied without a word in the list above, named here because they are what a breached worker
# tries first; the tests probe them: signals to others, process control, IPC, sockets.
NOTABLY_DENIED: tuple[str, ...] = (
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
    "pidfd_send_signal", "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev",
    "setpriority", "sched_setscheduler", "sched_setaffinity", "sched_setattr", "shmget",
    "msgget", "semget", "mq_open", "socket", "socketpair", "clone", "clone3", "fork", "vfork",
    "execve", "execveat", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "keyctl",
    "mount", "unshare", "setns", "flock",
)


# libseccomp's SCMP_FLTATR_CTL_OPTIMIZE value for a binary tree of system call numbers.
OPTIMIZE_BINARY_TREE = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@dataclass(frozen=True)
class SeccompProgram:
    """A compiled filter: raw `struct sock_filter` instructions for this architecture, and the
    `struct sock_fprog` the kernel takes, built once (the buffer is kept alive here)."""

    bpf: bytes
    allowed: int  # how many system calls are allowed (some with argument checks)
    buffer: ctypes.Array[ctypes.c_char] = field(init=False, repr=False, compare=False)
    fprog: _SockFprog = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.bpf or len(self.bpf) % 8:
            raise ValueError("a seccomp program is whole 8-byte instructions")
        buffer = ctypes.create_string_buffer(self.bpf, len(self.bpf))
        object.__setattr__(self, "buffer", buffer)
        object.__setattr__(self, "fprog",
                           _SockFprog(len(self.bpf) // 8, ctypes.addressof(buffer)))

    def describe(self) -> str:
        return (f"seccomp allowlist: {self.allowed} system calls, others EPERM "
                "(files read-only, no locks, no signals to other processes, no sockets, "
                "no new processes, no IPC)")


def build_program(libc: ctypes.CDLL) -> SeccompProgram:
    """Compile the allowlist with libseccomp. Raises ImportError/RuntimeError/OSError when
    the kernel has no seccomp filters or libseccomp (or its binding) is missing or refuses."""
    if libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        raise OSError(ctypes.get_errno(), "this kernel has no seccomp")
    return SeccompProgram(bpf=_compile(), allowed=len(PLAIN_SYSCALLS) + 5)


def build_program_in_helper(libc: ctypes.CDLL) -> SeccompProgram:
    """`build_program`, with libseccomp run in a short-lived child process: the template gets
    the bytes and never imports pyseccomp, which imports ctypes.util, subprocess and with it
    `threading`, whose after-fork hook costs every forked worker about 125 copy-on-write
    faults (~0.3 ms of CPU). Call it only where no other thread runs (the template)."""
    if libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        raise OSError(ctypes.get_errno(), "this kernel has no seccomp")
    read_end, write_end = os.pipe()
    helper = os.fork()
    if helper == 0:
        status = 1
        try:
            os.close(read_end)
            try:
                answer = b"+" + _compile()
            except Exception as error:  # reported to the template, which logs it
                answer = b"-" + f"{type(error).__name__}: {error}".encode(errors="replace")
            with os.fdopen(write_end, "wb") as out:
                out.write(answer)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as answers:
            answer = answers.read()
    finally:
        os.waitpid(helper, 0)
    if answer[:1] != b"+":
        raise RuntimeError("compiling the seccomp filter failed: "
                           + (answer[1:].decode(errors="replace") or "no answer"))
    return SeccompProgram(bpf=answer[1:], allowed=len(PLAIN_SYSCALLS) + 5)


def _compile() -> bytes:
    """The allowlist as raw BPF for this architecture (libseccomp through pyseccomp)."""
    import tempfile

    import pyseccomp as seccomp

    fltr = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    # Foreign architectures (and x32 numbers on x86_64) never reach a rule: kill outright.
    fltr.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    # libseccomp before 2.5 has no such attribute: the same rules as a chain, slower to load.
    with contextlib.suppress(RuntimeError, OSError, ValueError):
        fltr.set_attr(seccomp.Attr.CTL_OPTIMIZE, OPTIMIZE_BINARY_TREE)
    allow = seccomp.ALLOW
    for name in PLAIN_SYSCALLS:
        fltr.add_rule(allow, name)
    fltr.add_rule(allow, "openat", seccomp.Arg(2, seccomp.MASKED_EQ, OPEN_WRITE_FLAGS, 0))
    fltr.add_rule(allow, "open", seccomp.Arg(1, seccomp.MASKED_EQ, OPEN_WRITE_FLAGS, 0))
    for command in FCNTL_COMMANDS:
        fltr.add_rule(allow, "fcntl", seccomp.Arg(1, seccomp.EQ, command))
    for request in IOCTL_REQUESTS:
        fltr.add_rule(allow, "ioctl", seccomp.Arg(1, seccomp.EQ, request))
    # Its own limits only (pid 0 is "this process"); raising a hard limit needs a capability
    # the worker does not have.
    fltr.add_rule(allow, "prlimit64", seccomp.Arg(0, seccomp.EQ, 0))
    with tempfile.TemporaryFile() as exported:
        fltr.export_bpf(exported)
        exported.seek(0)
        return exported.read()


def install(program: SeccompProgram, libc: ctypes.CDLL) -> None:
    """Load the filter into this process (needs no_new_privs or CAP_SYS_ADMIN)."""
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program.fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_SECCOMP): {os.strerror(error)}")
