"""Caps on what one tenant key can create (tenant_limits.max_*): past one, the API answers 409
`limit_reached` naming the configuration key, creates nothing, and other tenants go on. Many
creations at once pass a cap no further than one at a time. A missed call past the contacts'
cap is recorded without its contact, and its execution says why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.config import TenantLimitsConfig
from tests.e2e.conftest import SEED_SCRIPT, Api, Service, service_on_backend
from tests.e2e.helpers import seed_setup

CAPS = TenantLimitsConfig(max_modules=2, max_users=2, max_tokens_per_user=2,
                          max_versions_per_module=2, max_bindings_per_module=2, max_contacts=2)


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


async def test_contacts_are_capped_per_tenant(capped: Service) -> None:
    _, api = await capped.new_tenant()
    await api.ok("POST", "/api/v1/contacts", {"name": "Ivan", "phones": ["+79161234567"]},
                 status=201)
    two = {"contacts": [{"name": "Olga", "phones": ["+79161234568"]},
                        {"name": "Petr", "phones": ["+79161234569"]}]}
    refused(await api.ok("POST", "/api/v1/contacts/bulk", two, status=409), "max_contacts")
    await api.ok("POST", "/api/v1/contacts", two["contacts"][0], status=201)
    refused(await api.ok("POST", "/api/v1/contacts", two["contacts"][1], status=409),
            "max_contacts")
    listed = (await api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert sorted(c["name"] for c in listed) == ["Ivan", "Olga"]
    # Deleting one makes room again (the count follows deletions too).
    await api.ok("DELETE", f"/api/v1/contacts/{listed[0]['id']}", status=204)
    await api.ok("POST", "/api/v1/contacts", two["contacts"][1], status=201)


async def test_a_missed_call_past_the_contacts_cap_is_recorded_without_a_contact(
    capped: Service,
) -> None:
    seed = await seed_setup(capped)
    for n in range(3):  # missed calls from three new numbers; room for two contacts
        await seed.hook_ok({"type": "record", "callId": f"m-{n}", "srcPhone": f"+7926000000{n}",
                            "dstPhone": "101", "direction": "in", "disposition": "no_answer",
                            "duration": 0})
    api = seed.api
    calls = (await api.ok("GET", "/api/v1/calls"))["calls"]
    assert sorted(c["provider_call_id"] for c in calls) == ["m-0", "m-1", "m-2"]
    contacts = (await api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert sorted(c["phones"][0]["normalized"] for c in contacts) == [
        "+79260000000", "+79260000001"]
    [third] = [c for c in calls if c["provider_call_id"] == "m-2"]
    assert third["contact_id"] is None and third["state"] == "ended"
    listed = (await api.ok("GET", "/api/v1/executions"))["executions"]
    effects = [(await api.ok("GET", f"/api/v1/executions/{e['id']}"))["effects"]
               for e in listed]
    [skipped] = [f["contact_not_created"] for f in effects if "contact_not_created" in f]
    assert skipped["phone"] == "+79260000002" and skipped["reason"] == "limit_reached"
    assert skipped["max"] == 2 and "tenant_limits.max_contacts" in skipped["message"]
    # Its activity entry is there too, naming the number.
    [entry] = [e for e in effects if e["record"] and e["record"]["id"] == third["id"]]
    assert entry["activity"]["action"] == "created" and entry["contact_created"] is None


async def test_creations_at_once_pass_a_cap_no_further_than_one_at_a_time(
    capped: Service,
) -> None:
    """Each cap is checked in the creating transaction: a burst of requests sent together
    cannot all pass a count made before any of them was stored."""
    _, api = await capped.new_tenant()

    async def status(method: str, path: str, body: Any) -> int:
        response = await api.request(method, path, json=body)
        await response.read()
        return response.status

    async def burst(method: str, path: str, bodies: list[Any]) -> list[int]:
        return sorted(await asyncio.gather(*(status(method, path, body) for body in bodies)))

    assert await burst("POST", "/api/v1/modules",
                       [{"name": f"m{n}"} for n in range(8)]) == [201] * 2 + [409] * 6
    assert await burst("POST", "/api/v1/users",
                       [{"name": f"u{n}"} for n in range(8)]) == [201] * 2 + [409] * 6
    assert await burst("POST", "/api/v1/contacts",
                       [{"name": f"c{n}", "phones": [f"+7926111000{n}"]} for n in range(8)]
                       ) == [201] * 2 + [409] * 6
    user = (await api.ok("GET", "/api/v1/users"))["users"][0]
    assert await burst("POST", f"/api/v1/users/{user['id']}/tokens",
                       [None] * 8) == [201] * 2 + [409] * 6
    module = (await api.ok("GET", "/api/v1/modules"))["modules"][0]
    bindings = f"/api/v1/modules/{module['id']}/bindings"
    assert await burst("PATCH", bindings, [{"bindings": {f"{100 + n}": user["id"]}}
                                           for n in range(8)]) == [200] * 2 + [409] * 6
    assert len((await api.ok("GET", "/api/v1/modules"))["modules"]) == 2
    assert len((await api.ok("GET", "/api/v1/users"))["users"]) == 2
    assert len((await api.ok("GET", "/api/v1/contacts"))["contacts"]) == 2
    assert len((await api.ok("GET", bindings))["bindings"]) == 2


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
            for n in range(2):
                await api.ok("POST", "/api/v1/contacts",
                             {"name": f"c{n}", "phones": [f"+7926111000{n}"]}, status=201)
            await browser.page("/console/modules")
            contact = await browser.post_form("/console/contacts",
                                              {"name": "Olga", "phone": "+79261110009"})
            assert contact.status == 409
            assert "tenant_limits.max_contacts" in await contact.text()
        assert len((await api.ok("GET", "/api/v1/modules"))["modules"]) == 2
        assert len((await api.ok("GET", "/api/v1/users"))["users"]) == 2


def _secret(api: Api) -> str:
    assert api.secret is not None
    return api.secret
