"""The worker template stays small, and what it prepares once is what the workers need.

Every page the template holds is a page-table entry each fork copies, and each module that
registers an after-fork hook runs it in every worker before the worker does anything
(`threading`'s costs a worker about 125 copy-on-write faults). These tests keep such imports
out of the template, and check that the seccomp filter it gets from its helper process is the
filter libseccomp compiles.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.oswall import seccomp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What the template imports and prepares before its first fork (sandbox/template.py).
TEMPLATE_IMPORTS = (
    "import sys, json; sys.path.insert(0, {root!r})\n"
    "from sandbox import template, harden\n"
    "template._resolve(template.DEFAULT_ENTRY)\n"
    "import sandbox.executor\n"
    "template._warm()\n"
    "notes = harden.prepare_template()\n"
    "print(json.dumps({{'modules': sorted(sys.modules), 'notes': notes}}))\n"
)

# Never in the template: the pool's event loop and what it brings, and modules whose import
# registers an after-fork hook or starts nothing a worker needs.
KEPT_OUT = ("asyncio", "threading", "subprocess", "ssl", "pyseccomp", "ctypes.util",
            "concurrent.futures", "sandbox.pool", "sandbox.forkserver")


@pytest.fixture(scope="module")
def template_state() -> dict[str, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-I", "-c", TEMPLATE_IMPORTS.format(root=ROOT)],
        capture_output=True, text=True, timeout=120, env={}, check=True)
    state: dict[str, list[str]] = json.loads(completed.stdout.splitlines()[-1])
    return state


@pytest.mark.parametrize("module", KEPT_OUT)
def test_the_template_does_not_import(template_state: dict[str, list[str]],
                                      module: str) -> None:
    assert module not in template_state["modules"]


def test_the_template_still_compiles_the_seccomp_filter(
        template_state: dict[str, list[str]]) -> None:
    if not any(note.startswith("seccomp allowlist compiled") for note in template_state["notes"]):
        pytest.skip(f"no seccomp on this host: {template_state['notes']}")
    assert "sandbox.executor" in template_state["modules"]


def test_the_helper_compiles_the_same_filter_as_libseccomp_here() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        here = seccomp.build_program(libc)
    except (ImportError, RuntimeError, OSError) as error:
        pytest.skip(f"no seccomp on this host: {error}")
    helped = seccomp.build_program_in_helper(libc)
    assert helped.bpf == here.bpf
    assert helped.allowed == here.allowed
    assert helped.fprog.len == len(here.bpf) // 8


def test_a_helper_that_cannot_compile_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bytes:
        raise ImportError("libseccomp.so.2: cannot open shared object file")

    monkeypatch.setattr(seccomp, "_compile", broken)  # the forked helper inherits it
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(seccomp.PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        pytest.skip("no seccomp in this kernel")
    with pytest.raises(RuntimeError, match=re.escape("ImportError: libseccomp.so.2: cannot")):
        seccomp.build_program_in_helper(libc)


def test_a_program_is_whole_instructions() -> None:
    with pytest.raises(ValueError):
        seccomp.SeccompProgram(bpf=b"\0" * 12, allowed=1)


# -- the standby: the next worker, forked and hardened before it is asked for ------------------

def children_of(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        return {int(child) for child in children.read().split()}


def status_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


async def spawn_ready(server: Any, spec: dict[str, Any], standby: dict[str, Any] | None = None
                      ) -> tuple[int, dict[str, Any]]:
    """Spawn through the template; the worker's pid and its 'ready' message."""
    spawned = await server.spawn(spec, standby)
    with os.fdopen(spawned.read_fd, "rb", buffering=0) as messages:
        ready = json.loads(await asyncio.to_thread(messages.readline))
    os.close(spawned.write_fd)  # the worker sees EOF and exits
    if spawned.pidfd is not None:
        os.close(spawned.pidfd)
    assert ready["type"] == "ready"
    return spawned.pid, ready


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("not within 5 s")


def layers(ready: dict[str, Any]) -> dict[str, list[str]]:
    """The hardening report, its identity line aside (each worker has its own uid)."""
    report = ready["hardening"]
    return {kind: [line for line in report[kind] if not line.startswith("identity")]
            for kind in ("active", "inactive")}


@pytest.fixture
async def root_template() -> Any:
    from sandbox.forkserver import DEFAULT_ENTRY, ForkServer

    server = ForkServer(sys.executable, DEFAULT_ENTRY, lambda pid, status: None,
                        lambda server: None)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def worker_spec(uid: int, paths: list[str] | None = None) -> dict[str, Any]:
    from sandbox.limits import Limits
    from sandbox.pool import readable_paths

    return {"uid": uid, "gid": uid, "memory_bytes": Limits().memory_bytes,
            "readable_paths": paths if paths is not None else list(readable_paths())}


