"""The execution log over HTTP: summaries in lists, everything in one, filters."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.conftest import SEED_SCRIPT, Api, Service

FAILING = """
def VoipParseWebhookRequest(request):
    print("about to fail")
    raise ValueError("boom: " + request.body)
"""


async def module_with(api: Api, name: str, source: str) -> tuple[Any, Any]:
    module = await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
    version = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                           {"source": source, "activate": True}, status=201)
    return module, version


async def post_hook(service: Service, module: dict[str, Any], payload: Any) -> int:
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json=payload)
    return response.status


async def executions(api: Api, query: str = "") -> list[Any]:
    result: list[Any] = (await api.ok("GET", f"/api/v1/executions{query}"))["executions"]
    return result


async def some_runs(service: Service, api: Api) -> dict[str, Any]:
    seed, seed_v1 = await module_with(api, "seed", SEED_SCRIPT)
    failing, _ = await module_with(api, "failing", FAILING)
    assert await post_hook(service, seed, {"type": "start", "callId": "c-1",
                                           "srcPhone": "+79161234567", "dstPhone": "101"}) == 200
    assert await post_hook(service, seed, {"type": "bogus"}) == 400  # the script says so
    assert await post_hook(service, failing, {"x": 1}) == 500
    seed_v2 = await api.ok("POST", f"/api/v1/modules/{seed['id']}/versions",
                           {"source": SEED_SCRIPT + "\n", "activate": True}, status=201)
    assert await post_hook(service, seed, {"type": "end", "callId": "c-1", "disposition": "busy",
                                           "srcPhone": "+79161234567", "dstPhone": "101"}) == 200
    return {"seed": seed, "failing": failing, "v1": seed_v1, "v2": seed_v2}


async def test_list_items_are_summaries(service: Service) -> None:
    _, api = await service.new_tenant()
    await some_runs(service, api)
    listed = await executions(api)
    assert len(listed) == 4
    assert [e["outcome"] for e in listed] == ["ok", "error", "ok", "ok"]
    for item in listed:
        assert not {"logs", "request", "result", "effects"} & set(item)
        assert item["function"] == "VoipParseWebhookRequest"
        assert isinstance(item["duration_ms"], int | float)
    error = listed[1]["error"]
    assert error == {"type": "ValueError", "message": 'line 4: boom: {"x": 1}', "line": 4}
    assert listed[1]["limit"] is None


async def test_one_execution_has_everything(service: Service) -> None:
    _, api = await service.new_tenant()
    runs = await some_runs(service, api)
    [failed] = await executions(api, "?outcome=error")
    full = await api.ok("GET", f"/api/v1/executions/{failed['id']}")
    assert full["module_id"] == runs["failing"]["id"]
    assert "about to fail" in full["logs"]
    assert full["request"]["body"] == '{"x": 1}'
    assert full["error"]["type"] == "ValueError" and full["error"]["line"] == 4
    seed_runs = await executions(api, f"?module_id={runs['seed']['id']}")
    ok = await api.ok("GET", f"/api/v1/executions/{seed_runs[-1]['id']}")
    assert ok["result"]["event"]["callId"] == "c-1"
    assert ok["effects"]["call"] is not None
    await api.ok("GET", "/api/v1/executions/exe_unknown", status=404)


async def test_filters(service: Service) -> None:
    _, api = await service.new_tenant()
    runs = await some_runs(service, api)
    assert len(await executions(api, f"?module_id={runs['seed']['id']}")) == 3
    assert len(await executions(api, f"?module_id={runs['failing']['id']}")) == 1
    assert len(await executions(api, "?outcome=ok")) == 3
    assert await executions(api, "?outcome=limit") == []
    assert len(await executions(api, "?function=VoipParseWebhookRequest")) == 4
    assert await executions(api, "?function=VoipGetMembers") == []
    by_v1 = await executions(api, f"?version_id={runs['v1']['id']}")
    assert len(by_v1) == 2
    [by_v2] = await executions(api, f"?version_id={runs['v2']['id']}")
    moment = quote(by_v2["created_at"])
    assert [e["id"] for e in await executions(api, f"?since={moment}")] == [by_v2["id"]]
    assert len(await executions(api, f"?until={moment}")) == 3
    assert await executions(api, "?until=2000-01-01T00:00:00Z") == []
    assert len(await executions(api, "?limit=2")) == 2
    await api.ok("GET", "/api/v1/executions?module_id=mod_unknown", status=404)


@pytest.mark.parametrize(("query", "named"), [
    ("?outcome=fine", "outcome"),
    ("?function=eval", "function"),
    ("?since=now", "since"),
    ("?until=2025-02-30T00:00:00Z", "until"),
    ("?offset=x", "offset"),
])
async def test_bad_filters_are_400(service: Service, query: str, named: str) -> None:
    _, api = await service.new_tenant()
    body = await api.ok("GET", f"/api/v1/executions{query}", status=400)
    assert body["error"] == "bad_request"
    assert named in body["message"]
