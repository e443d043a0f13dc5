"""The documented statuses the Schemathesis runs cannot produce, produced here against a real
server, each checked against the served document (status listed, body matching its schema)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import TenantLimitsConfig
from runtime.typedefs import POOL, STORE
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.helpers import seed_setup, upload
from tests.e2e.test_openapi import assert_conforms

PARSE_ONLY = "def VoipParseWebhookRequest(request):\n    return {}\n"
FAILING = PARSE_ONLY + (
    "\ndef VoipTestConnection():\n    raise ValueError('no route to the PBX')\n"
    "\ndef VoipGetMembers():\n    return [{'id': 101}]\n"  # not a string: invalid
    "\ndef VoipGenerateCall(src, dst):\n    raise RuntimeError('busy')\n"
)
SLOW = PARSE_ONLY + (
    "\ndef VoipTestConnection():\n    n = 0\n    for i in range(3000000):\n        n += i\n"
    "    return {'success': True}\n"
)


async def document(service: Service) -> dict[str, Any]:
    doc: dict[str, Any] = await service.operator.ok("GET", "/api/v1/openapi.json")
    return doc


async def expect(doc: dict[str, Any], response: Any, status: int) -> dict[str, Any] | None:
    assert response.status == status, await response.text()
    return await assert_conforms(doc, response)


async def test_run_statuses_conform(service: Service) -> None:
    doc = await document(service)
    setup = await seed_setup(service)
    api = setup.api
    # 409 no_active_script: a module without versions.
    bare = await api.ok("POST", "/api/v1/modules", {"name": "bare"}, status=201)
    for path in ("test-connection", "load-members", "dry-run"):
        body = await expect(doc, await api.post(f"/api/v1/modules/{bare['id']}/{path}",
                                                json={} if path == "dry-run" else None), 409)
        assert body and body["error"] == "no_active_script"
    # 501: the script lacks the function.
    lacking = await api.ok("POST", "/api/v1/modules", {"name": "lacking"}, status=201)
    await upload(api, lacking["id"], PARSE_ONLY)
    for path in ("test-connection", "load-members"):
        await expect(doc, await api.post(f"/api/v1/modules/{lacking['id']}/{path}"), 501)
    # 502: the script fails, or returns what the contract refuses.
    failing = await api.ok("POST", "/api/v1/modules", {"name": "failing"}, status=201)
    await upload(api, failing["id"], FAILING)
    for path in ("test-connection", "load-members"):
        body = await expect(doc, await api.post(f"/api/v1/modules/{failing['id']}/{path}"), 502)
        assert body and body["error"] == "script_failed"
    await api.ok("PUT", f"/api/v1/modules/{failing['id']}/bindings",
                 {"bindings": {"101": setup.user["id"]}})
    call = {"module_id": failing["id"], "number": "+79161234567", "user_id": setup.user["id"]}
    await expect(doc, await api.post("/api/v1/calls/originate", json=call), 502)
    call["module_id"] = setup.module["id"]  # the seed module has no VoipGenerateCall
    await expect(doc, await api.post("/api/v1/calls/originate", json=call), 501)
    # 403: a user token calling as someone else.
    other = await api.ok("POST", "/api/v1/users", {"name": "other"}, status=201)
    as_user = Api(service.client, setup.user_token)
    response = await as_user.post("/api/v1/calls/originate",
                                  json={**call, "user_id": other["id"]})
    await expect(doc, response, 403)
    # 409 not_replayable: an execution that was not a webhook.
    executions = (await api.ok("GET", "/api/v1/executions?function=VoipTestConnection"))
    execution_id = executions["executions"][0]["id"]
    await expect(doc, await api.post(f"/api/v1/executions/{execution_id}/replay"), 409)


async def test_version_conflict_conforms(service: Service) -> None:
    doc = await document(service)
    setup = await seed_setup(service)
    module_id = setup.module["id"]
    first = await setup.api.ok("GET", f"/api/v1/modules/{module_id}")
    base = first["active_version"]["id"]
    await upload(setup.api, module_id, PARSE_ONLY)  # someone else activates a version
    response = await setup.api.post(f"/api/v1/modules/{module_id}/versions", json={
        "source": PARSE_ONLY, "activate": True, "base_version_id": base})
    body = await expect(doc, response, 409)
    assert body and body["error"] == "conflict"


async def test_413_body_too_large(service: Service) -> None:
    doc = await document(service)
    _, api = await service.new_tenant()
    huge = {"name": "x", "description": "y" * (3 * 1024 * 1024)}
    body = await expect(doc, await api.post("/api/v1/modules", json=huge), 413)
    assert body and body["error"] == "payload_too_large"


async def test_429_when_the_tenant_runs_too_much_at_once(tmp_path: Path) -> None:
    config = service_config(tmp_path, tenant_limits=TenantLimitsConfig(
        concurrent_executions=1, queued_executions=0))
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        service = Service(client, config, Api(client, OPERATOR_TOKEN))
        doc = await document(service)
        setup = await seed_setup(service, script=SLOW)
        path = f"/api/v1/modules/{setup.module['id']}/test-connection"
        responses = await asyncio.gather(*(setup.api.post(path) for _ in range(4)))
        assert {r.status for r in responses} == {200, 429}
        for response in responses:
            await assert_conforms(doc, response)
    finally:
        await client.close()


async def test_healthz_degraded(service: Service) -> None:
    doc = await document(service)
    app = service.client.server.app
    assert app is not None
    await app[POOL].close()
    body = await expect(doc, await service.client.get("/healthz"), 503)
    storage = body.pop("storage")
    assert body == {"status": "degraded", "workers": 0,
                    "problems": ["the sandbox pool is closed"]}
    assert storage["status"] == "ok"  # the store is fine: only the pool is gone


async def test_503_while_shutting_down(service: Service) -> None:
    doc = await document(service)
    _, api = await service.new_tenant()
    app = service.client.server.app
    assert app is not None
    await app[STORE].close()
    for path in ("/api/v1/modules", "/api/v1/users", "/api/v1/keys"):
        body = await expect(doc, await api.get(path), 503)
        assert body and body["error"] == "unavailable"
