"""The process wall with the language wall assumed breached: a worker spawned exactly as the
pool spawns it (same `spawn_isolated`, same spec) runs unrestricted Python probes against a
real running service, its data directory and a sibling worker; every probe must be refused.

Run twice: with the service and template as root (each worker its own uid) and as a normal
user (the worker in a user namespace, with the service's uid). A control run of the same probes
in a plain fork shows they succeed when nothing stops them, so the test can fail.

The normal user's Python is a virtualenv of the system's Python 3.11 (root's own interpreter
may be out of other users' reach, as pyenv's under /root is) whose `.pth` file points at this
checkout's virtualenv: the same packages, an interpreter that user can run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from runtime.config import DATABASE_FILE, OPERATOR_TOKEN_FILE

ROOT = Path(__file__).resolve().parents[2]
VENV_SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
    / "site-packages"
SYSTEM_PYTHON = "/usr/bin/python3.11"
SERVICE_UID = 4242
TOKEN = "op_wall_" + "s3cr3t" * 6
OLD_TOKEN = "op_old_install_" + "x" * 20
START_SECONDS = 60

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not sys.platform.startswith("linux"),
    reason="the test plays root and a normal user; it needs root on Linux",
)


@dataclass
class Scenario:
    name: str
    uid: int | None  # None: root
    python: str
    service: subprocess.Popen[bytes]
    data_dir: Path
    port: int

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_FILE

    def targets(self) -> dict[str, Any]:
        return {"service_pid": self.service.pid, "data_dir": str(self.data_dir),
                "token_file": str(self.data_dir / OPERATOR_TOKEN_FILE),
                "database": str(self.database)}


def python_command(python: str, code: str) -> list[str]:
    return [python, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"]


def as_user(uid: int | None) -> dict[str, Any]:
    return {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def old_install(data_dir: Path, uid: int | None) -> None:
    """A data directory as earlier versions left it: 0755 with a 0644 token file."""
    data_dir.mkdir(mode=0o755)
    token_file = data_dir / OPERATOR_TOKEN_FILE
    token_file.write_text(OLD_TOKEN + "\n", encoding="ascii")
    os.chmod(data_dir, 0o755)
    os.chmod(token_file, 0o644)
    if uid is not None:
        os.chown(data_dir, uid, uid)
        os.chown(token_file, uid, uid)


def start_service(name: str, uid: int | None, python: str,
                  lacking: tuple[str, ...] = ()) -> Iterator[Scenario]:
    base = Path(tempfile.mkdtemp(prefix=f"wall-{name}-", dir="/tmp"))
    if uid is not None:
        os.chown(base, uid, uid)
    data_dir = base / "data"
    old_install(data_dir, uid)
    config = base / "config.yaml"
    config.write_text(f"data_dir: {data_dir}\nsandbox:\n  workers: 1\nlog_format: text\n",
                      encoding="utf-8")
    # A host lacking a layer: its calls fail in the service and all it starts, as they would.
    code = "from runtime.cli import main; sys.exit(main())" if not lacking else (
        "from tests.sandbox.wall_degraded_driver import refuse_on_this_host; "
        f"refuse_on_this_host({set(lacking)!r}); "
        "from runtime.cli import main; sys.exit(main())")
    port = free_port()
    command = python_command(python, code)
    command += ["serve", "--config", str(config), "--port", str(port)]
    service = subprocess.Popen(
        command, env={"VOIP_RUNTIME_OPERATOR_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=base, **as_user(uid),
    )
    scenario = Scenario(name, uid, python, service, data_dir, port)
    try:
        deadline = time.monotonic() + START_SECONDS
        shm = Path(str(scenario.database) + "-shm")
        while not shm.exists():
            assert service.poll() is None, service.stderr.read().decode() if service.stderr \
                else "the service exited"
            assert time.monotonic() < deadline, "the service did not open its database"
            time.sleep(0.1)
        yield scenario
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def root_service() -> Iterator[Scenario]:
    yield from start_service("root", None, sys.executable)


def system_python(owner: int) -> Iterator[str]:
    """A virtualenv of the system's Python, owned by `owner` and readable by every user, with
    this checkout's packages."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not os.path.exists(SYSTEM_PYTHON) or not SYSTEM_PYTHON.endswith(version):
        pytest.skip(f"{SYSTEM_PYTHON} (Python {version}) is needed to run as a normal user")
    base = Path(tempfile.mkdtemp(prefix="wall-python-", dir="/tmp"))
    os.chmod(base, 0o755)
    os.chown(base, owner, owner)
    venv = base / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120, **as_user(None if owner == 0 else owner))
    site = venv / "lib" / f"python{version}" / "site-packages"
    (site / "voip-runtime-checkout.pth").write_text(f"{VENV_SITE}\n{ROOT}\n", encoding="utf-8")
    python = str(venv / "bin" / "python")
    try:
        reachable = subprocess.run([python, "-I", "-c", "import runtime.cli, sandbox.harden"],
                                   capture_output=True, timeout=120, check=False,
                                   **as_user(SERVICE_UID))
        if reachable.returncode != 0:  # e.g. a checkout under a directory only root enters
            pytest.skip(f"uid {SERVICE_UID} cannot import this checkout ({ROOT}): "
                        f"{reachable.stderr.decode()[-300:]}")
        yield python
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def user_python() -> Iterator[str]:
    """A Python the service user can run, with this checkout's packages."""
    yield from system_python(SERVICE_UID)


