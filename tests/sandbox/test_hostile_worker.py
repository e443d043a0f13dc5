"""The parent trusts nothing a worker sends: a compromised worker (simulated by a fake worker
program) that speaks garbage, lies about ids or floods the pipe is killed, and the call fails
cleanly instead of hanging or crashing the pool."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool

FAKE_WORKER = textwrap.dedent(
    """
    import json, os, sys
    MODE = {mode!r}
    out = os.fdopen(1, "wb", buffering=0)

    def send(message):
        out.write(json.dumps(message).encode() + b"\\n")

    send({{"type": "ready", "hardening": {{"active": [], "inactive": []}}}})
    call_id = json.loads(sys.stdin.buffer.readline())["id"]
    if MODE == "garbage":
        out.write(b"this is not json\\n")
    elif MODE == "wrong_id":
        send({{"type": "outcome", "id": call_id + 99, "outcome": {{"ok": True}}}})
    elif MODE == "bad_outcome":
        send({{"type": "outcome", "id": call_id, "outcome": {{"ok": "yes", "limit": "none"}}}})
    elif MODE == "bad_retire":
        send({{"type": "outcome", "id": call_id, "outcome": {{"ok": True, "retire": "no"}}}})
    elif MODE == "pickle":
        outcome = {{"ok": True, "result": {{"py/reduce": "os.system"}}, "duration_ms": "x"}}
        send({{"type": "outcome", "id": call_id, "outcome": outcome}})
    elif MODE == "flood":
        for _ in range(200):
            out.write(b"x" * 65536)
    elif MODE == "exit":
        os._exit(3)
    sys.stdin.buffer.read()
    """
)


def fake_python(tmp_path: Path, mode: str) -> str:
    program = tmp_path / f"fake_worker_{mode}.py"
    program.write_text(FAKE_WORKER.format(mode=mode))
    launcher = tmp_path / f"fake_python_{mode}"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {program}\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    return str(launcher)


@pytest.mark.parametrize(
    ("mode", "error_type"),
    [
        ("garbage", "WorkerProtocolError"),
        ("wrong_id", "WorkerProtocolError"),
        ("bad_outcome", "WorkerProtocolError"),
        ("bad_retire", "WorkerProtocolError"),
        ("pickle", "WorkerProtocolError"),
        ("flood", "WorkerProtocolError"),
        ("exit", "WorkerCrashed"),
    ],
)
async def test_a_misbehaving_worker_fails_the_call_cleanly(
    tmp_path: Path, mode: str, error_type: str
) -> None:
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=5), python=fake_python(tmp_path, mode))
    await pool.start()
    try:
        outcome = await pool.run(Call(source="def VoipParseWebhookRequest(r):\n    return {}\n",
                                      function="VoipParseWebhookRequest",
                                      request=RequestData()))
        assert not outcome.ok
        assert outcome.error is not None and outcome.error.type == error_type
        assert outcome.result is None
    finally:
        await pool.close()
