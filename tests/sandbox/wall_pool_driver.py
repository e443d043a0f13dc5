"""The process-wall test's driver through the real pool: a `SandboxPool` with the test-only
probe worker (`tests.sandbox.probe_worker`), so the template, `spawn_isolated` and the spec are
exactly the production ones. Run as a separate process (as root, or as a normal user):

    python -c "from tests.sandbox.wall_pool_driver import main; main()" <targets-json> \
        [what the host lacks, as wall_degraded_driver.HOST_LACKS names it ...]

It starts a sibling tenant's worker, then runs every probe of `wall_probes` (its source sent
as the probe, since a worker imports nothing outside the Python installation) in another
tenant's worker, and prints the results as JSON.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from typing import Any

from runtime.config import SandboxConfig
from sandbox import Limits, SandboxPool
from tests.sandbox import wall_probes
from tests.sandbox.probe_worker import PROBE_ENTRY, probe
from tests.sandbox.wall_degraded_driver import refuse_on_this_host
from tests.sandbox.wall_template import BENIGN, effective_capabilities

PROBE_MAIN = """
import sandbox.executor as _executor
from sandbox.call import Call as _Call, RequestData as _RequestData
from sandbox.limits import Limits as _Limits


class _NoCapabilities:
    def request(self, payload):
        return {"ok": False, "error": "no capabilities here"}


_benign = _Call(source=args[1], function="VoipParseWebhookRequest",
                request=_RequestData(method="POST", body='{"n": 7}'))
result = {"probes": run_probes(Targets.from_json(args[0])), "ordinary": ordinary_python(),
          "benign_outcome": _executor.execute(_benign, _Limits(), _NoCapabilities()),
          "report": hardening, "uid": os.getuid()}
"""


# Machine code a breached worker can run (it may map executable memory): getpid through the
# native `syscall` instruction, the 32-bit `int 0x80` entry and the x32 ABI's numbering. The
# filter is written for x86_64; the other two entries must kill the worker, never reach a call.
MACHINE_CODE = """
import ctypes, mmap
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes(args[0]))
address = ctypes.addressof(ctypes.c_char.from_buffer(page))
result = ctypes.CFUNCTYPE(ctypes.c_long)(address)()
"""
GETPID = {
    "native syscall": [0xB8, 39, 0, 0, 0, 0x0F, 0x05, 0xC3],  # mov eax, 39; syscall; ret
    "int 0x80": [0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3],  # mov eax, 20 (i386); int 0x80; ret
    "x32 syscall": [0xB8, 39, 0, 0, 0x40, 0x0F, 0x05, 0xC3],  # mov eax, 0x40000027; syscall
}


async def drive(targets: dict[str, Any]) -> dict[str, Any]:
    config = SandboxConfig()
    limits = Limits(wall_seconds=60, cpu_seconds=30, memory_bytes=256 * 2**20)
    async with SandboxPool(size=2, limits=limits, worker_entry=PROBE_ENTRY, python=sys.executable,
                           worker_uids=config.worker_uids) as pool:
        sibling = await pool.run(probe("import os\nresult = os.getuid()"), group="sibling")
        assert sibling.ok, sibling
        sibling_pid = next(w.pid for w in pool.workers() if w.group == "sibling")
        full_targets = {**targets, "template_pid": pool.template_pid, "sibling_pid": sibling_pid}
        source = inspect.getsource(wall_probes) + PROBE_MAIN
        sibling_capabilities = effective_capabilities(sibling_pid)
        outcome = await pool.run(probe(source, full_targets, BENIGN), group="attacker")
        sibling_alive = any(w.pid == sibling_pid for w in pool.workers())
        entries = {name: (await pool.run(probe(MACHINE_CODE, code), group=name)).to_json()
                   for name, code in GETPID.items()}
        again = await pool.run(probe("import os\nresult = os.getuid()"), group="sibling")
        # The range the pool claimed: the configured one, or the next free one when another
        # service on this host holds it (sandbox/uid_claim.py).
        uids = pool.worker_uids
    if not outcome.ok:
        return {"error": outcome.to_json()}
    result: dict[str, Any] = dict(outcome.result)
    result.update(sibling_alive_after=sibling_alive and again.ok, sibling_uid=sibling.result,
                  sibling_capabilities=sibling_capabilities, driver_uid=os.getuid(),
                  system_call_entries=entries,
                  worker_uids=None if uids is None else [uids.start, uids.stop])
    return result


def main() -> None:
    lacking = set(sys.argv[2:])
    if lacking:
        refuse_on_this_host(lacking)
    print(json.dumps(asyncio.run(drive(json.loads(sys.argv[1])))))


if __name__ == "__main__":
    main()