@pytest.mark.skipif(os.geteuid() != 0, reason="each worker its own uid needs a root template")
async def test_the_next_worker_is_hardened_before_it_is_asked_for_and_then_handed_over(
        root_template: Any) -> None:
    template_pid = root_template.pid
    first, first_ready = await spawn_ready(root_template, worker_spec(200_001),
                                           standby=worker_spec(200_002))
    await wait_for(lambda: bool(children_of(template_pid) - {first}))
    [standby] = children_of(template_pid) - {first}
    # Before any request names it, the standby is a hardened worker: its own uid, no new
    # privileges, a seccomp filter, not dumpable (its /proc files are root's).
    await wait_for(lambda: status_of(standby).get("Seccomp") == "2")
    status = status_of(standby)
    assert status["Uid"].split() == ["200002"] * 4
    assert status["Gid"].split() == ["200002"] * 4
    assert status["NoNewPrivs"] == "1"
    assert os.stat(f"/proc/{standby}/status").st_uid == 0

    second, second_ready = await spawn_ready(root_template, worker_spec(200_002),
                                             standby=worker_spec(200_003))
    assert second == standby  # the process forked before the request became the worker
    assert layers(second_ready) == layers(first_ready)  # every layer, as forked on request
    assert "identity: own uid 200002, gid 200002" in second_ready["hardening"]["active"]
    assert any(line.startswith("seccomp allowlist") or line.startswith("landlock")
               for line in second_ready["hardening"]["active"])

    # A request that is not the one announced (another uid here) never gets the standby:
    # it is discarded (it exits) and the request's worker is forked for it.
    await wait_for(lambda: bool(children_of(template_pid) - {first, second}))
    [next_standby] = children_of(template_pid) - {first, second}
    third, third_ready = await spawn_ready(root_template, worker_spec(200_009))
    assert third != next_standby
    assert "identity: own uid 200009, gid 200009" in third_ready["hardening"]["active"]
    await wait_for(lambda: next_standby not in children_of(template_pid))


@pytest.mark.skipif(os.geteuid() != 0, reason="the test kills a root template's standby")
async def test_a_standby_that_died_before_its_request_is_not_handed_over(
        root_template: Any) -> None:
    template_pid = root_template.pid
    first, _ = await spawn_ready(root_template, worker_spec(200_011),
                                 standby=worker_spec(200_012))
    await wait_for(lambda: bool(children_of(template_pid) - {first}))
    [standby] = children_of(template_pid) - {first}
    os.kill(standby, signal.SIGKILL)

    def dead() -> bool:
        try:
            return status_of(standby)["State"].startswith("Z")  # not reaped yet
        except FileNotFoundError:
            return True  # reaped by the template

    await wait_for(dead)
    second, second_ready = await spawn_ready(root_template, worker_spec(200_012))
    assert second != standby
    assert "identity: own uid 200012, gid 200012" in second_ready["hardening"]["active"]


@pytest.mark.skipif(os.geteuid() != 0, reason="each worker its own uid needs a root service")
async def test_the_pool_announces_its_next_worker_so_the_template_has_it_ready() -> None:
    from sandbox import Call, Limits, RequestData, SandboxPool

    source = ("def VoipParseWebhookRequest(request):\n"
              "    return {'response': {'status': 200, 'body': 'ok'}}\n")
    uids = range(300_000, 300_050)
    async with SandboxPool(size=2, max_workers=8, limits=Limits(), spare_workers=1,
                           worker_uids=uids) as pool:
        template = pool._template
        assert template is not None and template.pid is not None
        for tenant in ("a", "b", "c"):
            # The standby the template made for the pool's next spawn: already hardened, with
            # the uid the pool reserved for that spawn.
            def standby_ready() -> bool:
                extra = children_of(template.pid) - set(pool._by_pid)
                return len(extra) == 1 and status_of(next(iter(extra))).get("Seccomp") == "2"

            await wait_for(standby_ready)
            [standby] = children_of(template.pid) - set(pool._by_pid)
            assert status_of(standby)["Uid"].split() == [str(pool._next_uid)] * 4
            # This tenant takes the spare; the spare's replacement is the standby itself.
            outcome = await pool.run(Call(source=source, function="VoipParseWebhookRequest",
                                          request=RequestData()), group=tenant)
            assert outcome.ok, outcome
            await wait_for(lambda: standby in pool._by_pid)  # noqa: B023 (awaited at once)
            assert pool.stats.workers_started >= 2
        assert len({worker.uid for worker in pool._workers}) == len(pool._workers)
