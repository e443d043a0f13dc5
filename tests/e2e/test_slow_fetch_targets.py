"""Providers that answer slowly, met through the scripts' fetch(): tenants whose every webhook
waits a second on one leave the others' webhooks answered at once. A call waiting on the host
used to count as a call running: three such tenants kept the sandbox's room for running calls
filled, and a fourth tenant's webhooks waited for a worker until the pool gave up (60 s, then
500 SandboxUnavailable), while the cores sat idle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from tests.e2e.conftest import Api, Service
from tests.e2e.helpers import serving, upload

SCRIPT = '''
def VoipParseWebhookRequest(request):
    data = request.json()
    if data.get("slow"):
        fetch(settings["url"])
    return {"response": HttpResponse().content({"done": data["n"]})}
'''
SLOW_TENANTS = 3  # more than the test service's `workers` (2): more than calls running at once
SLOW_SENDERS = 3  # per slow tenant, each posting its next webhook once the last is answered


async def tenant_module(service: Service, name: str, url: str) -> tuple[Api, str]:
    _tenant, api = await service.new_tenant(name)
    module = await api.ok("POST", "/api/v1/modules", {
        "name": name, "settings": {"url": url}, "allowlist": ["127.0.0.1"]}, status=201)
    await upload(api, module["id"], SCRIPT)
    return api, str(module["webhook_url"]).split("/hooks/", 1)[1]


async def test_tenants_waiting_on_slow_providers_leave_the_others_answered_at_once(
        service: Service) -> None:
    async def slow_provider(_request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/slow", slow_provider)
    async with serving(app) as base:
        client = service.client

        async def post(token: str, body: dict[str, Any]) -> tuple[int, Any]:
            response = await client.post(f"/hooks/{token}", json=body)
            return response.status, await response.json()

        slow = [await tenant_module(service, f"slow{n}", base + "/slow")
                for n in range(SLOW_TENANTS)]
        for _api, token in slow:  # their calls are known to be quick before they wait
            for n in range(3):
                assert await post(token, {"n": n}) == (200, {"done": n})
        _api, token = await tenant_module(service, "neighbour", base + "/slow")
        sending = True
        slow_answers: list[int] = []

        async def sender(slow_token: str) -> None:
            n = 0
            while sending:
                status, _body = await post(slow_token, {"n": n, "slow": True})
                slow_answers.append(status)
                n += 1

        senders = [asyncio.ensure_future(sender(t)) for _a, t in slow
                   for _ in range(SLOW_SENDERS)]
        try:
            await asyncio.sleep(0.5)  # every slow tenant waits on the provider now
            started = time.monotonic()
            for n in range(5):
                assert await asyncio.wait_for(post(token, {"n": n}), 10) == (200, {"done": n})
            # Each answered without waiting for a slow provider (a second each).
            assert time.monotonic() - started < 5
            health = await client.get("/healthz")
            assert health.status == 200, await health.text()
        finally:
            sending = False
            await asyncio.gather(*senders)
        assert slow_answers and set(slow_answers) == {200}, slow_answers
