"""The cgroup v2 layer: a cgroup per worker with `memory.max` and `pids.max`, where the service
has been delegated a cgroup v2 subtree with those controllers.

Optional by nature: many hosts (containers, cgroup v1 or hybrid machines, services without a
delegated subtree) cannot give a process cgroups of its own. `probe()` says why not, in words
the service logs; the rlimits stay in force either way.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

# The worker never starts a process or thread; 2 because the process that joins the cgroup
# forks the worker (PID 1 of its namespace) before it exits.
WORKER_PIDS_MAX = 2
NEEDED_CONTROLLERS = ("memory", "pids")
# A service's template makes `<parent>/voip-workers-<its pid>`, its workers' cgroups inside.
WORKERS_PREFIX = "voip-workers-"


@dataclass(frozen=True)
class CgroupParent:
    """The delegated cgroup under which each worker gets its own."""

    path: str


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    return None


def _own_cgroup() -> str | None:
    with open("/proc/self/cgroup", encoding="utf-8") as cgroup:
        for line in cgroup:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def probe() -> tuple[CgroupParent | None, str]:
    """Where worker cgroups can be made, or why they cannot (the reason is logged)."""
    mount = _cgroup2_mount()
    if mount is None:
        return None, "cgroup v2: not mounted"
    own = _own_cgroup()
    if own is None:
        return None, "cgroup v2: this process is in no v2 cgroup"
    # The no-internal-processes rule: a cgroup with processes cannot hand controllers to its
    # children, so workers go under a sibling "workers" cgroup of the service's own, which
    # the delegation (e.g. systemd's Delegate=yes on the parent) must allow us to create.
    service_cgroup = os.path.join(mount, own.lstrip("/"))
    parent = os.path.dirname(service_cgroup) if own != "/" else service_cgroup
    try:
        with open(os.path.join(parent, "cgroup.subtree_control"), encoding="ascii") as control:
            enabled = control.read().split()
    except OSError as error:
        return None, f"cgroup v2: cannot read {parent}: {error.strerror}"
    missing = [name for name in NEEDED_CONTROLLERS if name not in enabled]
    if missing:
        return None, f"cgroup v2: controllers {', '.join(missing)} not delegated at {parent}"
    remove_stale(parent)
    workers = os.path.join(parent, f"{WORKERS_PREFIX}{os.getpid()}")
    try:
        os.makedirs(workers, exist_ok=True)
        with open(os.path.join(workers, "cgroup.subtree_control"), "w",
                  encoding="ascii") as control:
            control.write(" ".join("+" + name for name in NEEDED_CONTROLLERS))
    except OSError as error:
        return None, f"cgroup v2: cannot create {workers}: {error.strerror}"
    return CgroupParent(workers), f"cgroup v2 under {workers}"


def join_worker_cgroup(parent: CgroupParent, name: str, memory_bytes: int) -> str:
    """Create the worker's cgroup with its limits and move this process into it (called in
    the forked child before it enters its namespaces, so everything it starts is inside)."""
    sweep(parent)
    path = os.path.join(parent.path, name)
    os.makedirs(path, exist_ok=True)
    limits = [("memory.max", str(memory_bytes)), ("pids.max", str(WORKER_PIDS_MAX))]
    if os.path.exists(os.path.join(path, "memory.swap.max")):  # absent without swap accounting
        limits.append(("memory.swap.max", "0"))
    for key, value in limits:
        with open(os.path.join(path, key), "w", encoding="ascii") as limit:
            limit.write(value)
    with open(os.path.join(path, "cgroup.procs"), "w", encoding="ascii") as procs:
        procs.write(str(os.getpid()))
    return path


def remove_stale(parent: str) -> None:
    """Remove the worker cgroups of earlier services whose template is gone (a stop, an
    upgrade, a crash): nothing removed them, so each start left one for good, with the cgroups
    of its last workers inside, and the kernel keeps each one's accounting while it exists.
    A live service's (another node on this host) is left alone: its workers may be between
    cgroups, and removing theirs would make its next worker's join fail."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            pid = entry.name.removeprefix(WORKERS_PREFIX)
            if pid == entry.name or not pid.isdigit() or not entry.is_dir() \
                    or _running(int(pid)):
                continue
            sweep(CgroupParent(entry.path))
            with contextlib.suppress(OSError):  # a worker of it still exiting: the next start
                os.rmdir(entry.path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep(parent: CgroupParent) -> None:
    """Remove the cgroups of workers that have exited (rmdir refuses populated ones)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent.path):
            if entry.is_dir():
                with contextlib.suppress(OSError):
                    os.rmdir(entry.path)