@pytest.fixture(scope="module")
def shared_python() -> Iterator[str]:
    """A Python root's workers can read without a minimal root: root's own may be in a
    directory only root enters (pyenv's under /root), which is then closed to a worker's uid
    (and its own modules the worker imports lazily with it)."""
    yield from system_python(0)


@pytest.fixture(scope="module")
def user_service(user_python: str) -> Iterator[Scenario]:
    yield from start_service("user", SERVICE_UID, user_python)


# The pool's test-only probe worker (tests/sandbox/probe_worker.py) comes with the fork-server
# pool; where it is present the hardened probes run through the real pool and its template.
REAL_POOL = importlib.util.find_spec("tests.sandbox.probe_worker") is not None


def run_template(scenario: Scenario, mode: str, lacking: tuple[str, ...] = ()) -> dict[str, Any]:
    """"hardened": the worker as the pool starts it: through the real pool with the probe
    worker (tests/sandbox/wall_pool_driver.py), or, before the pool has a probe entry, from a
    template of ours calling the same `spawn_isolated` with the pool's spec
    (tests/sandbox/wall_template.py). "control": the same probes in a plain fork."""
    if mode == "hardened" and REAL_POOL:
        code = "from tests.sandbox.wall_pool_driver import main; main()"
        arguments = [json.dumps(scenario.targets()), *lacking]
    else:
        assert not lacking, "a host lacking features is only played through the real pool"
        code = "from tests.sandbox.wall_template import main; main()"
        arguments = [json.dumps(scenario.targets()), mode]
    completed = subprocess.run(
        [*python_command(scenario.python, code), *arguments], capture_output=True,
        timeout=180, check=False, cwd="/", env={"PATH": "/usr/bin:/bin"},
        **as_user(scenario.uid),
    )
    assert completed.returncode == 0, completed.stderr.decode()
    result: dict[str, Any] = json.loads(completed.stdout)
    assert "probes" in result, completed.stderr.decode()
    return result


@pytest.fixture(scope="module")
def root_wall(root_service: Scenario) -> dict[str, Any]:
    return run_template(root_service, "hardened")


@pytest.fixture(scope="module")
def user_wall(user_service: Scenario) -> dict[str, Any]:
    return run_template(user_service, "hardened")


@pytest.fixture(scope="module")
def user_wall_without_user_namespaces(user_service: Scenario) -> dict[str, Any]:
    """A normal user's service where user namespaces are disabled (a container without them,
    `user.max_user_namespaces=0`): no minimal root, no PID namespace; Landlock and seccomp
    must hold the wall alone."""
    return run_template(user_service, "hardened", ("user-namespaces",))


