"""A webhook's fetch() to a slow provider API, as a builder writes it (contract §3: a timeout
raises FetchError, which the script may catch): the fetch ends within what the webhook's wall
clock leaves, so the script's `except FetchError` answers the provider."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

LOOKUP = '''
def VoipParseWebhookRequest(request):
    name = "unknown"
    try:
        name = fetch(settings["crm"] + "/who?phone=79161234567", timeout=5).json()["name"]
    except FetchError as error:
        log("CRM lookup failed:", error)
    return {"response": HttpResponse().content({"success": True, "name": name})}
'''


async def test_a_slow_lookup_ends_in_a_fetch_error_the_webhook_survives(
        service: Service) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)  # longer than the webhook's 2 s
        return web.json_response({"name": "Ivan"})

    app = web.Application()
    app.router.add_get("/who", slow)
    async with serving(app) as crm:
        tenant = await provider_tenant(ProviderTenant, service, {
            "name": "crm", "settings": {"crm": crm}, "allowlist": ["127.0.0.1"]},
            LOOKUP, {}, {})
        response = await service.client.post(tenant.hook_path, data="{}")
        body = await response.json()
        assert response.status == 200, body
        assert body == {"success": True, "name": "unknown"}
        [run] = (await tenant.api.ok("GET", "/api/v1/executions"))["executions"]
        execution = await tenant.api.ok("GET", f"/api/v1/executions/{run['id']}")
        assert execution["outcome"] == "ok"
        assert execution["logs"].startswith("CRM lookup failed: timeout: no complete response "
                                            "within ")
        assert execution["logs"].endswith(" s, what the call's wall-clock limit left\n")
