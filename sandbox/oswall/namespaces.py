"""The namespace layer: a worker's own user (when the service is not root), mount, IPC, PID,
network and UTS namespaces, and a root filesystem holding only the Python installation.

The minimal root is a small read-only tmpfs with read-only bind mounts of the given paths at
their usual places, `/dev/null` and `/dev/urandom`, and nothing else: no data directory, no
`/proc` (the worker reads what it needs from `/proc/self` before), no `/dev/shm`, no `/tmp`.
`pivot_root` makes it the worker's `/` and the old root is detached, so no path leads back.

Python 3.11 has no `os.unshare`, `mount` or `pivot_root`: they are called through libc.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACE_NAMES = {
    CLONE_NEWUSER: "user", CLONE_NEWNS: "mount", CLONE_NEWIPC: "IPC", CLONE_NEWPID: "PID",
    CLONE_NEWNET: "network", CLONE_NEWUTS: "UTS",
}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
PR_SET_DUMPABLE = 4
SYS_PIVOT_ROOT = 155

# statvfs flags (f_flag) -> the mount flags a read-only remount must keep: inside a user
# namespace the kernel refuses to clear flags that were locked by the outer mount.
_KEPT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
DEVICES = ("/dev/null", "/dev/urandom")


def describe(flags: int) -> str:
    return ", ".join(name for bit, name in NAMESPACE_NAMES.items() if flags & bit)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def unshare(libc: ctypes.CDLL, flags: int) -> None:
    # The message only on failure: this runs in every fork, between its start and "ready".
    if libc.unshare(flags) != 0:
        _check(-1, f"unshare({describe(flags)})")


def enter_namespaces(libc: ctypes.CDLL, wanted: int) -> tuple[int, str | None]:
    """Unshare as many of `wanted` as the host allows: all at once, else one by one (as root a
    kernel may lack one kind). Returns the flags entered and why the others were not."""
    try:
        unshare(libc, wanted)
        return wanted, None
    except OSError as error:
        if wanted & CLONE_NEWUSER:
            # Without a user namespace an unprivileged process can enter none of the others.
            return 0, str(error)
        first_error = str(error)
    entered = 0
    for bit in NAMESPACE_NAMES:
        if wanted & bit:
            with contextlib.suppress(OSError):
                unshare(libc, bit)
                entered |= bit
    return entered, first_error


def map_own_ids(uid: int, gid: int) -> None:
    """In a fresh user namespace: map this process's own uid/gid to themselves, nothing more
    (an unprivileged process may map only its own ids, and only after denying setgroups).
    Makes the process dumpable: a non-dumpable one's /proc/self files belong to root, so it
    could not write its own maps (a worker is made non-dumpable again as it hardens)."""
    set_dumpable(True)
    with open("/proc/self/setgroups", "w", encoding="ascii") as setgroups:
        setgroups.write("deny")
    with open("/proc/self/uid_map", "w", encoding="ascii") as uid_map:
        uid_map.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w", encoding="ascii") as gid_map:
        gid_map.write(f"{gid} {gid} 1")


def set_dumpable(dumpable: bool) -> None:
    """prctl(PR_SET_DUMPABLE) through the interpreter's own libc symbols."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, int(dumpable), 0, 0, 0) != 0:
        _check(-1, "prctl(PR_SET_DUMPABLE)")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(
        libc.mount(source.encode() if source else None, target.encode(),
                   fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                   data.encode() if data else None),
        f"mount {target}",
    )


def _bind_read_only(libc: ctypes.CDLL, source: str, target: str) -> None:
    _mount(libc, source, target, None, MS_BIND | MS_REC)
    kept = 0
    source_flags = os.statvfs(source).f_flag
    for statvfs_flag, mount_flag in _KEPT_FLAGS:
        if source_flags & statvfs_flag:
            kept |= mount_flag
    if not source_flags & (os.ST_NOATIME | os.ST_RELATIME):
        kept |= MS_STRICTATIME  # else the kernel would default to relatime, a locked change
    _mount(libc, None, target,
           None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | kept)


