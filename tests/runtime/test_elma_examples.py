"""The platform's three documented parse-result examples, ported line by line (scripts/elma-*),
run with `voip-runtime run` (the real sandbox and the contract's validation) on the seed module's
own payloads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLES = ROOT / "scripts" / "seed-json" / "examples"
SCRIPTS = ROOT / "scripts"


def run(module: str, *args: str) -> tuple[int, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, "-m", "runtime", "run", str(SCRIPTS / module / "script.py"), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    data: dict[str, Any] = json.loads(completed.stdout)
    return completed.returncode, data


def test_call_record_example_on_the_seed_record_and_its_call_link() -> None:
    code, data = run("elma-call-record", "--request", str(SEED_EXAMPLES / "record.json"))
    assert code == 0, data
    # The seed's record carries no callLink: the JavaScript original saves `link: undefined`
    # (dropped by JSON), the port `link: None`.
    assert data["result"] == {"callRecord": {
        "srcPhone": "+79161234567", "dstPhone": "101", "direction": "in", "duration": 74,
        "call": {"link": None}, "disposition": "answered"}}
    with_link = SCRIPTS / "elma-call-record" / "examples" / "record-with-link.json"
    code, data = run("elma-call-record", "--request", str(with_link))
    assert code == 0, data
    saved = data["result"]["callRecord"]["call"]
    assert saved == {"link": "https://records.example.com/rec/c-1001.mp3"}
    code, data = run("elma-call-record", "--function", "VoipGetCallLink", "--args",
                     json.dumps([saved]))
    assert code == 0, data
    assert data["result"] == "https://records.example.com/rec/c-1001.mp3"


def test_event_example_on_the_seed_start() -> None:
    code, data = run("elma-event", "--request", str(SEED_EXAMPLES / "start.json"))
    assert code == 0, data
    assert data["result"] == {"event": {
        "event": "notify_start", "direction": "in", "dstPhone": "101",
        "srcPhone": "+79161234567", "disposition": "unknown"}}


def test_event_example_without_a_body_does_nothing() -> None:
    code, data = run("elma-event")
    assert code == 0, data
    assert data["result"] == {}


def test_response_example_answers_every_seed_payload_400_hello() -> None:
    for example in sorted(SEED_EXAMPLES.glob("*.json")):
        code, data = run("elma-response", "--request", str(example))
        assert code == 0, data
        assert data["result"] == {"response": {
            "status": 400, "headers": {"Content-Type": "text/plain; charset=utf-8"},
            "body": "Hello, world!"}}