@pytest.fixture(scope="module")
def root_wall_without_namespaces(root_service: Scenario, shared_python: str) -> dict[str, Any]:
    """Root in a container whose profile refuses every namespace: each worker's own uid,
    Landlock and seccomp hold the wall."""
    return run_template(replace(root_service, python=shared_python), "hardened",
                        ("namespaces",))


@pytest.fixture(scope="module")
def user_wall_without_landlock(user_service: Scenario) -> dict[str, Any]:
    """A normal user's service on a kernel without Landlock: the namespaces and seccomp."""
    return run_template(user_service, "hardened", ("landlock",))


# What `wall_probes.ordinary_python` computes when nothing benign is refused.
ORDINARY = {
    "json": {"a": [1, 2.5, None]}, "re": "74951234567",
    "strptime": "2026-12-06T10:00:00", "decimal": "0.3", "sha256": "2d711642",
    "urlencode": "a=b+c", "random": 16, "allocate 64 MiB": 64 * 1024 * 1024,
}


def assert_all_refused(result: dict[str, Any]) -> None:
    probes = result["probes"]
    assert len(probes) > 190
    not_refused = {name: outcome for name, outcome in probes.items()
                   if not outcome.startswith("refused")}
    assert not_refused == {}
    assert result["sibling_alive_after"] is True


def test_root_every_probe_refused(root_wall: dict[str, Any]) -> None:
    assert_all_refused(root_wall)


def test_normal_user_every_probe_refused(user_wall: dict[str, Any]) -> None:
    assert_all_refused(user_wall)


@pytest.mark.parametrize("wall", ["user_wall_without_user_namespaces",
                                  "root_wall_without_namespaces", "user_wall_without_landlock"])
def test_every_probe_refused_where_the_host_lacks_a_layer(
        wall: str, request: pytest.FixtureRequest) -> None:
    """Each layer covers for another: without user namespaces (so no minimal root or PID
    namespace for a normal user), or without Landlock, a breached worker still reaches
    nothing of the service, its data or its siblings, and ordinary Python still runs."""
    result = request.getfixturevalue(wall)
    assert_all_refused(result)
    assert result["ordinary"] == ORDINARY
    assert result["benign_outcome"]["result"]["response"]["body"] == "ok 7"


@pytest.mark.parametrize("wall", ["root_wall", "user_wall"])
def test_32_bit_and_x32_system_call_entries_kill_the_worker(
        wall: str, request: pytest.FixtureRequest) -> None:
    """Machine code the worker maps and runs: the native `syscall` reaches the filter's
    allowlist (getpid: PID 1 of its own namespace), `int 0x80` and the x32 numbering are
    another architecture to the filter and kill the worker (SIGSYS) before the call runs."""
    result = request.getfixturevalue(wall)
    entries = result["system_call_entries"]
    assert entries["native syscall"]["ok"] is True
    assert entries["native syscall"]["result"] == 1
    for name in ("int 0x80", "x32 syscall"):
        assert entries[name]["ok"] is False, name
        assert entries[name]["error"]["type"] == "WorkerCrashed", name
        assert "exit status -31" in entries[name]["error"]["message"], name
    assert result["sibling_alive_after"] is True


@pytest.mark.parametrize("wall", ["root_wall", "user_wall"])
def test_no_capability_left(wall: str, request: pytest.FixtureRequest) -> None:
    """Not even inside the worker's own namespaces (a user namespace grants them all)."""
    assert request.getfixturevalue(wall)["sibling_capabilities"] == 0


def run_degraded(uid: int | None, python: str, *refused: str) -> dict[str, Any]:
    code = "from tests.sandbox.wall_degraded_driver import main; main()"
    completed = subprocess.run([*python_command(python, code), *refused], capture_output=True,
                               timeout=180,
                               check=False, cwd="/", env={"PATH": "/usr/bin:/bin"},
                               **as_user(uid))
    assert completed.returncode == 0, completed.stderr.decode()
    result: dict[str, Any] = json.loads(completed.stdout)
    assert result["outcome"]["ok"] is True, result
    return result


