"""Caps on what one tenant key can create (tenant_limits.max_*): past one, the API answers 409
`limit_reached` naming the configuration key, creates nothing, and other tenants go on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.config import TenantLimitsConfig
from tests.e2e.conftest import SEED_SCRIPT, Api, Service, service_on_backend

CAPS = TenantLimitsConfig(max_modules=2, max_users=2, max_tokens_per_user=2,
                          max_versions_per_module=2, max_bindings_per_module=2)


@pytest.fixture(params=["sqlite", "postgres"])
async def capped(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    async with service_on_backend(request.param, tmp_path, tenant_limits=CAPS) as service:
        yield service


def refused(body: dict[str, Any], key: str) -> None:
    assert body["error"] == "limit_reached", body
    assert f"tenant_limits.{key}" in body["message"]
    assert body["details"] == {"limit": f"tenant_limits.{key}", "max": 2}


async def test_modules_are_capped_per_tenant(capped: Service) -> None:
    _, api = await capped.new_tenant()
    first = await api.ok("POST", "/api/v1/modules", {"name": "a"}, status=201)
    await api.ok("POST", "/api/v1/modules", {"name": "b"}, status=201)
    refused(await api.ok("POST", "/api/v1/modules", {"name": "c"}, status=409), "max_modules")
    names = [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]]
    assert names == ["a", "b"]
    _, other = await capped.new_tenant("other")  # the cap is per tenant
    await other.ok("POST", "/api/v1/modules", {"name": "c"}, status=201)
    await api.ok("DELETE", f"/api/v1/modules/{first['id']}", status=204)
    await api.ok("POST", "/api/v1/modules", {"name": "c"}, status=201)


async def test_versions_are_capped_per_module(capped: Service) -> None:
    _, api = await capped.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "a"}, status=201)
    path = f"/api/v1/modules/{module['id']}/versions"
    for _ in range(2):
        await api.ok("POST", path, {"source": SEED_SCRIPT}, status=201)
    refused(await api.ok("POST", path, {"source": SEED_SCRIPT}, status=409),
            "max_versions_per_module")
    assert len((await api.ok("GET", path))["versions"]) == 2


async def test_users_and_their_live_tokens_are_capped(capped: Service) -> None:
    _, api = await capped.new_tenant()
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    await api.ok("POST", "/api/v1/users", {"name": "Ivan"}, status=201)
    refused(await api.ok("POST", "/api/v1/users", {"name": "Olga"}, status=409), "max_users")
    assert len((await api.ok("GET", "/api/v1/users"))["users"]) == 2

    tokens = f"/api/v1/users/{anna['id']}/tokens"
    made = [await api.ok("POST", tokens, status=201) for _ in range(2)]
    refused(await api.ok("POST", tokens, status=409), "max_tokens_per_user")
    assert len((await api.ok("GET", tokens))["tokens"]) == 2
    # Revoked tokens do not count: revoking one makes room for another.
    await api.ok("DELETE", f"{tokens}/{made[0]['id']}", status=204)
    await api.ok("POST", tokens, status=201)
    # Unknown users stay 404, not a cap.
    assert (await api.ok("POST", "/api/v1/users/usr_ghost/tokens", status=404)
            )["error"] == "not_found"


async def test_bindings_are_capped_per_module(capped: Service) -> None:
    _, api = await capped.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    path = f"/api/v1/modules/{module['id']}/bindings"
    three = {"101": anna["id"], "102": anna["id"], "103": anna["id"]}
    refused(await api.ok("PUT", path, {"bindings": three}, status=409),
            "max_bindings_per_module")
    await api.ok("PUT", path, {"bindings": {"101": anna["id"], "102": anna["id"]}})
    refused(await api.ok("PATCH", path, {"bindings": {"103": anna["id"]}}, status=409),
            "max_bindings_per_module")
    members = [b["member_id"] for b in (await api.ok("GET", path))["bindings"]]
    assert members == ["101", "102"]
    # A change that does not grow them passes: rebinding, swapping one member for another.
    swapped = await api.ok("PATCH", path, {"bindings": {"101": None, "103": anna["id"]}})
    assert [b["member_id"] for b in swapped["bindings"]] == ["102", "103"]
    replaced = await api.ok("PUT", path, {"bindings": {"201": anna["id"], "202": None}})
    assert [b["member_id"] for b in replaced["bindings"]] == ["201"]


async def test_console_refuses_past_a_cap_alike(tmp_path: Path) -> None:
    """The console's forms come to the same operations: the same refusal, on the page."""
    from aiohttp import ClientSession, CookieJar

    from tests.console.conftest import Browser

    async with service_on_backend("sqlite", tmp_path, tenant_limits=CAPS) as service:
        _, api = await service.new_tenant()
        await api.ok("POST", "/api/v1/modules", {"name": "a"}, status=201)
        await api.ok("POST", "/api/v1/modules", {"name": "b"}, status=201)
        user = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
        await api.ok("POST", "/api/v1/users", {"name": "Ivan"}, status=201)
        base = str(service.client.make_url("")).rstrip("/")
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            browser = Browser(session, base)
            await browser.sign_in(_secret(api))
            await browser.page("/console/modules")
            module = await browser.post_form("/console/modules", {"name": "c", "region": "RU"})
            assert "tenant_limits.max_modules" in await module.text()
            await browser.page("/console/users")
            olga = await browser.post_form("/console/users", {"name": "Olga"})
            assert olga.status == 409 and "tenant_limits.max_users" in await olga.text()
            for _ in range(2):
                await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
            tokens = (await api.ok("GET", f"/api/v1/users/{user['id']}/tokens"))["tokens"]
            await browser.page(f"/console/users/{user['id']}")
            token = await browser.post_form(f"/console/users/{user['id']}/tokens",
                                            {"newest_token": tokens[0]["id"]})
            assert token.status == 409
            assert "tenant_limits.max_tokens_per_user" in await token.text()
        assert len((await api.ok("GET", "/api/v1/modules"))["modules"]) == 2
        assert len((await api.ok("GET", "/api/v1/users"))["users"]) == 2


def _secret(api: Api) -> str:
    assert api.secret is not None
    return api.secret
