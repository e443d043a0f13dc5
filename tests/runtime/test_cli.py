"""`voip-runtime run` and `check`: the real pool and validation from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scripts" / "seed-json"


def cli(*args: str) -> tuple[int, dict[str, object] | None, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "runtime", *args], capture_output=True, text=True, timeout=120,
        cwd=ROOT, check=False,
    )
    data = json.loads(completed.stdout) if completed.stdout.strip() else None
    return completed.returncode, data, completed.stderr


def test_run_the_seed_start_example() -> None:
    code, data, _ = cli("run", str(SEED / "script.py"), "--request",
                        str(SEED / "examples" / "start.json"))
    assert code == 0
    assert data is not None and data["ok"] is True
    assert data["result"] == {"event": {
        "event": "notify_start", "direction": "in", "disposition": "unknown",
        "srcPhone": "+79161234567", "dstPhone": "101", "callId": "c-1001"}}
    assert set(data) >= {"ok", "result", "error", "limit", "logs", "duration_ms"}


def test_run_other_functions_with_settings_from_module_yaml() -> None:
    code, data, _ = cli("run", str(SEED / "script.py"), "--function", "VoipGetCallLink",
                        "--args", '[{"recordId": "rec 1"}]')
    assert code == 0
    assert data is not None and data["result"] == "https://records.example.com/rec/rec%201"
    code, data, _ = cli("run", str(SEED / "script.py"), "--function", "VoipGetMembers")
    assert code == 0
    assert data is not None and data["result"] == [
        {"id": "101", "name": "Operator"}, {"id": "102", "name": "Anna Petrova"}]


def test_invalid_result_exits_1_and_names_the_key(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n"
                      "    return {'callrecord': {}}\n")
    code, data, _ = cli("run", str(script))
    assert code == 1
    assert data is not None and data["ok"] is False
    assert "callrecord" in json.dumps(data["error"])


def test_script_error_exits_1_with_its_line(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n"
                      "    print('reading')\n"
                      "    return request.json()['missing']\n")
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"method": "POST", "body": "{}"}))
    code, data, _ = cli("run", str(script), "--request", str(request))
    assert code == 1
    assert data is not None
    error = data["error"]
    assert isinstance(error, dict)
    assert error["type"] == "KeyError" and error["line"] == 3
    assert data["logs"] == "reading\n"


def test_check_reports_compile_errors_with_lines(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import os\n\ndef VoipParseWebhookRequest(request):\n"
                      "    return request.__class__\n")
    code, data, _ = cli("check", str(script))
    assert code == 1
    assert data is not None
    error = data["error"]
    assert isinstance(error, dict)
    lines = sorted(p["line"] for p in error["problems"])
    assert lines == [1, 4]
    code, data, _ = cli("check", str(SEED / "script.py"))
    assert code == 0 and data is not None and data["ok"] is True


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _, stderr = cli("run", str(tmp_path / "missing.py"))
    assert code == 2 and "cannot read" in stderr
    code, _, stderr = cli("run", str(SEED / "script.py"), "--function", "VoipGetCallLink")
    assert code == 2 and "--args" in stderr
    code, _, _ = cli("frobnicate")
    assert code == 2


def test_storage_persists_between_runs_and_fetch_is_brokered(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "def VoipParseWebhookRequest(request):\n"
        "    count = storage.get('count', 0) + 1\n"
        "    storage.set('count', count)\n"
        "    try:\n"
        "        fetch('https://not-allowed.example/')\n"
        "    except FetchError as error:\n"
        "        log('refused:', error)\n"
        "    return {'response': HttpResponse().content({'count': count})}\n"
    )
    state = tmp_path / "state.json"
    for expected in (1, 2):
        code, data, _ = cli("run", str(script), "--storage", str(state))
        assert code == 0
        assert data is not None
        assert json.loads(data["result"]["response"]["body"]) == {"count": expected}
        assert data["storage"] == [{"op": "set", "key": "count", "value": expected}]
        assert "host not allowed" in str(data["logs"])
    assert json.loads(state.read_text()) == {"count": 2}
