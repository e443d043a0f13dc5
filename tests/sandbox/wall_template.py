"""A worker template for the process-wall test, started by the test itself (never by the
service): it prepares like the pool's template, spawns workers with the same
`spawn_isolated` and an `IsolationSpec` built from the same configuration, and lets one of
them run `wall_probes` as unrestricted Python. Its report goes to stdout as JSON.

Run as `python -c "from tests.sandbox.wall_template import main; main()" <targets-json> <mode>`
where mode is "hardened" (the worker as the pool starts it) or "control" (a plain fork of the
template: the same probes must then succeed, which shows they can fail).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import sandbox.executor as executor
from runtime.config import SandboxConfig
from sandbox.call import Call, RequestData
from sandbox.harden import (
    HardeningReport,
    IsolationSpec,
    default_readable_paths,
    prepare_template,
    spawn_isolated,
)
from sandbox.limits import Limits
from tests.sandbox import wall_probes

BENIGN = (
    "import json\n"
    "def VoipParseWebhookRequest(request):\n"
    "    data = request.json()\n"
    "    return {'response': {'status': 200, 'headers': {}, 'body': 'ok ' + str(data['n'])}}\n"
)


class NoCapabilities:
    """The host side of `fetch`/`storage` for a worker that must not need them."""

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": False, "error": "no capabilities here"}


def pool_spec(slot: int, keep_fds: frozenset[int]) -> IsolationSpec:
    """The spec the pool builds for its `slot`-th worker, from the default configuration."""
    config = SandboxConfig()
    uid = config.worker_uid_first + slot if os.geteuid() == 0 else None
    return IsolationSpec(uid=uid, gid=uid, memory_bytes=config.memory_mb * 1024 * 1024,
                         keep_fds=keep_fds, readable_paths=default_readable_paths())


def sibling_main(ready_fd: int, release_fd: int) -> NoReturn:
    """A sibling worker: says it is hardened, then idles until the template closes its pipe."""
    os.write(ready_fd, b"1")
    os.read(release_fd, 1)
    os._exit(0)


def _status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return line.split()[1]
    raise ValueError(f"no {name} line")


def effective_capabilities(pid: int) -> int:
    """A process's effective capabilities, read from outside (the worker may not capget)."""
    return int(_status_field(pid, "CapEff"), 16)


def prober_main(targets: wall_probes.Targets, result_fd: int,
                report: HardeningReport | None) -> NoReturn:
    only = None if report is not None else wall_probes.CONTROL_PROBES
    try:
        call = Call(source=BENIGN, function="VoipParseWebhookRequest",
                    request=RequestData(method="POST", body='{"n": 7}'))
        outcome = executor.execute(call, Limits(), NoCapabilities())
        payload = {
            "probes": wall_probes.run_probes(targets, only),
            "ordinary": wall_probes.ordinary_python(),
            "benign_outcome": outcome,
            "report": report.to_json() if report else None,
            "uid": os.getuid(),
        }
        data = json.dumps(payload).encode()
        while data:
            data = data[os.write(result_fd, data):]
    finally:
        os._exit(0)


def main() -> None:
    targets_json = json.loads(sys.argv[1])
    mode = sys.argv[2]
    notes = prepare_template()
    release_read, release_write = os.pipe()
    ready_read, ready_write = os.pipe()
    sibling = spawn_isolated(pool_spec(0, frozenset({release_read, ready_write})),
                             lambda report: sibling_main(ready_write, release_read))
    os.close(release_read)
    os.close(ready_write)
    sibling_ready = os.read(ready_read, 1) == b"1"
    sibling_capabilities = effective_capabilities(sibling) if sibling_ready else None
    sibling_uid = int(_status_field(sibling, "Uid")) if sibling_ready else None
    targets = wall_probes.Targets.from_json(
        {**targets_json, "template_pid": os.getpid(), "sibling_pid": sibling})
    result_read, result_write = os.pipe()
    if mode == "hardened":
        prober = spawn_isolated(pool_spec(1, frozenset({result_write})),
                                lambda report: prober_main(targets, result_write, report))
    else:
        prober = os.fork()
        if prober == 0:
            prober_main(targets, result_write, None)
    os.close(result_write)
    chunks = []
    while chunk := os.read(result_read, 65536):
        chunks.append(chunk)
    _, prober_status = os.waitpid(prober, 0)
    sibling_alive = os.waitpid(sibling, os.WNOHANG) == (0, 0)
    os.close(release_write)
    os.waitpid(sibling, 0)
    result = json.loads(b"".join(chunks)) if chunks else {}
    result.update(notes=notes, sibling_alive_after=sibling_alive, prober_status=prober_status,
                  sibling_capabilities=sibling_capabilities, sibling_uid=sibling_uid)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
