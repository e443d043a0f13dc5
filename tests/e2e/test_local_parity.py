"""The same script, the same configuration, the same webhooks: `voip-runtime run` and the
service refuse the same storage writes and fetches, with the same messages and error types."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import SandboxConfig, StorageLimitsConfig
from tests.e2e.conftest import OPERATOR_TOKEN, ROOT, Api, Service, service_config
from tests.e2e.helpers import upload

SCRIPT = """
def VoipParseWebhookRequest(request):
    refused = []
    for key, value in request.json():
        try:
            if value is None:
                storage.delete(key)
            else:
                storage.set(key, value)
        except StorageError as error:
            refused.append(key + ": " + str(error))
    for attempt in range(3):
        try:
            fetch("https://not-allowed.example/")
        except FetchError as error:
            refused.append(str(attempt) + ": " + str(error))
    return {"response": HttpResponse().content({"refused": refused})}
"""
# Each webhook's body: the storage writes to try, in order (None deletes).
WEBHOOKS: list[list[tuple[str, Any]]] = [
    [("a", 1), ("b", "x" * 500), ("c", 3)],  # c: over the key quota
    [("d", 4)],  # still full: a and b are kept
    [("a", 2), ("b", None), ("c", "y" * 700)],  # a full module changes a key, trades b for c
    [("a", "z" * 600)],  # over the byte quota
]
HOST = "host not allowed: not-allowed.example is not on the module's fetch allowlist"
CONFIG_YAML = """
sandbox:
  fetches_per_call: 2
storage_limits:
  max_keys_per_module: 2
  max_bytes_per_module: 1300
"""


@pytest.fixture
async def limited_service(tmp_path: Path) -> AsyncIterator[Service]:
    config = service_config(
        tmp_path, sandbox=SandboxConfig(workers=2, fetches_per_call=2),
        storage_limits=StorageLimitsConfig(max_keys_per_module=2, max_bytes_per_module=1300))
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN))
    finally:
        await client.close()


async def on_the_service(service: Service) -> list[Any]:
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "parity"}, status=201)
    await upload(api, module["id"], SCRIPT)
    path = module["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    answers = []
    for writes in WEBHOOKS:
        response = await service.client.post("/" + path, data=json.dumps(writes))
        assert response.status == 200, await response.text()
        answers.append(await response.json())
    return answers


async def on_the_command_line(tmp_path: Path) -> list[Any]:
    script, config, state = tmp_path / "script.py", tmp_path / "config.yaml", tmp_path / "s.json"
    script.write_text(SCRIPT)
    config.write_text(CONFIG_YAML)
    answers = []
    for writes in WEBHOOKS:
        request = tmp_path / "request.json"
        request.write_text(json.dumps({"method": "POST", "body": json.dumps(writes)}))
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "runtime", "run", str(script), "--request", str(request),
            "--config", str(config), "--storage", str(state),
            stdout=asyncio.subprocess.PIPE, cwd=ROOT)
        stdout, _ = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0, stdout
        answers.append(json.loads(json.loads(stdout)["result"]["response"]["body"]))
    return answers


async def test_storage_quotas_and_fetch_count_are_the_same_locally(
        limited_service: Service, tmp_path: Path) -> None:
    service_answers = await on_the_service(limited_service)
    local_answers = await on_the_command_line(tmp_path)
    assert local_answers == service_answers
    too_many = "2: too many requests: at most 2 fetch() calls per call"
    assert [answer["refused"] for answer in service_answers] == [
        ["c: this module's storage is full (2 keys)", "0: " + HOST, "1: " + HOST, too_many],
        ["d: this module's storage is full (2 keys)", "0: " + HOST, "1: " + HOST, too_many],
        ["0: " + HOST, "1: " + HOST, too_many],
        ["a: this module's storage is full (1300 bytes)", "0: " + HOST, "1: " + HOST, too_many],
    ]



@pytest.mark.parametrize(("source", "error_type"), [
    ("def VoipParseWebhookRequest(request):\n    return {'callrecord': {}}\n", "InvalidResult"),
    ("def VoipParseWebhookRequest(request):\n    return {'event': {1, 2}}\n", "InvalidResult"),
    ("def VoipParseWebhookRequest(request):\n    storage.set('k', 'x' * 2000)\n",
     "StorageError"),
    ("def VoipParseWebhookRequest(request):\n    return request.json()['missing']\n",
     "ValueError"),
])
async def test_a_failed_call_reports_the_same_error(
        limited_service: Service, tmp_path: Path, source: str, error_type: str) -> None:
    _, api = await limited_service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "parity"}, status=201)
    await upload(api, module["id"], source)
    path = module["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    response = await limited_service.client.post("/" + path, data="")
    assert response.status == 500
    execution_id = (await response.json())["execution_id"]
    execution = await api.ok("GET", f"/api/v1/executions/{execution_id}")

    script, config = tmp_path / "script.py", tmp_path / "config.yaml"
    script.write_text(source)
    config.write_text(CONFIG_YAML)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime", "run", str(script), "--config", str(config),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    stdout, _ = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 1
    local = json.loads(stdout)["error"]
    assert local["type"] == execution["error"]["type"] == error_type
    assert local == execution["error"]
