"""The Landlock layer: reads only beneath the given paths, no writes, no TCP, and (ABI 6) no
signals or abstract Unix sockets beyond the worker's own domain.

Landlock needs no privilege, so it protects a service that runs as a normal user and cannot
create namespaces. The ruleset is built once, in the template (opening each allowed path), and
each worker only enforces it: one system call. What the kernel's ABI version does not cover is
reported, not silently assumed.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# Filesystem access rights, by the ABI version that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

O_PATH = 0o10000000


def handled_fs_access(abi: int) -> int:
    rights = (1 << 13) - 1  # everything ABI 1 knows
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed))
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass(frozen=True)
class LandlockRuleset:
    """A ruleset built in the template; `fd` is inherited by each worker, which enforces it."""

    fd: int
    abi: int
    description: str
    missing: tuple[str, ...]  # what this kernel's ABI cannot enforce


def abi_version(libc: ctypes.CDLL) -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def build_ruleset(libc: ctypes.CDLL, readable_paths: tuple[str, ...]) -> LandlockRuleset:
    """Reads beneath `readable_paths`, nothing else. Raises OSError when Landlock is absent."""
    abi = abi_version(libc)
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not available in this kernel")
    attr = _RulesetAttr(handled_access_fs=handled_fs_access(abi))
    size = ctypes.sizeof(_RulesetAttr)
    missing: list[str] = []
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
    else:
        size = 8  # ABI 1-3 know only handled_access_fs
        missing.append("TCP (ABI < 4)")
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    else:
        size = min(size, 16)
        missing.append("signal and abstract-socket scoping (ABI < 6)")
    ruleset_fd = int(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                                  ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if ruleset_fd < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"landlock_create_ruleset: {os.strerror(error)}")
    read = FS_READ_FILE | FS_READ_DIR
    for path in readable_paths:
        if not os.path.exists(path):
            continue
        path_fd = os.open(path, O_PATH | os.O_CLOEXEC)
        try:
            # A rule on a file may only name file rights (READ_DIR on a file is EINVAL).
            rights = read if os.path.isdir(path) else FS_READ_FILE
            rule = _PathBeneathAttr(allowed_access=rights, parent_fd=path_fd)
            if libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH,
                            ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                error = ctypes.get_errno()
                os.close(ruleset_fd)
                raise OSError(error, f"landlock_add_rule {path}: {os.strerror(error)}")
        finally:
            os.close(path_fd)
    enforced = ["reads only in the Python installation", "no writes"]
    if abi >= 4:
        enforced.append("no TCP")
    if abi >= 6:
        enforced.append("signals and abstract sockets scoped to the worker")
    return LandlockRuleset(fd=ruleset_fd, abi=abi,
                           description=f"landlock ABI {abi}: " + ", ".join(enforced),
                           missing=tuple(missing))


def enforce(libc: ctypes.CDLL, ruleset: LandlockRuleset) -> None:
    """Restrict this process (needs no_new_privs first); closes the inherited ruleset fd."""
    try:
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset.fd, ctypes.c_uint32(0)) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_restrict_self: {os.strerror(error)}")
    finally:
        os.close(ruleset.fd)