def test_a_normal_user_without_namespaces_or_landlock_is_warned_workers_read_its_files(
        user_python: str) -> None:
    """With neither a minimal root nor Landlock, a normal user's workers run as its uid with
    nothing between them and its data directory. The inactive layers were listed at INFO; the
    operator is now told, as a warning, what that leaves open."""
    result = run_degraded(SERVICE_UID, user_python)
    inactive = "\n".join(result["outcome"]["result"]["inactive"])
    assert "minimal root: no mount namespace" in inactive
    assert "landlock" in inactive
    warnings = [line for line in result["warnings"]
                if line.startswith("sandbox workers are exposed: ")]
    assert any("data directory, database and operator token" in line for line in warnings)
    assert any("other tenants' workers" in line for line in warnings)
    # The template is not dumpable: its descriptors (a standby's pipes, which the next tenant's
    # calls and outcomes travel) were open to its workers through /proc/<template>/fd.
    assert result["template_descriptors"] == "refused: PermissionError"


def test_a_normal_user_without_user_namespaces_is_told_why_each_layer_is_missing(
        user_python: str) -> None:
    """User namespaces disabled (`user.max_user_namespaces=0`, which answers ENOSPC): the
    pool starts, Landlock and seccomp are active, nothing is exposed, and each missing layer
    is listed with the host's own reason. The list said "shared namespaces: the helper could
    not build the shared namespaces" (the reason lost in the helper) and "PID namespace: only
    for workers forked by the template" of workers the template forked."""
    result = run_degraded(SERVICE_UID, user_python, "user-namespaces")
    report = result["outcome"]["result"]
    assert any(line.startswith("landlock ABI") for line in report["active"]), report
    assert any(line.startswith("seccomp allowlist") for line in report["active"]), report
    assert report["exposed"] == []
    assert not any(line.startswith("sandbox workers are exposed") for line in result["warnings"])
    inactive = report["inactive"]
    shared = [line for line in inactive if line.startswith("shared namespaces: ")]
    assert shared == ["shared namespaces: [Errno 28] unshare(user, mount, network, UTS): No "
                      "space left on device"], inactive
    assert not any("only for workers forked by the template" in line for line in inactive)
    assert any(line.startswith("namespaces user, mount, IPC, PID, network, UTS: [Errno 28]")
               for line in inactive), inactive


def healthz_and_metrics(scenario: Scenario) -> tuple[dict[str, Any], str]:
    """/healthz once a worker has reported its layers, and /metrics then."""
    base = f"http://127.0.0.1:{scenario.port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert scenario.service.poll() is None, "the service exited"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:
                health: dict[str, Any] = json.load(answer)
            if "sandbox" in health:
                break
        except OSError:
            pass  # not listening yet
        assert time.monotonic() < deadline, "no worker reported its layers"
        time.sleep(0.1)
    with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
        return health, answer.read().decode()


@pytest.mark.parametrize(("who", "lacking", "missing", "active"), [
    ("user", ("user-namespaces",), {"user_namespace", "pid_namespace", "minimal_root"},
     {"seccomp", "landlock", "no_new_privs"}),
    ("root", ("landlock",), {"landlock"},
     {"seccomp", "pid_namespace", "minimal_root", "identity", "no_new_privs"}),
])
def test_healthz_and_metrics_say_which_layers_the_workers_have(
        who: str, lacking: tuple[str, ...], missing: set[str], active: set[str],
        request: pytest.FixtureRequest) -> None:
    """A service on a host lacking a layer: /healthz and /metrics name what the workers have
    and what they miss, as the log does. They said nothing of the layers: a host that lost
    Landlock or user namespaces looked the same as one with every layer."""
    uid, python = ((SERVICE_UID, request.getfixturevalue("user_python")) if who == "user"
                   else (None, sys.executable))
    for scenario in start_service(f"{who}-lacking", uid, python, lacking):
        health, metrics = healthz_and_metrics(scenario)
        layers = health["sandbox"]
        assert missing <= set(layers["missing"]), layers
        assert active <= set(layers["active"]), layers
        assert layers["exposed"] is False
        assert health["status"] == "ok"  # missing layers are reported, not a failure
        for layer in missing:
            assert f'voip_sandbox_layer_active{{layer="{layer}"}} 0.0' in metrics
        for layer in active:
            assert f'voip_sandbox_layer_active{{layer="{layer}"}} 1.0' in metrics
        assert "voip_sandbox_workers_exposed 0.0" in metrics


