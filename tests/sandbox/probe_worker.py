"""A worker whose language wall is gone, for process-wall tests: unrestricted Python, forked by
the template through `harden.spawn_isolated` with the pool's own spec, exactly as a real worker.

Test-only, and unreachable from the service: the entry is fixed when a template starts, and only
a pool a test builds itself passes it:

    async with SandboxPool(size=2, worker_entry=PROBE_ENTRY) as pool:
        outcome = await pool.run(probe("import os\\nresult = os.getuid()"), group="a")
        outcome.result  # what the probe set `result` to (JSON-safe), or outcome.error

A probe is a call whose source is plain Python, run with `exec` (no RestrictedPython) in a
namespace holding `args` (the call's arguments, e.g. a sibling's pid from `pool.workers()`) and
`hardening` (this worker's report); it sets `result`. Anything it raises comes back as the
outcome's error (type and message). The worker speaks the pool's protocol, so everything
between the pool and it is the production path.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from sandbox.call import Call
from sandbox.forkserver import WORKER_IN_FD, WORKER_OUT_FD
from sandbox.harden import HardeningReport
from sandbox.protocol import LineChannel

PROBE_ENTRY = "tests.sandbox.probe_worker:child_main"


def probe(source: str, *args: Any) -> Call:
    return Call(source=source, function=None, args=args)


def _run(source: str, args: list[Any], hardening: dict[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"args": args, "hardening": hardening, "result": None}
    try:
        exec(compile(source, "<probe>", "exec"), namespace)
    except BaseException as error:  # the probe's failure is its answer
        return {"ok": False, "result": None, "limit": None, "logs": "",
                "error": {"type": type(error).__name__, "message": str(error)[:2000],
                          "line": None}}
    return {"ok": True, "result": namespace["result"], "error": None, "limit": None,
            "logs": ""}


def child_main(report: HardeningReport) -> NoReturn:
    try:
        channel = LineChannel(read_fd=WORKER_IN_FD, write_fd=WORKER_OUT_FD)
        channel.send({"type": "ready", "pid": os.getpid(), "hardening": report.to_json()})
        sources: dict[str, str] = {}  # the pool sends a known source by its hash alone
        while (message := channel.receive()) is not None:
            if message.get("type") != "call":
                continue
            call = message["call"]
            if "source" in call:
                sources[call["source_sha256"]] = call["source"]
            outcome = _run(sources[call["source_sha256"]], list(call.get("args") or []),
                           report.to_json())
            try:
                channel.send({"type": "outcome", "id": message["id"], "outcome": outcome})
            except (TypeError, ValueError):
                outcome = {"ok": False, "result": None, "limit": None, "logs": "",
                           "error": {"type": "TypeError", "message": "result is not JSON",
                                     "line": None}}
                channel.send({"type": "outcome", "id": message["id"], "outcome": outcome})
    finally:
        os._exit(0)
