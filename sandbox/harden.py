"""Hardening a worker before it takes tenant work: the OS wall, as an allowlist.

Layers, each in its own module under `sandbox/oswall/`, applied in this order in the worker:
cgroup (memory and processes, where delegated), namespaces (user when the service is not root,
mount, IPC, PID, network, UTS), a minimal read-only root holding only the Python installation,
resource limits, its own uid (root service) or no capabilities (user namespace), no_new_privs,
Landlock (reads only in the Python installation, no TCP, signals scoped) and a seccomp
allowlist. Each layer reports whether it took effect; the pool logs the report, so an operator
sees which protections are live on this host and why the others are not.

Two ways in:
- `prepare_template()` then `spawn_isolated(spec, child_main)`: the fork server's path. The
  template compiles the seccomp filter and the Landlock ruleset once, and builds the read-only
  root, network and UTS namespaces once (workers join them); each worker is PID 1 of a PID
  namespace of its own. As root that takes one fork; as a normal user a first child enters the
  user namespace and forks the worker (the template is a subreaper, so it stays the worker's
  parent).
- `harden(memory_bytes, keep_fds)`: an already-started process hardens itself in place (every
  layer but the PID namespace, which only a new child can enter).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import resource
import struct
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from sandbox.oswall import cgroups, landlock, namespaces, seccomp

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
NOBODY_UID = 65534
NOBODY_GID = 65534
MAX_OPEN_FILES = 16
WORKER_HOSTNAME = b"sandbox"
# Exit status of a worker that could not harden itself as required (it never runs child_main).
HARDENING_FAILED = 70

ROOT_NAMESPACES = (namespaces.CLONE_NEWNS | namespaces.CLONE_NEWIPC | namespaces.CLONE_NEWNET
                   | namespaces.CLONE_NEWUTS)
# Directories a minimal root may be mounted over (only in the worker's own mount namespace,
# so nothing changes on the host): the first that exists and holds no readable path.
ROOT_MOUNTPOINTS = ("/mnt", "/tmp", "/var/tmp", "/srv", "/media")


@dataclass(frozen=True)
class IsolationSpec:
    """Plain data the pool builds from its configuration, one per worker."""

    uid: int | None  # the worker's own uid when the template runs as root, else None
    gid: int | None
    memory_bytes: int  # the tenant's memory allowance (address space, cgroup)
    keep_fds: frozenset[int]  # the worker's pipe ends, at their final numbers
    readable_paths: tuple[str, ...]  # the Python installation + the package dir (read-only)


@dataclass
class HardeningReport:
    """Which protections are active in this worker, and why the others are not."""

    active: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    # What a breached worker can reach because layers that cover for each other are all
    # missing (the service logs each as a warning; the inactive list alone does not say it).
    exposed: list[str] = field(default_factory=list)
    # What ordinary scripts cannot do on this host that they can elsewhere (the service logs
    # each as a warning).
    limited: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[str]]:
        return {"active": self.active, "inactive": self.inactive, "exposed": self.exposed,
                "limited": self.limited}


@dataclass
class _Template:
    """What the template prepared once, inherited by every worker it forks."""

    libc: ctypes.CDLL
    seccomp_program: seccomp.SeccompProgram | None
    seccomp_error: str | None
    cgroup_parent: cgroups.CgroupParent | None
    cgroup_note: str
    # As root: the template's own PID namespace, to return to after forking a worker into a
    # new one (see _spawn_with_pid_namespace_from_template); None: spawn through a first child.
    pid_namespace_fd: int | None = None
    rulesets: dict[tuple[str, ...], landlock.LandlockRuleset | str] = field(default_factory=dict)
    shared: dict[tuple[str, ...], namespaces.SharedNamespaces | str] = field(
        default_factory=dict)
    address_space_base: int = 0  # what the template maps; a fork starts with the same
    intermediates: list[int] = field(default_factory=list)  # first children not yet reaped
    narrowed: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    spawned: int = 0

    def code_only(self, paths: tuple[str, ...]) -> tuple[str, ...]:
        if paths not in self.narrowed:
            self.narrowed[paths] = python_code_only(paths)
        return self.narrowed[paths]

    def landlock_for(self, paths: tuple[str, ...]) -> landlock.LandlockRuleset | str:
        """The ruleset for these readable paths (built once), or why there is none."""
        if paths not in self.rulesets:
            try:
                self.rulesets[paths] = landlock.build_ruleset(
                    self.libc, paths + namespaces.DEVICES)
            except OSError as error:
                self.rulesets[paths] = f"landlock: {error.strerror or error}"
        return self.rulesets[paths]

    def shared_namespaces_for(self, paths: tuple[str, ...]
                              ) -> namespaces.SharedNamespaces | str:
        """The prebuilt root (and network, UTS) for these paths, or why there is none."""
        if paths not in self.shared:
            mountpoint = _root_mountpoint(paths)
            try:
                if mountpoint is None:
                    raise OSError("no directory to mount the minimal root on")
                self.shared[paths] = namespaces.build_shared_namespaces(
                    self.libc, mountpoint, paths, WORKER_HOSTNAME,
                    with_user=os.geteuid() != 0)
            except OSError as error:
                self.shared[paths] = f"shared namespaces: {error}"
        return self.shared[paths]


_template: _Template | None = None


def _libc() -> ctypes.CDLL:
    """The C library, through the interpreter's own symbols (it links libc). Not
    `ctypes.util.find_library`: that imports subprocess, shutil and the compressors into the
    template, and each page of theirs is copied into every worker's page tables."""
    return ctypes.CDLL(None, use_errno=True)


