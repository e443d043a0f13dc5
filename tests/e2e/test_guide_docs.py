"""The API walk-through of docs/modules.md (§5, §6), taken from the page's own shell examples
and run against a real service: the module body it posts, the script it uploads, the binding it
makes and the dry run it shows, whose answer must have the shape and values the page prints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Service
from tests.e2e.helpers import upload

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "modules.md").read_text(encoding="utf-8")
SHELL = "\n".join(re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S))


def posted_module() -> dict[str, Any]:
    """The JSON body the guide's `POST $BASE/api/v1/modules` sends."""
    call = SHELL[SHELL.index("POST $BASE/api/v1/modules "):]
    body: dict[str, Any] = json.loads(re.search(r"-d '(\{.*?\})'", call, flags=re.S)[1])  # type: ignore[index]
    return body


def dry_run_example() -> tuple[Path, str]:
    """The request file the guide's dry run sends, and the answer it prints (a comment)."""
    call = SHELL[SHELL.index("/dry-run"):]
    request = re.search(r"--slurpfile r (\S+)", call)[1]  # type: ignore[index]
    lines = call.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("#"))
    end = next((i for i in range(first, len(lines)) if not lines[i].startswith("#")), len(lines))
    return ROOT / request, "\n".join(line.lstrip("# ") for line in lines[first:end])


async def test_the_guides_api_walk_through_and_dry_run(service: Service) -> None:
    _, api = await service.new_tenant()
    body = posted_module()
    module = await api.ok("POST", "/api/v1/modules", body, status=201)
    assert module["webhook_url"]
    # `jq --rawfile source scripts/NAME/script.py '{source: $source, activate: true}'`
    script = re.search(r"--rawfile source (scripts/\S+)", SHELL)[1]  # type: ignore[index]
    await upload(api, module["id"], (ROOT / script).read_text(encoding="utf-8"))
    user = await api.ok("POST", "/api/v1/users", {"name": "operator"}, status=201)
    bound = re.search(r'\{\\"bindings\\": \{\\"(\w+)\\"', SHELL)[1]  # type: ignore[index]
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {bound: user["id"]}})

    request_file, printed = dry_run_example()
    request = json.loads(request_file.read_text(encoding="utf-8"))
    report = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                          {"request": request})
    # What the page prints: `{"ok": true, "outcome": "ok", ...` and each key it names.
    assert '"ok": true, "outcome": "ok"' in printed
    assert (report["ok"], report["outcome"]) == (True, "ok"), report.get("error")
    known = {*report, *report["effects"], *report["effects"]["call"], *report["reply"]}
    for key in re.findall(r'"(\w+)": ', printed):
        assert key in known, f"the guide prints {key!r}; the dry run has no such key"
    assert report["effects"]["call"]["created"] is True
    state = re.search(r'"state_after": "(\w+)"', printed)[1]  # type: ignore[index]
    assert report["effects"]["call"]["state_after"] == state
    reply = re.search(r'"reply": \{"status": (\d+), "body": "(.*?)"\}', printed)
    assert reply is not None
    assert report["reply"]["status"] == int(reply[1])
    assert report["reply"]["body"] == reply[2].replace('\\"', '"')
    # Nothing of it is stored.
    assert (await api.ok("GET", "/api/v1/calls"))["calls"] == []
