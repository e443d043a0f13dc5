"""The OS wall's layers on their own: a process hardened in place (as today's pool workers
harden themselves) cannot reach the network, start processes, write files, signal others or
see the host's files, whatever code runs in it (no language wall involved)."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.harden import default_readable_paths, python_code_only
from sandbox.oswall import cgroups, landlock, seccomp

PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    sys.path.insert(0, {root!r})
    import sandbox.executor
    from sandbox.harden import harden
    report = harden(256 * 1024 * 1024, keep_fds=set())
    results = {{}}
    def attempt(name, action):
        try:
            action()
            results[name] = "allowed"
        except BaseException as error:
            results[name] = type(error).__name__
    attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    attempt("unix_socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    attempt("fork", os.fork)
    attempt("exec", lambda: os.execv("/bin/true", ["/bin/true"]))
    attempt("write_file", lambda: open("/tmp/hardened-probe-file", "w"))
    attempt("append_file", lambda: open("/tmp/hardened-probe-file", "a"))
    attempt("mkdir", lambda: os.mkdir("/tmp/hardened-probe-dir"))
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    attempt("list_root", lambda: os.listdir("/"))
    attempt("read_etc", lambda: open("/etc/hostname").read())
    attempt("read_cwd_checkout", lambda: open({root!r} + "/pyproject.toml").read())
    attempt("read_proc", lambda: open("/proc/self/status").read())
    attempt("read_stdlib", lambda: open(os.__file__).read())
    attempt("import_later", lambda: __import__("fractions"))
    attempt("allocate_1g", lambda: bytearray(1024 * 1024 * 1024))
    attempt("allocate_8m", lambda: bytearray(8 * 1024 * 1024))
    results["uid"] = os.getuid()
    results["environ"] = dict(os.environ)
    results["report"] = report.to_json()
    os.write(1, json.dumps(results).encode())
    """
)


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run(
        [sys.executable, "-I", "-c", PROBE.format(root=root)],
        capture_output=True, env={"LEAK_ME": "secret"}, timeout=60, check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    return json.loads(completed.stdout)


@pytest.mark.parametrize(
    "action",
    ["socket", "unix_socket", "fork", "exec", "write_file", "append_file", "mkdir", "kill_parent"],
)
def test_denied_with_permission_error(probe: dict[str, object], action: str) -> None:
    assert probe[action] == "PermissionError"


@pytest.mark.parametrize("action", ["read_etc", "read_cwd_checkout", "read_proc"])
def test_nothing_but_the_python_installation_is_visible(probe: dict[str, object],
                                                        action: str) -> None:
    assert probe[action] in ("FileNotFoundError", "PermissionError")


def test_memory_beyond_the_allowance_is_a_memory_error(probe: dict[str, object]) -> None:
    assert probe["allocate_1g"] == "MemoryError"


def test_ordinary_work_still_runs(probe: dict[str, object]) -> None:
    assert probe["read_stdlib"] == "allowed"
    assert probe["import_later"] == "allowed"  # a lazy import reads the installation
    assert probe["allocate_8m"] == "allowed"


def test_environment_is_emptied(probe: dict[str, object]) -> None:
    assert probe["environ"] == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_root_without_a_uid_range_drops_to_nobody(probe: dict[str, object]) -> None:
    assert probe["uid"] == 65534


def test_report_names_each_layer(probe: dict[str, object]) -> None:
    report = probe["report"]
    assert isinstance(report, dict)
    active = "\n".join(report["active"])
    inactive = "\n".join(report["inactive"])
    assert "rlimits" in active
    assert "seccomp allowlist" in active
    assert "PID namespace: only for workers forked by the template" in inactive
    for layer in ("landlock", "minimal root", "namespaces"):
        assert layer in active + inactive


def test_seccomp_program_is_whole_instructions() -> None:
    program = seccomp.build_program(ctypes.CDLL(None, use_errno=True))
    assert len(program.bpf) % 8 == 0
    assert 0 < len(program.bpf) // 8 < 4096  # the kernel's BPF_MAXINSNS


def test_seccomp_allowlist_has_no_dangerous_call() -> None:
    assert not set(seccomp.PLAIN_SYSCALLS) & set(seccomp.NOTABLY_DENIED)


def test_readable_paths_are_the_installation_only() -> None:
    paths = default_readable_paths()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert os.path.join(root, "sandbox") in paths
    assert root not in paths  # the checkout may hold a data directory
    assert os.path.dirname(os.__file__) in paths


def test_landlock_abi_is_reported() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert landlock.abi_version(libc) >= 0
    assert landlock.handled_fs_access(1) < landlock.handled_fs_access(5)


X32_PROBE = textwrap.dedent(
    """
    import ctypes, os, sys
    sys.path.insert(0, {root!r})
    import sandbox.executor
    from sandbox.harden import harden
    harden(256 * 1024 * 1024, keep_fds=set())
    libc = ctypes.CDLL(None, use_errno=True)
    os.write(1, b"hardened\\n")
    libc.syscall(0x40000000 | 39)  # getpid through the x32 ABI's numbering
    os.write(1, b"survived\\n")
    """
)


def test_x32_system_calls_kill_the_worker() -> None:
    """The x32 ABI reaches the same kernel code under other numbers; libseccomp's filter
    treats it as a foreign architecture and kills the process."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run([sys.executable, "-I", "-c", X32_PROBE.format(root=root)],
                               capture_output=True, timeout=60, check=False)
    assert completed.stdout == b"hardened\n"
    assert completed.returncode == -signal.SIGSYS


def test_cgroup_layer_is_active_or_says_why_not() -> None:
    parent, note = cgroups.probe()
    assert note.startswith("cgroup v2")
    if parent is None:  # e.g. this machine: a v2 mount without delegated controllers
        assert ":" in note
    else:
        assert os.path.isdir(parent.path)


def test_a_checkout_given_as_readable_gives_way_to_its_packages(tmp_path: Path) -> None:
    """A pool that passes a checkout's root (where ./data may hold the database) still gets a
    worker that reads only the Python packages in it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "voip-runtime.db").write_text("secrets", encoding="ascii")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="ascii")
    stdlib = os.path.dirname(os.__file__)
    assert python_code_only((str(tmp_path), stdlib)) == (str(tmp_path / "pkg"), stdlib)


