"""What one execution row keeps is bounded in bytes as stored (runtime/store/execution_caps.py),
so the execution log's bound in rows is one in bytes: a webhook body of control characters
(six bytes each once escaped), a script's reply of a megabyte, an invalid result and an error
of megabytes are each kept as at most 64 KiB of JSON text, on both backends, and still show
what they were (a reply's status and headers, the request's method, the error's type)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.config import SandboxConfig
from runtime.store.dialect import dumps
from runtime.store.models import EXECUTION_JSON_CAP, EXECUTION_REQUEST_CAP
from tests.e2e.conftest import Service, service_on_backend
from tests.e2e.helpers import upload

SCRIPT = '''
def VoipParseWebhookRequest(request):
    kind = request.query.get("k", "")
    if kind == "reply":
        return {"response": {"status": 202, "headers": {"x-a": "b"}, "body": "é" * 500000}}
    if kind == "invalid":
        return {"bogus": ["\\x01" * 1000] * 300}
    raise ValueError("\\x01" * 3000000)
'''


@pytest.fixture(params=["sqlite", "postgres"])
async def service_any(request: pytest.FixtureRequest, tmp_path: Path
                      ) -> AsyncIterator[Service]:
    # Megabytes in and out of a worker: on a loaded machine that can take more than a
    # webhook's 2 s, which is not what these tests are about.
    sandbox = SandboxConfig(workers=2, webhook_wall_seconds=60)
    async with service_on_backend(request.param, tmp_path, sandbox=sandbox) as service:
        yield service


def stored_size(value: Any) -> int:
    return len(dumps(value).encode("utf-8"))


async def test_each_json_column_of_a_row_keeps_at_most_its_cap(service_any: Service) -> None:
    _tenant, api = await service_any.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], SCRIPT)
    path = "/" + module["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    executions = {}
    for kind, status in (("reply", 202), ("invalid", 500), ("error", 500)):
        response = await service_any.client.post(f"{path}?k={kind}", data="\x01" * 1_000_000)
        listed = (await api.ok("GET", "/api/v1/executions?limit=1"))["executions"]
        executions[kind] = await api.ok("GET", f"/api/v1/executions/{listed[0]['id']}")
        assert response.status == status, (executions[kind]["error"], executions[kind]["limit"])

    for execution in executions.values():
        request = execution["request"]
        assert stored_size(request) <= EXECUTION_REQUEST_CAP, stored_size(request)
        assert request["method"] == "POST" and request["body_truncated"] is True
        assert request["body"] and set(request["body"]) == {"\x01"}
        for column in ("result", "effects", "error"):
            assert stored_size(execution[column]) <= EXECUTION_JSON_CAP, (column, execution)

    reply = executions["reply"]["result"]["response"]
    assert reply["status"] == 202
    assert reply["body"].endswith("…") and set(reply["body"][:-1]) == {"é"}
    assert reply["headers"] == {"x-a": "b"}
    invalid = executions["invalid"]
    assert invalid["outcome"] == "invalid" and invalid["error"]["type"] == "InvalidResult"
    assert invalid["result"]["truncated"] is True  # 300 strings: the start of its text
    assert invalid["result"]["text"].startswith('{"bogus":["\\u0001')
    error = executions["error"]
    assert error["outcome"] == "error" and error["error"]["type"] == "ValueError"


async def test_replaying_a_run_whose_reply_was_cut_finds_it_unchanged(
    service_any: Service,
) -> None:
    # The log keeps the reply cut; the replay's is whole: compared as the log keeps it, the
    # same script answering the same is not a change.
    _tenant, api = await service_any.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], SCRIPT)
    path = "/" + module["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    response = await service_any.client.post(f"{path}?k=reply", data="{}")
    assert response.status == 202
    [execution] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    report = await api.ok("POST", f"/api/v1/executions/{execution['id']}/replay", {})
    assert report["outcome"] == "ok" and report["original"]["outcome"] == "ok"
    assert report["changed"] is False