def enter_minimal_root(libc: ctypes.CDLL, new_root: str, readable_paths: tuple[str, ...]) -> None:
    """Make `/` a read-only tmpfs holding only `readable_paths` and the two devices.

    Needs a private mount namespace (and CAP_SYS_ADMIN in its user namespace). `new_root` is
    an empty directory that exists on the host; the tmpfs is mounted over it in this
    namespace only, so nothing is created on the host."""
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    _mount(libc, "tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for path in readable_paths:
        if not os.path.exists(path):
            continue
        target = new_root + path
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o444))
        _bind_read_only(libc, path, target)
    os.makedirs(new_root + "/dev", exist_ok=True)
    for device in DEVICES:
        os.close(os.open(new_root + device, os.O_CREAT | os.O_WRONLY, 0o666))
        # A device bind keeps its own mount's flags (the tmpfs is nodev): read-only is enough.
        _mount(libc, device, new_root + device, None, MS_BIND)
    os.chdir(new_root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves no way
    # back to the host's filesystem.
    _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def set_hostname(libc: ctypes.CDLL, name: bytes) -> None:
    _check(libc.sethostname(name, len(name)), "sethostname")


@dataclass(frozen=True)
class SharedNamespaces:
    """A mount namespace holding the minimal root, an empty network namespace and a UTS
    namespace (and, for a service that is not root, the user namespace owning them), built
    once by a short-lived helper and kept by descriptor in the template.

    Joining them (setns) costs microseconds where building a root and a network namespace per
    worker costs milliseconds. Sharing is safe because nothing in them is writable or
    reachable: the root is read-only, the network has only a loopback that is down (and
    workers may not open sockets), the hostname cannot be changed without a capability
    workers drop. PID and IPC namespaces stay one per worker."""

    mount_fd: int
    net_fd: int
    uts_fd: int
    user_fd: int | None

    @property
    def flags(self) -> int:
        return SHARED_FLAGS | (CLONE_NEWUSER if self.user_fd is not None else 0)

    def join(self, libc: ctypes.CDLL) -> None:
        """Enter them (the user namespace first: it grants the rights to join the others)."""
        joins = [(self.mount_fd, CLONE_NEWNS), (self.net_fd, CLONE_NEWNET),
                 (self.uts_fd, CLONE_NEWUTS)]
        if self.user_fd is not None:
            joins.insert(0, (self.user_fd, CLONE_NEWUSER))
        for fd, kind in joins:
            if libc.setns(fd, kind) != 0:  # (the message only on failure, as `unshare`)
                _check(-1, f"setns({NAMESPACE_NAMES[kind]})")


SHARED_FLAGS = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS


def build_shared_namespaces(libc: ctypes.CDLL, mountpoint: str,
                            readable_paths: tuple[str, ...], hostname: bytes,
                            *, with_user: bool) -> SharedNamespaces:
    """Fork a helper that enters new mount, network and UTS namespaces (inside a new user
    namespace when `with_user`) and builds the minimal root there; keep descriptors of its
    namespaces; let it exit."""
    uid, gid = os.geteuid(), os.getegid()
    ready_read, ready_write = os.pipe()
    release_read, release_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        status = 1
        try:
            os.close(ready_read)
            os.close(release_write)
            try:
                unshare(libc, SHARED_FLAGS | (CLONE_NEWUSER if with_user else 0))
                if with_user:
                    # Also makes it dumpable, as it must be for a normal user's template to
                    # open its /proc/<pid>/ns links (the template's children inherit "not
                    # dumpable").
                    map_own_ids(uid, gid)
                enter_minimal_root(libc, mountpoint, readable_paths)
                set_hostname(libc, hostname)
            except OSError as error:
                # The host's reason goes to the operator's log (one write: under PIPE_BUF).
                os.write(ready_write, b"0" + str(error).encode("utf-8", "replace")[:1000])
                raise
            os.write(ready_write, b"1")
            os.read(release_read, 1)  # stay until the template holds the namespaces
            status = 0
        finally:
            os._exit(status)
    os.close(ready_write)
    os.close(release_read)
    try:
        answer = os.read(ready_read, 1024)
        if answer != b"1":
            raise OSError(answer[1:].decode("utf-8", "replace")
                          or "the helper could not build the shared namespaces")
        names = ["mnt", "net", "uts"] + (["user"] if with_user else [])
        fds = [os.open(f"/proc/{helper}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
               for name in names]
    finally:
        os.close(ready_read)
        os.close(release_write)
        os.waitpid(helper, 0)
    return SharedNamespaces(mount_fd=fds[0], net_fd=fds[1], uts_fd=fds[2],
                            user_fd=fds[3] if with_user else None)
