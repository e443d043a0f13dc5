"""`voip-runtime deploy` against a real service: every sample module in scripts/ deploys, answers
one of its own example webhooks, and re-deploys as "up to date"."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.e2e.conftest import ROOT, Api, Service

VOIP_RUNTIME = Path(sys.executable).parent / "voip-runtime"
SAMPLES = sorted(p.parent for p in (ROOT / "scripts").glob("*/module.yaml"))


async def deploy(service: Service, folder: Path, key: str | None, *args: str,
                 env_key: bool = False) -> tuple[int, str]:
    base = str(service.client.make_url("")).rstrip("/")
    argv = [str(VOIP_RUNTIME), "deploy", str(folder), "--url", base, *args]
    env = {k: v for k, v in os.environ.items() if k != "VOIP_RUNTIME_API_KEY"}
    if key is not None:
        if env_key:
            env["VOIP_RUNTIME_API_KEY"] = key
        else:
            argv += ["--key", key]
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


def example_request(folder: Path) -> dict[str, Any]:
    """The example webhook to post: a call's start where there is one, else the first."""
    examples = sorted((folder / "examples").glob("*.json"))
    assert examples, f"{folder} has no examples/"
    preferred = [e for e in examples if any(w in e.stem for w in ("start", "incoming"))]
    data: dict[str, Any] = json.loads((preferred or examples)[0].read_text(encoding="utf-8"))
    return data


async def post_example(service: Service, module: dict[str, Any], example: dict[str, Any]
                       ) -> int:
    """The example sent to the module's own webhook URL (its path suffix and query kept)."""
    hook = urlsplit(module["webhook_url"]).path
    given = urlsplit(example.get("url") or "")
    suffix = given.path.split("/hooks/", 1)[1].partition("/")[2] if "/hooks/" in given.path else ""
    target = hook + (f"/{suffix}" if suffix else "") + (f"?{given.query}" if given.query else "")
    headers = example.get("headers") or {}
    if isinstance(headers, list):
        headers = dict(headers)
    body = example.get("body")
    response = await service.client.request(
        example.get("method", "POST"), target, headers=headers,
        data=body.encode("utf-8") if body is not None else None)
    return response.status


async def find_module(api: Api, name: str) -> dict[str, Any]:
    modules = (await api.ok("GET", "/api/v1/modules"))["modules"]
    module: dict[str, Any] = next(m for m in modules if m["name"] == name)
    return module


@pytest.mark.parametrize("folder", SAMPLES, ids=[p.name for p in SAMPLES])
async def test_sample_module_deploys_and_answers_its_webhook(service: Service,
                                                            folder: Path) -> None:
    _, api = await service.new_tenant()
    spec = yaml.safe_load((folder / "module.yaml").read_text(encoding="utf-8"))
    code, output = await deploy(service, folder, api.secret)
    assert code == 0, output
    assert "deployed" in output and "create module" in output
    module = await find_module(api, spec["name"])
    source = (folder / "script.py").read_text(encoding="utf-8")
    version = await api.ok(
        "GET", f"/api/v1/modules/{module['id']}/versions/{module['active_version']['id']}")
    assert version["sha256"] == hashlib.sha256(source.encode()).hexdigest()
    assert set(module["settings"]) == set(spec.get("settings") or {})
    assert module["secrets"] == spec.get("secrets", [])
    for secret in module["secrets"]:
        assert module["settings"][secret].startswith("••••")
    bindings = (await api.ok("GET", f"/api/v1/modules/{module['id']}/bindings"))["bindings"]
    wanted = {str(k): v for k, v in (spec.get("bindings") or {}).items()}
    assert {b["member_id"]: b["user_name"] for b in bindings} == wanted

    status = await post_example(service, module, example_request(folder))
    # The platform's documented `response` example answers every webhook 400 by design.
    assert status == (400 if folder.name == "elma-response" else 200)
    executions = (await api.ok("GET", f"/api/v1/executions?module_id={module['id']}"))
    assert [e["outcome"] for e in executions["executions"]] == ["ok"]

    code, output = await deploy(service, folder, api.secret, env_key=True)
    assert code == 0, output
    assert "up to date, nothing changed" in output
    again = await find_module(api, spec["name"])
    # The module itself is unchanged; only its live health counted the webhook.
    assert again.pop("health")["last_day"]["webhooks"] == module.pop("health")["last_day"][
        "webhooks"] + 1
    assert again == module


