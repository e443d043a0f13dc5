"""The test-only probe worker (tests/sandbox/probe_worker.py) is forked and hardened as a real
worker and runs unrestricted Python: the process-wall tests stand on it."""

from __future__ import annotations

from sandbox import SandboxPool
from tests.sandbox.probe_worker import PROBE_ENTRY, probe


async def test_a_probe_runs_unrestricted_python_in_a_worker_hardened_as_the_pool_does() -> None:
    async with SandboxPool(size=2, worker_entry=PROBE_ENTRY) as pool:
        outcome = await pool.run(probe("import os\nresult = [os.getpid(), sorted(hardening)]"),
                                 group="a")
        assert outcome.ok, outcome
        pid, keys = outcome.result
        assert keys == ["active", "inactive"]
        assert [w.pid for w in pool.workers() if w.group == "a"] == [pid]
        # The same OS wall as a real worker: here, no sockets (seccomp).
        refused = await pool.run(probe("import socket\nsocket.socket()"), group="a")
        assert not refused.ok
        assert refused.error is not None and refused.error.type == "PermissionError"
        # Another group's probe runs in a sibling process, which it can name.
        sibling = await pool.run(probe("import os\nresult = os.getpid() != args[0]", pid),
                                 group="b")
        assert sibling.result is True
