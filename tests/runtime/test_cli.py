"""`voip-runtime run` and `check`: the real pool and validation from the command line."""

from __future__ import annotations

import errno
import http.server
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

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
    # Without a response, the provider gets 200, an empty body and the service's own headers.
    assert data["reply"] == {"status": 200, "body": "", "headers": {
        "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}}


def test_run_other_functions_with_settings_from_module_yaml() -> None:
    code, data, _ = cli("run", str(SEED / "script.py"), "--function", "VoipGetCallLink",
                        "--args", '[{"recordId": "rec 1"}]')
    assert code == 0
    assert data is not None and data["result"] == "https://records.example.com/rec/rec%201"
    code, data, _ = cli("run", str(SEED / "script.py"), "--function", "VoipGetMembers")
    assert code == 0
    assert data is not None and data["result"] == [
        {"id": "101", "name": "Operator"}, {"id": "102", "name": "Anna Petrova"}]


def test_check_and_run_take_a_module_folder_as_deploy_does() -> None:
    """`voip-runtime check scripts/seed-json` said "cannot read ...: Is a directory"; deploy
    takes the folder, so a builder types it for check and run too."""
    code, data, stderr = cli("check", str(SEED))
    assert (code, stderr) == (0, "")
    assert data is not None and data["ok"] is True
    code, data, _ = cli("run", str(SEED), "--function", "VoipGetMembers")
    assert code == 0  # its settings from the folder's module.yaml, as for its script.py
    assert data is not None and data["result"] == [
        {"id": "101", "name": "Operator"}, {"id": "102", "name": "Anna Petrova"}]


def test_invalid_result_exits_1_and_names_the_key(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n"
                      "    return {'callrecord': {}}\n")
    code, data, _ = cli("run", str(script))
    assert code == 1
    assert data is not None and data["ok"] is False
    error = data["error"]
    assert isinstance(error, dict)
    # The service's execution log gives the same type for the same result.
    assert error["type"] == "InvalidResult"
    assert error["problems"][0]["key"] == "callrecord"
    assert "callrecord" in error["message"]


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
        assert data["storage"] == [
            {"op": "set", "key": "count", "value": expected, "expires_at": None}]
        assert "host not allowed" in str(data["logs"])
    assert json.loads(state.read_text()) == {"count": 2}


# --- as the service does it --------------------------------------------------------------------


def write_script(tmp_path: Path, source: str) -> Path:
    script = tmp_path / "script.py"
    script.write_text(source)
    return script


def write_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return config


def test_storage_key_quota_of_the_service_configuration_holds_locally(tmp_path: Path) -> None:
    script = write_script(tmp_path,
        "def VoipParseWebhookRequest(request):\n"
        "    for key, value in request.json():\n"
        "        try:\n"
        "            if value is None:\n"
        "                storage.delete(key)\n"
        "            else:\n"
        "                storage.set(key, value)\n"
        "        except StorageError as error:\n"
        "            log('refused', key + ':', error)\n")  # fmt: skip
    config = write_config(tmp_path, "storage_limits:\n  max_keys_per_module: 2\n")
    state = tmp_path / "state.json"

    def run(writes: list[tuple[str, int | None]]) -> dict[str, object]:
        request = tmp_path / "request.json"
        request.write_text(json.dumps({"method": "POST", "body": json.dumps(writes)}))
        code, data, _ = cli("run", str(script), "--request", str(request), "--config",
                            str(config), "--storage", str(state))
        assert code == 0 and data is not None
        return data

    data = run([("a", 1), ("b", 1), ("c", 1)])
    assert data["logs"] == "refused c: this module's storage is full (2 keys)\n"
    writes = data["storage"]
    assert isinstance(writes, list) and [w["key"] for w in writes] == ["a", "b"]
    assert json.loads(state.read_text()) == {"a": 1, "b": 1}
    # The keys saved by the first run count against the quota of the next...
    data = run([("d", 1)])
    assert data["logs"] == "refused d: this module's storage is full (2 keys)\n"
    # ...but a full module may still change a key it holds, or delete one and add another.
    data = run([("a", 2), ("b", None), ("c", 3)])
    assert data["logs"] == ""
    assert json.loads(state.read_text()) == {"a": 2, "c": 3}


def test_storage_byte_quota_fails_the_call_with_the_services_error(tmp_path: Path) -> None:
    script = write_script(tmp_path,
        "def VoipParseWebhookRequest(request):\n"
        "    storage.set('first', 'x' * 600)\n"
        "    storage.set('second', 'x' * 600)\n")  # fmt: skip
    config = write_config(tmp_path, "storage_limits:\n  max_bytes_per_module: 1024\n")
    state = tmp_path / "state.json"
    code, data, _ = cli("run", str(script), "--config", str(config), "--storage", str(state))
    assert code == 1 and data is not None and data["ok"] is False
    error = data["error"]
    assert isinstance(error, dict)
    assert error["type"] == "StorageError" and error["line"] == 3
    assert "this module's storage is full (1024 bytes)" in error["message"]
    assert not state.exists()  # a failed call keeps none of its writes, as on the service
    # Without the configuration, the service's default quota (64 MiB) applies.
    code, data, _ = cli("run", str(script), "--storage", str(state))
    assert code == 0
    assert set(json.loads(state.read_text())) == {"first", "second"}


class CountingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"pong": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_fetches_per_call_of_the_service_configuration_hold_locally(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/ping"
        script = write_script(tmp_path,
            "def VoipParseWebhookRequest(request):\n"
            "    for attempt in range(3):\n"
            "        try:\n"
            f"            log(attempt, fetch({url!r}).json())\n"
            "        except FetchError as error:\n"
            "            log(attempt, error)\n")  # fmt: skip
        config = write_config(tmp_path, "sandbox:\n  fetches_per_call: 2\n")
        code, data, _ = cli("run", str(script), "--config", str(config), "--allow", "127.0.0.1",
                            "--allow-network", "127.0.0.0/8")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0 and data is not None
    assert data["logs"] == ("0 {'pong': True}\n1 {'pong': True}\n"
                            "2 too many requests: at most 2 fetch() calls per call\n")
    fetches = data["fetches"]
    assert isinstance(fetches, list)
    assert [f.get("status") for f in fetches] == [200, 200, None]


def test_a_body_the_service_refuses_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, "max_webhook_body_kib: 1\n")
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"method": "POST", "body": "x" * 1025}))
    code, _, stderr = cli("run", str(SEED / "script.py"), "--config", str(config),
                          "--request", str(request))
    assert code == 2
    assert "the request body is 1025 bytes" in stderr and "413" in stderr
    request.write_text(json.dumps({"method": "POST", "body": "x" * 1024}))
    code, data, _ = cli("run", str(SEED / "script.py"), "--config", str(config),
                        "--request", str(request))
    assert code == 0 and data is not None  # the seed module answers 400 to a body not JSON
    assert data["result"]["response"]["status"] == 400  # type: ignore[index]