def test_worker_cgroups_of_earlier_services_are_removed_at_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each start made `voip-workers-<pid>` beside the service's cgroup and nothing removed
    it: a service restarted for months left one a start, its last workers' cgroups inside.
    (A delegated cgroup v2 tree, as a directory tree: its interface files do not stop rmdir.)"""
    mount = tmp_path / "cgroup"
    service = mount / "voip.service"
    service.mkdir(parents=True)
    (mount / "cgroup.subtree_control").write_text("cpu memory pids\n", encoding="ascii")
    monkeypatch.setattr(cgroups, "_cgroup2_mount", lambda: str(mount))
    monkeypatch.setattr(cgroups, "_own_cgroup", lambda: "/voip.service")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, text=True)
    stale = mount / f"voip-workers-{int(gone.stdout)}"
    (stale / "w1-7").mkdir(parents=True)
    (stale / "w1-8").mkdir()
    living = mount / f"voip-workers-{os.getppid()}"  # another service on this host, running
    living.mkdir()
    unrelated = mount / "other.service"
    unrelated.mkdir()

    parent, note = cgroups.probe()
    assert parent is not None, note
    assert parent.path == str(mount / f"voip-workers-{os.getpid()}")
    assert sorted(p.name for p in mount.iterdir() if p.is_dir()) == sorted(
        [living.name, f"voip-workers-{os.getpid()}", "other.service", "voip.service"])
