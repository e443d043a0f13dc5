"""Script checks, dry runs and function runs a tenant starts spend a rate of their own
(tenant_limits.runs_per_second, run_burst): each costs the service a worker's CPU time, and
one tenant key could otherwise keep the service busy with them. Past it: 429 `rate_limited`
with Retry-After, as for webhooks; the tenant's webhooks and other tenants go on."""

from __future__ import annotations

from pathlib import Path

from aiohttp import ClientSession, CookieJar

from runtime.config import TenantLimitsConfig
from tests.console.conftest import Browser
from tests.e2e.conftest import SEED_SCRIPT, service_on_backend
from tests.e2e.helpers import seed_setup, start

# The seed's upload spends one run; three more are left.
LIMITS = TenantLimitsConfig(runs_per_second=0.001, run_burst=4)


async def test_checks_dry_runs_and_function_runs_share_a_rate(tmp_path: Path) -> None:
    async with service_on_backend("sqlite", tmp_path, tenant_limits=LIMITS) as service:
        seed = await seed_setup(service)
        api, module = seed.api, seed.module["id"]
        await api.ok("POST", "/api/v1/check", {"source": SEED_SCRIPT})
        await api.ok("POST", f"/api/v1/modules/{module}/dry-run", {})
        await api.request("POST", f"/api/v1/modules/{module}/test-connection")

        for method, path, body in (
                ("POST", "/api/v1/check", {"source": SEED_SCRIPT}),
                ("POST", f"/api/v1/modules/{module}/dry-run", {}),
                ("POST", f"/api/v1/modules/{module}/test-connection", None),
                ("POST", f"/api/v1/modules/{module}/load-members", None),
                ("POST", f"/api/v1/modules/{module}/versions", {"source": SEED_SCRIPT})):
            response = await api.request(method, path, json=body)
            answer = await response.json()
            assert response.status == 429, (path, answer)
            assert answer["error"] == "rate_limited"
            assert "tenant_limits.runs_per_second" in answer["message"]
            assert int(response.headers["Retry-After"]) >= 1
        # Nothing was stored by the refused upload.
        versions = await api.ok("GET", f"/api/v1/modules/{module}/versions")
        assert len(versions["versions"]) == 1

        # The console's editor check is the same operation: refused alike.
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            browser = Browser(session, str(service.client.make_url("")).rstrip("/"))
            await browser.sign_in(api.secret or "")
            await browser.page(f"/console/modules/{module}/editor")
            checked = await browser.post_json(f"/console/modules/{module}/check",
                                              {"source": SEED_SCRIPT})
            assert checked.status == 429
            assert "tenant_limits.runs_per_second" in (await checked.json())["message"]

        # Webhooks do not spend it, and another tenant has its own.
        await seed.hook_ok(start())
        other = await seed_setup(service, name="other")
        await other.api.ok("POST", "/api/v1/check", {"source": SEED_SCRIPT})