def copy_folder(tmp_path: Path, name: str = "seed-json") -> Path:
    target = tmp_path / name
    shutil.copytree(ROOT / "scripts" / name, target)
    return target


def edit_yaml(folder: Path, **changes: Any) -> None:
    path = folder / "module.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


async def test_dry_run_shows_the_changes_and_makes_none(service: Service, tmp_path: Path
                                                        ) -> None:
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    code, output = await deploy(service, folder, api.secret, "--dry-run")
    assert code == 0, output
    assert "would change" in output and "create module 'seed-json'" in output
    assert "create user 'operator'" in output
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []
    assert (await api.ok("GET", "/api/v1/users"))["users"] == []

    assert (await deploy(service, folder, api.secret))[0] == 0
    before = await find_module(api, "seed-json")
    edit_yaml(folder, region="DE", allowlist=["api.example.com"],
              settings={"apiKey": "a-new-secret-value-42", "recordBaseUrl": "https://r.example"})
    (folder / "script.py").write_text(
        (folder / "script.py").read_text(encoding="utf-8") + "\n# v2\n", encoding="utf-8")
    code, output = await deploy(service, folder, api.secret, "--dry-run")
    assert code == 0, output
    for expected in ("region: 'RU' -> 'DE'", "allowlist", "settings: apiKey, members, "
                     "recordBaseUrl", "upload the script as a new version and activate it"):
        assert expected in output
    assert await find_module(api, "seed-json") == before

    code, output = await deploy(service, folder, api.secret)
    assert code == 0, output
    after = await find_module(api, "seed-json")
    assert after["region"] == "DE" and after["allowlist"] == ["api.example.com"]
    assert after["settings"] == {"apiKey": "••••42", "recordBaseUrl": "https://r.example"}
    assert after["active_version"]["number"] == 2


