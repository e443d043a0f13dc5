"""The process wall on its own: a hardened process cannot reach the network, start processes,
write files or signal others, whatever code runs in it (no language wall involved)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sandbox.harden import build_seccomp_program

PROBE = textwrap.dedent(
    """
    import json, os, socket, sys
    sys.path.insert(0, {root!r})
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
    attempt("read_file", lambda: open("/proc/self/status").read())
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


def test_memory_beyond_the_allowance_is_a_memory_error(probe: dict[str, object]) -> None:
    assert probe["allocate_1g"] == "MemoryError"


def test_ordinary_work_still_runs(probe: dict[str, object]) -> None:
    assert probe["read_file"] == "allowed"
    assert probe["allocate_8m"] == "allowed"


def test_environment_is_emptied(probe: dict[str, object]) -> None:
    assert probe["environ"] == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_root_drops_to_nobody(probe: dict[str, object]) -> None:
    assert probe["uid"] == 65534


def test_report_names_active_protections(probe: dict[str, object]) -> None:
    report = probe["report"]
    assert isinstance(report, dict)
    active = " ".join(report["active"])
    assert "rlimits" in active
    assert "seccomp" in active


def test_seccomp_program_is_whole_instructions() -> None:
    program = build_seccomp_program()
    assert len(program) % 8 == 0
    assert len(program) // 8 < 4096  # the kernel's BPF_MAXINSNS