def default_readable_paths() -> tuple[str, ...]:
    """The Python installation this process runs from (its prefixes' entries on sys.path and
    any site-packages) and the `sandbox` package directory: all a worker reads. Never another
    sys.path entry such as the current directory or a checkout, where a data directory may
    live."""
    prefixes = {os.path.realpath(prefix)
                for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    candidates = [os.path.dirname(os.path.abspath(__file__))]
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if not real or not os.path.isdir(real):
            continue
        inside_prefix = any(real.startswith(prefix + os.sep) for prefix in prefixes)
        if inside_prefix or os.path.basename(real) in ("site-packages", "dist-packages"):
            candidates.append(real)
    real_paths = sorted({os.path.realpath(path) for path in candidates})
    kept: list[str] = []
    for path in real_paths:  # sorted, so a parent comes before what it contains
        if not any(path.startswith(parent + os.sep) for parent in kept):
            kept.append(path)
    return tuple(kept)


def python_code_only(paths: tuple[str, ...]) -> tuple[str, ...]:
    """`paths` narrowed to Python code: a path inside the Python installation, a site-packages
    directory or a package (it has `__init__.py`) stays; any other directory (a checkout's
    root, say, where `./data` may hold the database) gives way to the packages directly in it.
    A worker reads code, never data, whatever paths it was given."""
    prefixes = {os.path.realpath(prefix)
                for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    narrowed: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if (any(real == prefix or real.startswith(prefix + os.sep) for prefix in prefixes)
                or os.path.basename(real) in ("site-packages", "dist-packages")
                or not os.path.isdir(real)
                or os.path.exists(os.path.join(real, "__init__.py"))):
            narrowed.append(real)
            continue
        with contextlib.suppress(OSError):
            narrowed.extend(sorted(
                entry.path for entry in os.scandir(real)
                if entry.is_dir(follow_symlinks=False)
                and os.path.exists(os.path.join(entry.path, "__init__.py"))))
    return tuple(dict.fromkeys(narrowed))


def prepare_template() -> list[str]:
    """Once, in the template, before any spawn. Returns notes for the log."""
    global _template
    libc = _libc()
    notes: list[str] = []
    # Not dumpable, as the service: it holds the pool's ends of a standby's pipes, which a
    # process of the same uid could otherwise open through /proc/<template>/fd (a worker of a
    # normal user's service where no minimal root and no Landlock hide /proc), then read the
    # calls and outcomes of whichever tenant that worker goes to. Its children inherit this.
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        notes.append(f"not dumpable: {os.strerror(ctypes.get_errno())}")
    # A normal user's workers are grandchildren (forked by a short-lived first child inside
    # the user namespace): as a subreaper the template stays their parent and reaps them.
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        notes.append(f"subreaper: {os.strerror(ctypes.get_errno())}")
    program: seccomp.SeccompProgram | None = None
    seccomp_error: str | None = None
    try:
        program = seccomp.build_program_in_helper(libc)
        notes.append(f"seccomp allowlist compiled by libseccomp ({len(program.bpf) // 8} "
                     "instructions)")
    except (ImportError, RuntimeError, OSError) as error:
        seccomp_error = f"seccomp: unavailable ({error}); workers get no filter"
        notes.append(seccomp_error)
    parent, cgroup_note = cgroups.probe()
    notes.append(cgroup_note)
    _template = _Template(libc=libc, seccomp_program=program, seccomp_error=seccomp_error,
                          cgroup_parent=parent, cgroup_note=cgroup_note,
                          pid_namespace_fd=_own_pid_namespace(libc) if os.geteuid() == 0 else None,
                          address_space_base=_mapped_bytes())
    return notes


def _own_pid_namespace(libc: ctypes.CDLL) -> int | None:
    """A descriptor of this process's PID namespace, if it can step into a new one for its
    children and back (root with CAP_SYS_ADMIN); None otherwise."""
    try:
        fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        namespaces.unshare(libc, namespaces.CLONE_NEWPID)
    except OSError:
        os.close(fd)
        return None
    if libc.setns(fd, namespaces.CLONE_NEWPID) != 0:
        raise OSError(ctypes.get_errno(), "setns back to the template's PID namespace")
    return fd


def _prepared() -> _Template:
    if _template is None:
        prepare_template()
    assert _template is not None
    return _template


# In a forked worker: True once it hardened itself and runs child_main (so a failure from then
# on is the worker's own, not a layer's).
_hardened = False


def _fail_closed(error: BaseException, on_failure: Callable[[str], None] | None) -> None:
    """In a worker that stops before (or while) running child_main: say why on its stderr and,
    if no layer could be applied as required, to `on_failure` (the one channel its spawner
    reads; a template's stderr goes nowhere)."""
    with contextlib.suppress(BaseException):
        traceback.print_exc()
    if on_failure is not None and not _hardened:
        with contextlib.suppress(BaseException):
            on_failure(f"{type(error).__name__}: {error}")


def spawn_isolated(spec: IsolationSpec,
                   child_main: Callable[[HardeningReport], NoReturn],
                   on_failure: Callable[[str], None] | None = None) -> int:
    """Fork a worker with every layer applied, running `child_main(report)` (which never
    returns). Returns its pid as this process sees it; raises OSError if the spawn failed.
    A worker that cannot harden itself as required exits (HARDENING_FAILED) without running
    child_main, after passing the reason to `on_failure`."""
    template = _prepared()
    template.spawned += 1
    spec = dataclasses.replace(spec, readable_paths=template.code_only(spec.readable_paths))
    ruleset = template.landlock_for(spec.readable_paths)
    template.shared_namespaces_for(spec.readable_paths)  # built here once, not per child
    if template.pid_namespace_fd is not None:
        return _spawn_with_pid_namespace_from_template(template, spec, ruleset, child_main,
                                                       on_failure)
    return _spawn_through_intermediate(template, spec, ruleset, child_main, on_failure)


def _spawn_with_pid_namespace_from_template(
    template: _Template, spec: IsolationSpec, ruleset: landlock.LandlockRuleset | str,
    child_main: Callable[[HardeningReport], NoReturn],
    on_failure: Callable[[str], None] | None,
) -> int:
    """As root: one fork. The template points its next child at a new PID namespace
    (unshare), forks, and points itself back at its own (setns), so the child is PID 1 of
    a namespace of its own without an intermediate process (a fork costs most of a spawn)."""
    assert template.pid_namespace_fd is not None
    libc = template.libc
    namespaces.unshare(libc, namespaces.CLONE_NEWPID)
    try:
        pid = os.fork()
        if pid == 0:
            try:
                _harden_child(template, spec, ruleset, child_main,
                              entered_by_template=namespaces.CLONE_NEWPID)
            except BaseException as error:  # the worker fails closed
                _fail_closed(error, on_failure)
            finally:
                os._exit(HARDENING_FAILED)
    finally:  # in the template (the child never gets here)
        if libc.setns(template.pid_namespace_fd, namespaces.CLONE_NEWPID) != 0:
            # Every later child would land in this worker's namespace: stop using the trick.
            template.pid_namespace_fd = None
            raise OSError(ctypes.get_errno(), "setns back to the template's PID namespace")
    return pid


def _spawn_through_intermediate(
    template: _Template, spec: IsolationSpec, ruleset: landlock.LandlockRuleset | str,
    child_main: Callable[[HardeningReport], NoReturn],
    on_failure: Callable[[str], None] | None,
) -> int:
    """As a normal user: a first child enters a user namespace (and the others inside it),
    then forks the worker, PID 1 of the new PID namespace, and exits."""
    _reap_intermediates(template)
    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        try:
            os.close(read_end)
            _become_worker(template, spec, ruleset, write_end, child_main)
        except BaseException as error:  # the worker (or the first child) fails closed
            _fail_closed(error, on_failure)
        finally:
            os._exit(HARDENING_FAILED)
    os.close(write_end)
    try:
        announced = _read_exactly(read_end, 9)
    finally:
        os.close(read_end)
    if len(announced) != 9:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(intermediate, 0)
        raise OSError("the worker process failed before it started")
    worker_pid, via_intermediate = struct.unpack("<q?", announced)
    if via_intermediate:
        # It exits right after forking the worker. Not waited for here: the spawn returns as
        # soon as the worker's pid is known (whoever reaps children first may reap it).
        template.intermediates.append(intermediate)
    return int(worker_pid)


def _reap_intermediates(template: _Template) -> None:
    for pid in list(template.intermediates):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by the template's own loop
            done = pid
        if done:
            template.intermediates.remove(pid)


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _join_cgroup(template: _Template, spec: IsolationSpec, report: HardeningReport) -> None:
    if template.cgroup_parent is None:
        report.inactive.append(template.cgroup_note)
        return
    try:
        cgroups.join_worker_cgroup(template.cgroup_parent, f"w{os.getpid()}-{template.spawned}",
                                   spec.memory_bytes)
        report.active.append(f"cgroup: memory.max {spec.memory_bytes // 2**20} MiB, "
                             f"pids.max {cgroups.WORKER_PIDS_MAX}")
    except OSError as error:
        report.inactive.append(f"cgroup: {error}")


def _harden_child(template: _Template, spec: IsolationSpec,
                  ruleset: landlock.LandlockRuleset | str,
                  child_main: Callable[[HardeningReport], NoReturn],
                  entered_by_template: int) -> None:
    """In the worker the template forked directly (as root): every layer, then its life."""
    report = HardeningReport()
    _join_cgroup(template, spec, report)
    shared = template.shared_namespaces_for(spec.readable_paths)
    if isinstance(shared, namespaces.SharedNamespaces):
        shared.join(template.libc)  # the minimal root, no network, hostname "sandbox"
        namespaces.unshare(template.libc, namespaces.CLONE_NEWIPC)  # IPC: one per worker
        entered = entered_by_template | shared.flags | namespaces.CLONE_NEWIPC
        report.active.append(_shared_namespaces_line(entered))
        _apply_in_worker(template, spec, ruleset, entered, report, root_ready=True)
    else:
        report.inactive.append(shared)
        entered = _enter_namespaces(template.libc, report, with_pid=False,
                                    entered_by_template=entered_by_template)
        _apply_in_worker(template, spec, ruleset, entered, report)
    _run(child_main, report)


def _run(child_main: Callable[[HardeningReport], NoReturn], report: HardeningReport) -> NoReturn:
    global _hardened
    _hardened = True
    child_main(report)


def _shared_namespaces_line(entered: int) -> str:
    return (f"namespaces: {namespaces.describe(entered)} (mount, network and UTS shared "
            "read-only by the workers, built once; PID and IPC the worker's own)")


def _become_worker(template: _Template, spec: IsolationSpec,
                   ruleset: landlock.LandlockRuleset | str, announce_fd: int,
                   child_main: Callable[[HardeningReport], NoReturn]) -> None:
    """In the first child: cgroup, namespaces, the second fork, then every other layer."""
    report = HardeningReport()
    _join_cgroup(template, spec, report)
    shared = template.shared_namespaces_for(spec.readable_paths)
    root_ready = False
    if isinstance(shared, namespaces.SharedNamespaces):
        shared.join(template.libc)
        namespaces.unshare(template.libc, namespaces.CLONE_NEWPID | namespaces.CLONE_NEWIPC)
        entered = shared.flags | namespaces.CLONE_NEWPID | namespaces.CLONE_NEWIPC
        report.active.append(_shared_namespaces_line(entered))
        root_ready = True
    else:
        report.inactive.append(shared)
        entered = _enter_namespaces(template.libc, report, with_pid=True)
    via_intermediate = bool(entered & namespaces.CLONE_NEWPID)
    if via_intermediate:
        worker = os.fork()  # PID 1 of the new PID namespace
        if worker != 0:
            os.write(announce_fd, struct.pack("<q?", worker, True))
            os._exit(0)
    else:
        os.write(announce_fd, struct.pack("<q?", os.getpid(), False))
    os.close(announce_fd)
    _apply_in_worker(template, spec, ruleset, entered, report, root_ready=root_ready)
    _run(child_main, report)


def _enter_namespaces(libc: ctypes.CDLL, report: HardeningReport, *, with_pid: bool,
                      entered_by_template: int = 0) -> int:
    wanted = ROOT_NAMESPACES | (namespaces.CLONE_NEWPID if with_pid else 0)
    as_root = os.geteuid() == 0
    if not as_root:
        wanted |= namespaces.CLONE_NEWUSER
    uid, gid = os.geteuid(), os.getegid()
    entered, why_not = namespaces.enter_namespaces(libc, wanted)
    if entered & namespaces.CLONE_NEWUSER:
        try:
            namespaces.map_own_ids(uid, gid)
        except OSError as error:
            report.inactive.append(f"user namespace id map: {error}")
    entered |= entered_by_template
    if entered:
        report.active.append(f"namespaces: {namespaces.describe(entered)}")
    missing = wanted & ~entered
    if missing:
        report.inactive.append(f"namespaces {namespaces.describe(missing)}: {why_not}")
    if not with_pid and not entered & namespaces.CLONE_NEWPID:
        # (A worker the template forked and wanting one has its PID namespace named above,
        # with the host's reason, when it is missing.)
        report.inactive.append("PID namespace: only for workers forked by the template")
    return entered


def _root_mountpoint(readable_paths: tuple[str, ...]) -> str | None:
    for candidate in ROOT_MOUNTPOINTS:
        if os.path.isdir(candidate) and not any(
            path == candidate or path.startswith(candidate + os.sep) for path in readable_paths
        ):
            return candidate
    return None


def _mapped_bytes() -> int:
    """What the interpreter maps: a worker's address space is that plus the allowance."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _apply_in_worker(template: _Template, spec: IsolationSpec,
                     ruleset: landlock.LandlockRuleset | str, entered: int,
                     report: HardeningReport, *, root_ready: bool = False) -> None:
    """Every layer after the namespaces, in the process that will run tenant code."""
    libc = template.libc
    address_space = (template.address_space_base or _mapped_bytes()) + spec.memory_bytes
    keep = set(spec.keep_fds)
    if isinstance(ruleset, landlock.LandlockRuleset):
        keep.add(ruleset.fd)
    close_inherited_descriptors(keep)
    # The template's environment is empty already (the pool starts it with none): clear()
    # on an empty mapping still raised and caught a KeyError in every fork.
    if os.environ:
        os.environ.clear()
    report.active.append("descriptors closed, empty environment")

    sealed_root = root_ready
    if root_ready:
        report.active.append("minimal root: Python installation read-only, /dev/null, "
                             "/dev/urandom; no /proc, no data directory")
    elif entered & namespaces.CLONE_NEWNS:
        mountpoint = _root_mountpoint(spec.readable_paths)
        try:
            if mountpoint is None:
                raise OSError("no directory to mount the minimal root on")
            namespaces.enter_minimal_root(libc, mountpoint, spec.readable_paths)
            sealed_root = True
            report.active.append("minimal root: Python installation read-only, /dev/null, "
                                 "/dev/urandom; no /proc, no data directory")
        except OSError as error:
            report.inactive.append(f"minimal root: {error}")
    else:
        report.inactive.append("minimal root: no mount namespace")
    if entered & namespaces.CLONE_NEWUTS and not root_ready:
        with contextlib.suppress(OSError):
            namespaces.set_hostname(libc, WORKER_HOSTNAME)

    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    report.active.append(
        f"rlimits: address space {address_space // (1024 * 1024)} MiB, no file writes, "
        f"no core dumps, {MAX_OPEN_FILES} descriptors"
    )

    own_uid = _drop_identity(libc, spec, entered, report)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    report.active.append("rlimit: no new processes")

    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        report.active.append("no_new_privs")
    else:
        report.inactive.append(f"no_new_privs: {os.strerror(ctypes.get_errno())}")

    landlocked = False
    if isinstance(ruleset, landlock.LandlockRuleset):
        try:
            landlock.enforce(libc, ruleset)
            landlocked = True
            report.active.append(ruleset.description)
            report.inactive.extend(f"landlock: {missing}" for missing in ruleset.missing)
        except OSError as error:
            report.inactive.append(f"landlock: {error}")
    else:
        report.inactive.append(ruleset)

    if own_uid and not sealed_root:
        report.limited.extend(_unreadable_installation(spec.readable_paths))
    if template.seccomp_program is None:
        report.inactive.append(template.seccomp_error or "seccomp: no filter")
        report.exposed.append("workers may make any system call the other layers allow (no "
                              "seccomp filter): sockets, exec, ptrace and IPC among them")
    else:
        # A worker whose filter did not load must not run tenant code: the allowlist is the
        # layer every host has, so this one fails closed.
        seccomp.install(template.seccomp_program, libc)
        report.active.append(template.seccomp_program.describe())
    if not sealed_root and not landlocked:
        report.exposed.extend(_exposed_without_file_layers(own_uid, entered))


def _unreadable_installation(readable_paths: tuple[str, ...]) -> list[str]:
    """Without a minimal root (which holds the installation at its own path, its parents
    open), a worker of its own uid reads the Python installation through the host's
    permissions: a root-only one (pyenv's under /root) leaves it only what the template had
    imported, so a script's first use of anything else (a codec such as big5) fails on this
    host and works on others. Asked as the worker, after it took its uid."""
    closed = [path for path in readable_paths if not os.access(path, os.R_OK | os.X_OK)]
    if not closed:
        return []
    return [f"workers cannot read the Python installation ({', '.join(closed)}: a directory "
            "on the way is closed to their uids), so what the template did not import fails "
            "in a script (a codec such as big5); install Python where every user may read it "
            "(/usr, /usr/local, /opt), or let the service create namespaces"]


def _exposed_without_file_layers(own_uid: bool, entered: int) -> list[str]:
    """What the host's files show a worker that has neither the minimal root nor Landlock
    (e.g. a normal user's service where user namespaces are disabled, on a kernel before
    Landlock): only file permissions stand between it and them."""
    why = "no minimal root, no Landlock"
    exposed = [f"workers can read every file on the host that any user may read ({why})"]
    if not own_uid:
        exposed.append("workers can read every file the service can, its data directory, "
                       f"database and operator token among them ({why}, the service's uid)")
    if not entered & namespaces.CLONE_NEWPID:
        exposed.append("workers see the host's processes in /proc, other tenants' workers "
                       f"among them ({why}, no PID namespace)")
    return exposed


def _drop_identity(libc: ctypes.CDLL, spec: IsolationSpec, entered: int,
                   report: HardeningReport) -> bool:
    """The worker's identity; True when it is a uid of its own (not the service's)."""
    if os.geteuid() == 0 and not entered & namespaces.CLONE_NEWUSER:
        uid = spec.uid if spec.uid is not None else NOBODY_UID
        gid = spec.gid if spec.gid is not None else (spec.uid or NOBODY_GID)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)  # from root to non-root: every capability is dropped
        except OSError as error:  # e.g. a container that took CAP_SETUID from root
            raise OSError(error.errno,
                          f"identity: cannot become uid {uid}: {error.strerror} (a service "
                          "running as root needs CAP_SETUID and CAP_SETGID to give each "
                          "worker its own uid; grant them, or run the service as a normal "
                          "user)") from None
        if spec.uid is None:
            report.active.append("identity: nobody (no uid range configured)")
        else:
            report.active.append(f"identity: own uid {uid}, gid {gid}")
        return True
    if entered & namespaces.CLONE_NEWUSER:
        # The user namespace gave full capabilities inside it; none are needed from here on.
        _drop_capabilities(libc)
        report.active.append("identity: the service's uid in its own user namespace, "
                             "no capabilities")
    else:
        report.inactive.append("identity: the service's uid (no root, no user namespace)")
    return False


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"capset: {os.strerror(error)}")


def close_inherited_descriptors(keep: set[int]) -> None:
    """Close every descriptor from 3 up except `keep` (close_range: one call per gap)."""
    low = 3
    for fd in sorted(number for number in keep if number >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def harden(memory_bytes: int, keep_fds: set[int]) -> HardeningReport:
    """Lock this already-running process down in place. Call it after every needed import."""
    template = _prepared()
    spec = IsolationSpec(uid=None, gid=None, memory_bytes=memory_bytes,
                         keep_fds=frozenset(keep_fds), readable_paths=default_readable_paths())
    report = HardeningReport()
    report.inactive.append(template.cgroup_note if template.cgroup_parent is None
                           else "cgroup: only for workers forked by the template")
    entered = _enter_namespaces(template.libc, report, with_pid=False)
    _apply_in_worker(template, spec, template.landlock_for(spec.readable_paths), entered, report)
    return report
