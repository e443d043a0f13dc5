"""The seed module's webhook call that the sandbox benches run: its source, settings and a
"start" request (bench/sandbox.py through the pool, bench/worker_call.py in one process)."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox import RequestData

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "scripts" / "seed-json" / "script.py").read_text(encoding="utf-8")
SETTINGS = {"apiKey": "demo", "recordBaseUrl": "https://records.example.com/rec"}
START_BODY = json.dumps({"type": "start", "callId": "c-1", "srcPhone": "+79161234567",
                         "dstPhone": "101"})


def start_request(url: str, headers: tuple[tuple[str, str], ...]) -> RequestData:
    return RequestData(method="POST", url=url, headers=headers, body=START_BODY)