def test_root_without_namespaces_or_landlock_is_warned_workers_see_the_host() -> None:
    """As root each worker keeps its own uid, so the service's files stay closed to it; what
    any user may read, and /proc's list of every process, are open and said so."""
    result = run_degraded(None, sys.executable)
    warnings = [line for line in result["warnings"]
                if line.startswith("sandbox workers are exposed: ")]
    assert any("any user may read" in line for line in warnings)
    assert any("other tenants' workers" in line for line in warnings)
    assert not any("operator token" in line for line in warnings)
    assert not any("seccomp" in line for line in warnings)
    assert result["template_descriptors"] == "refused: PermissionError"


def closed_to_others(path: str) -> bool:
    """Whether some directory on the way to `path` (or `path` itself) shuts out other users."""
    parts = Path(path).resolve().parts
    for depth in range(1, len(parts) + 1):
        mode = os.stat(Path(*parts[:depth])).st_mode
        if not mode & stat.S_IXOTH or (depth == len(parts) and not mode & stat.S_IROTH):
            return True
    return False


def test_root_without_namespaces_warns_when_workers_cannot_read_its_python(
        shared_python: str) -> None:
    """Root in a container without namespaces (Docker's default seccomp profile) and a Python
    only root may read (pyenv's under /root): each worker's own uid reads only what the
    template imported, so a script's `"..".encode("big5")` failed there ("unknown encoding")
    and worked on every other host, with nothing in the log. Now the log says so; a Python
    every user may read is not warned of."""
    stdlib = sysconfig.get_paths()["stdlib"]
    if not closed_to_others(stdlib):
        pytest.skip(f"this Python's standard library ({stdlib}) is open to every user")
    closed = run_degraded(None, sys.executable, "namespaces")
    limited = [line for line in closed["warnings"]
               if line.startswith("sandbox workers are limited: ")]
    assert len(limited) == 1, closed["warnings"]
    assert "workers cannot read the Python installation" in limited[0]
    assert stdlib in limited[0]
    assert closed["outcome"]["result"]["limited"] == [
        limited[0].removeprefix("sandbox workers are limited: ")]
    open_ = run_degraded(None, shared_python, "namespaces")
    assert not [line for line in open_["warnings"] if "limited" in line], open_["warnings"]
    assert open_["outcome"]["result"]["limited"] == []