async def test_script_problems_are_printed_with_lines_and_nothing_changes(
        service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    assert (await deploy(service, folder, api.secret))[0] == 0
    before = await find_module(api, "seed-json")
    edit_yaml(folder, description="changed, but the script is broken")
    (folder / "script.py").write_text(
        "import os\n\n\ndef VoipParseWebhookRequest(request):\n    return eval('1')\n",
        encoding="utf-8")
    code, output = await deploy(service, folder, api.secret)
    assert code == 1, output
    assert f"{folder / 'script.py'}:1:" in output
    assert "nothing was changed" in output
    assert await find_module(api, "seed-json") == before
    versions = await api.ok("GET", f"/api/v1/modules/{before['id']}/versions")
    assert len(versions["versions"]) == 1


async def test_no_activate_uploads_without_activating(service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    assert (await deploy(service, folder, api.secret))[0] == 0
    (folder / "script.py").write_text(
        (folder / "script.py").read_text(encoding="utf-8") + "\n# v2\n", encoding="utf-8")
    code, output = await deploy(service, folder, api.secret, "--no-activate")
    assert code == 0, output
    assert "version 2 is not active" in output
    module = await find_module(api, "seed-json")
    assert module["active_version"]["number"] == 1
    # Not active yet, so the next deploy still has something to do: activate it.
    code, output = await deploy(service, folder, api.secret)
    assert code == 0 and "version 3 is active" in output


async def test_bindings_follow_the_folder_and_existing_users_are_reused(
        service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    folder = copy_folder(tmp_path)
    edit_yaml(folder, bindings={"101": "Anna", "102": "Boris"})
    code, output = await deploy(service, folder, api.secret)
    assert code == 0, output
    assert "create user 'Boris'" in output and "create user 'Anna'" not in output
    module = await find_module(api, "seed-json")
    bindings = (await api.ok("GET", f"/api/v1/modules/{module['id']}/bindings"))["bindings"]
    assert {b["member_id"]: b["user_id"] for b in bindings}["101"] == anna["id"]
    assert {b["member_id"]: b["user_name"] for b in bindings} == {"101": "Anna", "102": "Boris"}


async def test_usage_errors_exit_2(service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    code, output = await deploy(service, copy_folder(tmp_path), None)
    assert code == 2 and "VOIP_RUNTIME_API_KEY" in output
    folder = copy_folder(tmp_path, "zadarma")
    edit_yaml(folder, colour="red")
    code, output = await deploy(service, folder, api.secret)
    assert code == 2 and "colour" in output
    code, output = await deploy(service, tmp_path / "nowhere", api.secret)
    assert code == 2 and "module.yaml" in output


async def test_a_url_that_is_not_a_service_address_is_a_usage_error(
        service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    for url in ("notaurl", "ftp://127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:port"):
        process = await asyncio.create_subprocess_exec(
            str(VOIP_RUNTIME), "deploy", str(folder), "--url", url, "--key", str(api.secret),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
        assert process.returncode == 2, (url, output)
        assert f"--url {url!r}" in output and "http" in output, output
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []


async def test_an_unreadable_file_is_named_in_the_usage_error(
        service: Service, tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    (folder / "script.py").write_bytes(b"\xff\xfe not UTF-8")
    code, output = await deploy(service, folder, api.secret)
    assert code == 2 and f"cannot read {folder / 'script.py'}: " in output, output
    (folder / "module.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    code, output = await deploy(service, folder, api.secret)
    assert code == 2 and f"cannot read {folder / 'module.yaml'}: " in output, output


async def test_a_url_beside_the_api_says_to_check_the_url(service: Service,
                                                        tmp_path: Path) -> None:
    _, api = await service.new_tenant()
    base = str(service.client.make_url("")).rstrip("/")
    process = await asyncio.create_subprocess_exec(
        str(VOIP_RUNTIME), "deploy", str(copy_folder(tmp_path)), "--url", f"{base}/api/v1",
        "--key", str(api.secret), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    assert process.returncode == 1, output
    assert f"POST {base}/api/v1/api/v1/check: 404" in output, output
    assert f"is --url {base}/api/v1 the service's own address" in output, output


async def test_a_wrong_key_is_refused(service: Service, tmp_path: Path) -> None:
    code, output = await deploy(service, copy_folder(tmp_path), "vrk_not_a_key")
    assert code == 1 and "401" in output


async def test_a_folder_saved_with_utf8_boms_deploys(service: Service, tmp_path: Path) -> None:
    # Windows editors write a byte order mark; it is the encoding's marker, not script text.
    _, api = await service.new_tenant()
    folder = copy_folder(tmp_path)
    for name in ("script.py", "module.yaml"):
        path = folder / name
        path.write_bytes(path.read_text(encoding="utf-8").encode("utf-8-sig"))
    code, output = await deploy(service, folder, api.secret)
    assert code == 0, output
    module = await find_module(api, "seed-json")
    version = await api.ok("GET", f"/api/v1/modules/{module['id']}/versions/"
                                  f"{module['active_version']['id']}")
    assert version["source"] == (ROOT / "scripts" / "seed-json" / "script.py").read_text(
        encoding="utf-8")
    # Up to date: the same script again is no new version.
    code, output = await deploy(service, folder, api.secret)
    assert code == 0, output
    assert (await find_module(api, "seed-json"))["active_version"]["number"] == 1


async def test_a_key_read_with_its_line_end_deploys(service: Service, tmp_path: Path) -> None:
    """A key from a secret's file often keeps its newline (an env file, a mounted secret): deploy
    sent it in the header and aiohttp refused it as a header injection, exit 1. The service
    itself strips it; deploy now does too. A key that can be no key is a usage error."""
    _, api = await service.new_tenant()
    assert api.secret is not None
    folder = copy_folder(tmp_path)
    code, output = await deploy(service, folder, api.secret + "\n", env_key=True)
    assert code == 0 and "deployed" in output, output
    code, output = await deploy(service, folder, "vrk_ключ")
    assert (code, output) == (2, "voip-runtime: the tenant API key holds 'к' (U+043A): a key is "
                                 "printable ASCII without spaces, such as vrk_AbCd...\n")
