"""The test-only probe worker (tests/sandbox/probe_worker.py) is forked and hardened as a real
worker and runs unrestricted Python: the process-wall tests stand on it."""

from __future__ import annotations

from sandbox import SandboxPool
from tests.sandbox.probe_worker import PROBE_ENTRY, probe

# A token of the probing process (each worker is PID 1 of its own PID namespace, so its pid
# does not name it), made on its first probe and kept for its life.
TOKEN = (
    "import os, sys\n"
    "keep = sys.modules.setdefault('_process_token', type(sys)('_process_token'))\n"
    "keep.value = getattr(keep, 'value', None) or os.urandom(8).hex()\n"
)


async def test_a_probe_runs_unrestricted_python_in_a_worker_hardened_as_the_pool_does() -> None:
    async with SandboxPool(size=2, worker_entry=PROBE_ENTRY) as pool:
        outcome = await pool.run(probe(TOKEN + "result = [keep.value, sorted(hardening)]"),
                                 group="a")
        assert outcome.ok, outcome
        token, keys = outcome.result
        assert keys == ["active", "exposed", "inactive", "limited"]
        assert len([w for w in pool.workers() if w.group == "a"]) == 1
        # The same OS wall as a real worker: here, no sockets (seccomp).
        refused = await pool.run(probe("import socket\nsocket.socket()"), group="a")
        assert not refused.ok
        assert refused.error is not None and refused.error.type == "PermissionError"
        # Another group's probe runs in a sibling process, which it can name.
        sibling = await pool.run(probe(TOKEN + "result = keep.value != args[0]", token),
                                 group="b")
        assert sibling.result is True