def test_workers_without_a_seccomp_filter_are_warned_of() -> None:
    """Without libseccomp or the kernel's seccomp the workers run unfiltered (the README's
    promise: the log says so). It was one note among the template's at INFO."""
    result = run_degraded(None, sys.executable, "seccomp")
    warnings = [line for line in result["warnings"]
                if line.startswith("sandbox workers are exposed: ")]
    assert any("no seccomp filter" in line for line in warnings), warnings


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_root_that_may_not_change_uid_says_which_layer_its_workers_could_not_apply() -> None:
    """Root without CAP_SETUID (a container or unit that dropped it): a worker cannot take its
    own uid, so it fails closed before any tenant code. The log said only "exited before it
    was ready (exit status 70)": the worker's traceback went to a stderr that goes nowhere."""
    code = "from tests.sandbox.wall_degraded_driver import start_only; start_only()"
    completed = subprocess.run(
        ["setpriv", "--bounding-set=-setuid,-setgid", "--inh-caps=-all",
         *python_command(sys.executable, code)],
        capture_output=True, timeout=180, check=False, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr.decode()
    result = json.loads(completed.stdout)
    assert result["error"] is not None
    assert "could not harden itself and ran no tenant code" in result["error"]
    assert "identity: cannot become uid" in result["error"]
    assert any("identity: cannot become uid" in line for line in result["logged"])


@pytest.mark.parametrize("wall", ["root_wall", "user_wall"])
def test_a_fully_hardened_worker_reports_nothing_exposed(
        wall: str, request: pytest.FixtureRequest) -> None:
    assert request.getfixturevalue(wall)["report"]["exposed"] == []


def test_control_same_probes_succeed_without_the_wall(root_service: Scenario) -> None:
    result = run_template(root_service, "control")
    assert result["probes"] == {name: "allowed" for name in result["probes"]}
    assert len(result["probes"]) >= 20


@pytest.mark.parametrize("wall", ["root_wall", "user_wall"])
def test_ordinary_python_still_runs(wall: str, request: pytest.FixtureRequest) -> None:
    result = request.getfixturevalue(wall)
    assert result["ordinary"] == ORDINARY
    outcome = result["benign_outcome"]
    assert outcome["ok"] is True, outcome
    assert outcome["result"]["response"]["body"] == "ok 7"


def test_root_report_names_every_layer(root_wall: dict[str, Any]) -> None:
    active = root_wall["report"]["active"]
    joined = "\n".join(active)
    assert any(line.startswith("namespaces: mount, IPC, PID, network, UTS") for line in active)
    assert "minimal root" in joined
    uid = root_wall["uid"]
    start, stop = root_wall["worker_uids"]
    assert stop - start == 65_536 and (start - 200_000) % 65_536 == 0  # the default, or moved
    assert start <= uid < stop and uid != root_wall["sibling_uid"]
    assert f"identity: own uid {uid}, gid {uid}" in active
    assert "landlock ABI" in joined
    assert "seccomp allowlist" in joined
    assert "no_new_privs" in active
    # cgroup v2 is active or says why not (this machine delegates no controllers).
    report = root_wall["report"]
    assert any(line.startswith("cgroup") for line in report["active"] + report["inactive"])


def test_normal_user_report_uses_a_user_namespace(user_wall: dict[str, Any]) -> None:
    active = user_wall["report"]["active"]
    assert any(line.startswith("namespaces: user, mount, IPC, PID, network, UTS")
               for line in active)
    assert user_wall["uid"] == SERVICE_UID
    assert any(line.startswith("identity: the service's uid in its own user namespace")
               for line in active)


@pytest.mark.parametrize("fixture", ["root_service", "user_service"])
def test_data_at_rest_private_and_old_install_fixed(fixture: str,
                                                    request: pytest.FixtureRequest) -> None:
    scenario: Scenario = request.getfixturevalue(fixture)
    assert stat.S_IMODE(scenario.data_dir.stat().st_mode) == 0o700
    for name in (DATABASE_FILE, DATABASE_FILE + "-wal", DATABASE_FILE + "-shm",
                 OPERATOR_TOKEN_FILE):
        path = scenario.data_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


@pytest.mark.parametrize("fixture", ["root_service", "user_service"])
def test_operator_token_not_in_the_service_environment(fixture: str,
                                                       request: pytest.FixtureRequest) -> None:
    scenario: Scenario = request.getfixturevalue(fixture)
    environ = Path(f"/proc/{scenario.service.pid}/environ").read_bytes()  # root may read it
    assert TOKEN.encode() not in environ
    assert b"PATH=/usr/bin:/bin" in environ


def test_same_uid_process_cannot_read_the_service(user_service: Scenario) -> None:
    """A process of the service's own uid (what a worker of a non-root service is, were every
    namespace gone) cannot read its environment or memory: the service is not dumpable."""
    pid = user_service.service.pid
    code = (
        "import json\n"
        "out = {}\n"
        f"for name in ('environ', 'mem'):\n"
        "    try:\n"
        f"        open('/proc/{pid}/' + name, 'rb').read(1)\n"
        "        out[name] = 'allowed'\n"
        "    except OSError as error:\n"
        "        out[name] = type(error).__name__\n"
        "print(json.dumps(out))\n"
    )
    completed = subprocess.run([user_service.python, "-I", "-c", code], capture_output=True,
                               timeout=60, check=True, **as_user(SERVICE_UID))
    assert json.loads(completed.stdout) == {"environ": "PermissionError",
                                            "mem": "PermissionError"}
