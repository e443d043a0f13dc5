"""The builder-written Zadarma module (builder_modules/zadarma) through the command line, as
the README documents it: `check`, then `run` one webhook at a time with `--storage`, so a
recording reported before its call's end joins the end's record, as on the service."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import urlencode

import yaml

from tests.e2e.builders_support import MODULES
from tests.runtime.test_cli import cli

FOLDER = MODULES / "zadarma"
SECRET = yaml.safe_load((FOLDER / "module.yaml").read_text(encoding="utf-8"))["settings"][
    "apiSecret"]


def request_file(tmp_path: Path, name: str, fields: dict[str, str], signed: tuple[str, ...]
                 ) -> Path:
    text = "".join(fields[f] for f in signed)
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).hexdigest()
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({
        "method": "POST", "url": "https://voip.example/hooks/token",
        "headers": {"Content-Type": "application/x-www-form-urlencoded",
                    "Signature": base64.b64encode(digest.encode()).decode()},
        "body": urlencode(fields)}), encoding="utf-8")
    return path


def test_check_then_a_sequence_one_webhook_at_a_time(tmp_path: Path) -> None:
    code, data, _ = cli("check", str(FOLDER / "script.py"))
    assert code == 0 and data is not None and data["ok"] is True

    state = tmp_path / "state.json"
    record = request_file(tmp_path, "record", {
        "event": "NOTIFY_RECORD", "pbx_call_id": "in_7", "call_id_with_rec": "1709.7"},
        ("pbx_call_id", "call_id_with_rec"))
    code, data, _ = cli("run", str(FOLDER / "script.py"), "--request", str(record),
                        "--storage", str(state))
    assert code == 0 and data is not None
    assert data["result"] == {}
    assert json.loads(state.read_text()) == {"rec:in_7": "1709.7"}

    end_fields = {"event": "NOTIFY_END", "call_start": "2025-03-04 10:15:02",
                  "pbx_call_id": "in_7", "caller_id": "79161234567",
                  "called_did": "74951112233", "internal": "101", "duration": "74",
                  "disposition": "answered", "status_code": "16", "is_recorded": "0",
                  "call_id_with_rec": ""}
    end = request_file(tmp_path, "end", end_fields, ("caller_id", "called_did", "call_start"))
    code, data, _ = cli("run", str(FOLDER / "script.py"), "--request", str(end),
                        "--storage", str(state))
    assert code == 0 and data is not None, data
    result = data["result"]
    assert isinstance(result, dict)
    assert result["callRecord"]["call"] == {"call_id": "1709.7", "pbx_call_id": "in_7"}
    assert result["event"]["event"] == "notify_end"
    assert data["logs"] == "NOTIFY_END       in_7 at 2025-03-04T10:15:02+03:00\n"

    # A forged signature is answered 403 and stores nothing.
    forged = json.loads(end.read_text())
    forged["headers"]["Signature"] = "Zm9yZ2Vk"
    end.write_text(json.dumps(forged))
    code, data, _ = cli("run", str(FOLDER / "script.py"), "--request", str(end),
                        "--storage", str(state))
    assert code == 0 and data is not None
    assert data["reply"]["status"] == 403 and data["storage"] == []