def test_a_bad_configuration_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "storage_limits:\n  max_keys_per_module: 0\n")
    code, _, stderr = cli("run", str(SEED / "script.py"), "--config", str(config))
    assert code == 2 and "max_keys_per_module" in stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # Enough output to fill any pipe buffer: the reader goes away after its first line.
    script = write_script(tmp_path,
        "def VoipParseWebhookRequest(request):\n"
        "    for n in range(4000):\n"
        "        log('line', n, 'x' * 40)\n")  # fmt: skip
    config = write_config(tmp_path, "sandbox:\n  output_kib: 1024\n")
    child = subprocess.Popen(
        [sys.executable, "-m", "runtime", "run", str(script), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().strip() == b"{"
    child.stdout.close()  # as `| head -1` does
    stderr = child.stderr.read()
    code = child.wait(timeout=120)
    assert stderr == b""  # no BrokenPipeError traceback, no "Exception ignored" at exit
    assert code == errno.EPIPE  # what `python -m json.tool` answers in the same place


def test_a_script_saved_with_a_utf8_bom_runs_as_python_runs_it(tmp_path: Path) -> None:
    # Editors on Windows save UTF-8 with a byte order mark; Python reads it as the encoding's
    # marker, not as a character of the first line (which would be a syntax error).
    script = tmp_path / "script.py"
    script.write_bytes("def VoipParseWebhookRequest(request):\n"
                       "    return {'response': HttpResponse().content('é')}\n".encode("utf-8-sig"))
    code, data, _ = cli("check", str(script))
    assert code == 0, data
    code, data, _ = cli("run", str(script))
    assert code == 0, data
    assert data is not None and data["reply"]["body"] == "é"  # type: ignore[index]



def test_a_request_file_is_checked_as_the_api_checks_a_composed_request(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n    return None\n")
    for request_json, field in (('{"method": 5}', "method"),
                                ('{"headers": {"X-Id": 1}}', "headers"),
                                ('{"body": {"type": "start"}}', "body")):
        request = tmp_path / "request.json"
        request.write_text(request_json)
        code, data, error = cli("run", str(script), "--request", str(request))
        assert code == 2 and data is None, (request_json, error)
        assert error.startswith(f"voip-runtime: {request}: {field}"), error


def test_a_json_body_written_as_an_object_is_told_to_be_text(tmp_path: Path) -> None:
    """A builder trying a JSON provider writes the body as JSON; it was refused with pydantic's
    "body: Input should be a valid string", which says nothing of how to write it."""
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n    return None\n")
    request = tmp_path / "request.json"
    request.write_text('{"headers": {"Content-Type": "application/json"}, '
                       '"body": {"event": "start", "phones": ["101"]}}')
    code, data, error = cli("run", str(script), "--request", str(request))
    assert (code, data) == (2, None)
    assert error == (f"voip-runtime: {request}: body: must be the body's text, as the provider "
                     "sends it: write a JSON body as a string holding its JSON (json.dumps of "
                     "it), not as an object\n")


def test_check_prints_what_the_apis_check_says_and_run_no_worker_internals(
        tmp_path: Path) -> None:
    # check printed a whole call's outcome (result, logs, durations) for a compile that ran
    # nothing, and both printed `retire`, whether the pool would end the worker.
    code, data, _ = cli("check", str(SEED / "script.py"))
    assert code == 0 and data == {"ok": True}
    script = tmp_path / "script.py"
    script.write_text("def VoipParseWebhookRequest(request):\n    return _x\n")
    code, data, _ = cli("check", str(script))
    problem = ('"_x" is an invalid variable name because it starts with "_". Names starting '
               'with "_" are refused in the sandbox: rename it, such as "x".')
    assert code == 1 and data == {"ok": False, "error": {
        "type": "CompileError", "message": f"line 2: {problem}", "line": 2,
        "problems": [{"line": 2, "message": problem}]}}, data
    code, data, _ = cli("run", str(SEED / "script.py"), "--request",
                        str(SEED / "examples" / "start.json"))
    assert code == 0 and data is not None
    assert set(data) == {"ok", "result", "error", "limit", "logs", "logs_truncated",
                         "duration_ms", "cpu_ms", "reply", "storage", "fetches", "masked"}, data


def test_run_masks_the_folders_secret_settings_as_the_service_does(tmp_path: Path) -> None:
    script = write_script(tmp_path, "def VoipParseWebhookRequest(request):\n"
                                    "    print('key', settings['apiKey'], settings['region'])\n"
                                    "    raise ValueError('refused ' + settings['apiKey'])\n")
    (tmp_path / "module.yaml").write_text(
        "name: t\nsettings: {apiKey: sk-live-91ab77, region: eu-west}\nsecrets: [apiKey]\n")
    code, data, stderr = cli("run", str(script))
    assert code == 1, stderr
    assert data is not None and "sk-live-91ab77" not in json.dumps(data)
    assert data["logs"] == "key •••••• eu-west\n"
    assert data["error"]["message"] == "line 3: refused ••••••"  # type: ignore[index]
    assert data["masked"] == ["secret setting apiKey in error", "secret setting apiKey in logs"]


def test_settings_the_service_would_refuse_are_a_usage_error(tmp_path: Path) -> None:
    # A nested setting ran here although the service refuses it (422) and no script could
    # ever see it there.
    settings = tmp_path / "settings.yaml"
    for text, said in (
            ("db: {host: x}\n", "setting 'db' must be a string, number or boolean (settings are "
                                "a flat object), not an object"),
            ("hosts: [a, b]\n", "setting 'hosts' must be a string, number or boolean (settings "
                                "are a flat object), not an array"),
            ("101: x\n", "setting names are text, not 101 (quote it in YAML)")):
        settings.write_text(text)
        code, data, stderr = cli("run", str(SEED / "script.py"), "--settings", str(settings))
        assert (code, data) == (2, None), data
        assert stderr == f"voip-runtime: {settings}: settings: {said}\n", stderr
    settings.write_text("apiKey: k\nport: 5060\ntls: true\n")
    code, _, stderr = cli("run", str(SEED / "script.py"), "--settings", str(settings))
    assert code == 0, stderr


def test_an_allowlist_the_service_would_refuse_is_a_usage_error_in_its_words(
        tmp_path: Path) -> None:
    # "not a host name: 'https://api.example.com/'" here, "give the host name only, without
    # a scheme" from the API; and "API.example.com", which the API refuses, was taken here.
    for host, said in (
            ("https://api.example.com/", "'https://api.example.com/': give the host name only, "
                                         "without a scheme"),
            ("API.example.com", "'API.example.com': host names are written in lowercase "
                                "('api.example.com')")):
        code, data, stderr = cli("run", str(SEED / "script.py"), "--allow", host)
        assert (code, data) == (2, None), data
        assert stderr == f"voip-runtime: --allow: {said}\n", stderr
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "script.py").write_text((SEED / "script.py").read_text())
    (folder / "module.yaml").write_text("name: m\nallowlist: [api.example.com/v1]\n")
    code, _, stderr = cli("run", str(folder / "script.py"))
    assert code == 2
    assert stderr == (f"voip-runtime: {folder / 'module.yaml'}: allowlist: 'api.example.com/v1': "
                      "give the host name only, without a path\n"), stderr


def test_settings_from_module_yaml_reach_the_script_as_written(tmp_path: Path) -> None:
    """`apiKey: 0123456` in module.yaml reached the script as 42798 (YAML 1.1 octal) and
    `opensAt: 9:30` as 570 (base 60), with nothing said: run and deploy read it alike now."""
    (tmp_path / "module.yaml").write_text(
        "name: pbx\nsettings:\n  apiKey: 0123456\n  opensAt: 9:30\n  port: 5060\n",
        encoding="utf-8")
    (tmp_path / "script.py").write_text(
        "def VoipParseWebhookRequest(request):\n"
        "    return {'response': HttpResponse().content(dict(settings))}\n", encoding="utf-8")
    code, data, stderr = cli("run", str(tmp_path))
    assert code == 0, stderr
    assert data is not None
    assert json.loads(data["result"]["response"]["body"]) == {  # type: ignore[index]
        "apiKey": "0123456", "opensAt": "9:30", "port": 5060}


def test_a_module_yaml_deploy_would_refuse_is_refused_by_check_and_run(tmp_path: Path) -> None:
    """check said ok to a folder whose module.yaml had `setings:`, and run ran the script with
    no settings at all; deploy then refused the folder. All three say the same now."""
    (tmp_path / "module.yaml").write_text("name: pbx\nsetings:\n  apiKey: k\n",
                                          encoding="utf-8")
    (tmp_path / "script.py").write_text("def VoipParseWebhookRequest(request):\n"
                                        "    return {'response': HttpResponse().content("
                                        "settings['apiKey'])}\n", encoding="utf-8")
    said = (f"voip-runtime: {tmp_path / 'module.yaml'}: setings: is not a module.yaml key; did "
            "you mean settings? (its keys: name, description, region, settings, secrets, "
            "allowlist, bindings)\n")
    for command in ("check", "run"):
        for given in (tmp_path, tmp_path / "script.py"):
            code, data, stderr = cli(command, str(given))
            assert (code, data, stderr) == (2, None, said), (command, given)


def test_a_request_url_without_a_host_is_read_below_the_webhook_url(tmp_path: Path) -> None:
    """request.url is always the full URL (contract §3); a dry run reads `/events/call?x=1`
    below the module's webhook URL, but run handed the script the bare path, so a script
    reading the URL's host or signing it failed only here."""
    script = tmp_path / "script.py"
    script.write_text("from urllib.parse import urlsplit\n"
                      "def VoipParseWebhookRequest(request):\n"
                      "    parts = urlsplit(request.url)\n"
                      "    return {'response': HttpResponse().content("
                      "[parts.scheme, parts.netloc, parts.path, dict(request.query)])}\n")
    request = tmp_path / "request.json"
    for url, seen in (("/events/call?x=1", ["http", "localhost", "/hooks/test/events/call",
                                            {"x": "1"}]),
                      ("?kind=end", ["http", "localhost", "/hooks/test", {"kind": "end"}]),
                      ("https://pbx.example/hooks/T?y=2", ["https", "pbx.example", "/hooks/T",
                                                           {"y": "2"}])):
        request.write_text(json.dumps({"method": "GET", "url": url}))
        code, data, stderr = cli("run", str(script), "--request", str(request))
        assert code == 0, stderr
        assert data is not None
        assert json.loads(data["result"]["response"]["body"]) == seen  # type: ignore[index]


def test_a_file_that_cannot_be_read_is_one_line_on_every_command(tmp_path: Path) -> None:
    """A file that is not UTF-8 text given to --settings, --request or serve --config was a
    traceback (exit 1), as was a configuration with a date YAML cannot make (2025-13-45) and a
    --url with a bracket left open; a YAML syntax error was five lines with a caret drawing."""
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff")
    bad_date = tmp_path / "date.yaml"
    bad_date.write_text("data_dir: /tmp/x\nwhen: 2025-13-45\n")
    folder = tmp_path / "module"
    folder.mkdir()
    (folder / "script.py").write_text((SEED / "script.py").read_text())
    (folder / "module.yaml").write_text("name: [x\n")
    script = str(SEED / "script.py")
    asked = [
        (("run", script, "--settings", str(binary)),
         f"cannot read {binary}: not UTF-8 text (byte 0xd0 at offset 8)"),
        (("run", script, "--request", str(binary)),
         f"cannot read {binary}: not UTF-8 text (byte 0xd0 at offset 8)"),
        (("serve", "--config", str(binary)),
         f"cannot read {binary}: not UTF-8 text (byte 0xd0 at offset 8)"),
        (("serve", "--config", str(bad_date)),
         f"cannot read {bad_date}: a value is not what YAML reads it as: month must be in 1..12"),
        (("check", str(folder)),
         f"cannot read {folder / 'module.yaml'}: line 2, column 1: expected ',' or ']', but got "
         "'<stream end>' (parsing a flow sequence, from line 1, column 7)"),
        (("run", script, "--config", str(tmp_path / "missing.yaml")),
         f"cannot read {tmp_path / 'missing.yaml'}: no such file or directory"),
        (("deploy", str(SEED), "--url", "http://[::1", "--key", "vrk_x"),
         "--url 'http://[::1': Invalid IPv6 URL"),
        (("stubs", str(binary)), f"cannot write the stubs into {binary}: not a directory"),
    ]
    for args, message in asked:
        code, _, stderr = cli(*args)
        assert (code, stderr) == (2, f"voip-runtime: {message}\n"), (args, code, stderr)


class _Other(http.server.BaseHTTPRequestHandler):
    """Another program at the address deploy is given: a web page, or JSON of its own."""

    answer: tuple[int, str, bytes] = (200, "text/html", b"<html>\n<p>hello</p>\n</html>")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, kind, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_deploy_to_something_that_is_not_the_service_says_so_in_one_line(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A web page at --url was "Expecting value: line 1 column 1 (char 0)", JSON of another
    shape a traceback (KeyError), and a server that never answers "POST .../check: " with
    nothing after it, a minute later."""
    from runtime import cli, deploy

    def deployed_to(url: str) -> tuple[int, str]:
        code = cli.main(["deploy", str(SEED), "--url", url, "--key", "vrk_x"])
        return code, capsys.readouterr().err

    class Page(_Other):
        answer = (502, "text/html", b"<html>\n<h1>502 Bad Gateway</h1>\n</html>\n")

    class OtherJson(_Other):
        answer = (200, "application/json", b'{"hello": "world"}')

    for handler, said in (
            (Page, "/api/v1/check: 502 answered with text/html, not the service's JSON (is "
                   "--url {url} the service's own address, such as http://127.0.0.1:8080?)"),
            (OtherJson, "{url} answered JSON that is not the service's")):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            code, stderr = deployed_to(url)
        finally:
            server.shutdown()
            server.server_close()
        assert code == 1 and len(stderr.splitlines()) == 1, stderr
        assert said.format(url=url) in stderr, stderr
    # A server that takes the connection and never answers.
    monkeypatch.setattr(deploy, "REQUEST_SECONDS", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, stderr = deployed_to(url)
    assert (code, stderr) == (1, f"voip-runtime deploy: POST {url}/api/v1/check: no answer "
                                 "within 1 s\n")


def test_version_says_the_release_the_apis_document_states() -> None:
    from importlib import metadata

    done = subprocess.run([sys.executable, "-m", "runtime", "--version"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, f"voip-runtime {metadata.version('voip-runtime')}\n", "")
