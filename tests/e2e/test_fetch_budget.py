"""A tenant's fetch() budget of bytes a minute (fetch.tenant_mib_per_minute), end to end: a
script past it gets a FetchError saying so, which it may catch and answer with, across its
webhooks; another tenant fetches on; /metrics counts the bytes and the refusals."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from runtime.config import FetchConfig
from tests.e2e.conftest import service_on_backend
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

BIG = 700 * 1024

READS = '''
def VoipParseWebhookRequest(request):
    try:
        got = len(fetch(settings["api"] + "/big").text())
    except FetchError as error:
        got = str(error)
    return {"response": HttpResponse().content({"got": got})}
'''


async def test_a_tenant_past_its_fetch_budget_gets_a_fetch_error(tmp_path: Path) -> None:
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * BIG)

    app = web.Application()
    app.router.add_get("/big", big)
    fetch = FetchConfig(allow_networks=("127.0.0.0/8",), tenant_mib_per_minute=1)
    async with serving(app) as api, service_on_backend("sqlite", tmp_path,
                                                       fetch=fetch) as service:
        module = {"name": "reader", "settings": {"api": api}, "allowlist": ["127.0.0.1"]}
        tenant = await provider_tenant(ProviderTenant, service, module, READS, {}, {})
        other = await provider_tenant(ProviderTenant, service, {**module, "name": "other"},
                                      READS, {}, {})

        async def webhook(who: ProviderTenant) -> object:
            response = await service.client.post(who.hook_path, data="{}")
            assert response.status == 200, await response.text()
            return (await response.json())["got"]

        assert await webhook(tenant) == BIG
        refused = await webhook(tenant)  # 1.4 MiB would be past the 1 MiB a minute
        assert isinstance(refused, str) and refused.startswith("fetch budget spent: "), refused
        assert "fetch.tenant_mib_per_minute" in refused
        assert await webhook(other) == BIG  # the other tenant's budget is its own

        async with service.client.get("/metrics") as response:
            metrics = await response.text()
        assert "voip_fetch_budget_refusals_total 1.0" in metrics
        [received] = [line for line in metrics.splitlines()
                      if line.startswith("voip_fetch_received_bytes_total ")]
        assert float(received.split()[1]) >= 2 * BIG  # two whole bodies, and the cut one
