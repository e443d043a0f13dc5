"""Tenants and API keys over HTTP: what the operator and a tenant see."""

from __future__ import annotations

from tests.e2e.conftest import Service


async def test_operator_creates_reads_and_lists_tenants(service: Service) -> None:
    op = service.operator
    tenant = await op.ok("POST", "/api/v1/tenants", {"name": "  Acme  "}, status=201)
    assert tenant["id"].startswith("ten_")
    assert tenant["name"] == "Acme"
    assert await op.ok("GET", f"/api/v1/tenants/{tenant['id']}") == tenant
    other = await op.ok("POST", "/api/v1/tenants", {"name": "Globex"}, status=201)
    listed = await op.ok("GET", "/api/v1/tenants")
    assert {t["id"] for t in listed["tenants"]} == {tenant["id"], other["id"]}
    first = await op.ok("GET", "/api/v1/tenants?limit=1")
    second = await op.ok("GET", "/api/v1/tenants?limit=1&offset=1")
    assert len(first["tenants"]) == len(second["tenants"]) == 1
    assert first["tenants"][0]["id"] != second["tenants"][0]["id"]


async def test_unknown_tenant_is_404(service: Service) -> None:
    body = await service.operator.ok("GET", "/api/v1/tenants/ten_nope", status=404)
    assert body["error"] == "not_found"
    body = await service.operator.ok("POST", "/api/v1/tenants/ten_nope/keys", status=404)
    assert body["error"] == "not_found"
    assert "ten_nope" in body["message"]


async def test_tenant_body_is_validated(service: Service) -> None:
    op = service.operator
    missing = await op.ok("POST", "/api/v1/tenants", {}, status=422)
    assert missing["error"] == "invalid"
    assert missing["message"].startswith("name:")
    extra = await op.ok("POST", "/api/v1/tenants", {"name": "a", "plan": "gold"}, status=422)
    assert "plan" in extra["message"]
    blank = await op.ok("POST", "/api/v1/tenants", {"name": "   "}, status=422)
    assert blank["message"].startswith("name:")
    response = await op.post("/api/v1/tenants", data=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"] == "bad_json"
    bad_page = await op.ok("GET", "/api/v1/tenants?limit=abc", status=400)
    assert bad_page["error"] == "bad_request"


async def test_key_secret_is_shown_once(service: Service) -> None:
    tenant_id, api = await service.new_tenant()
    created = await service.operator.ok("POST", f"/api/v1/tenants/{tenant_id}/keys", status=201)
    assert set(created) == {"id", "tenant_id", "prefix", "created_at", "key"}
    assert created["tenant_id"] == tenant_id
    assert created["key"].startswith(created["prefix"])
    response = await api.get("/api/v1/keys")
    text = await response.text()
    assert response.status == 200
    assert created["key"] not in text
    assert api.secret is not None and api.secret not in text
    keys = (await response.json())["keys"]
    assert len(keys) == 2
    assert created["id"] in {k["id"] for k in keys}
    assert all("key" not in k and k["revoked_at"] is None for k in keys)
    # The new key works on its own.
    second = service.api(created["key"])
    assert len((await second.ok("GET", "/api/v1/keys"))["keys"]) == 2


async def test_revoked_key_stops_working(service: Service) -> None:
    tenant_id, api = await service.new_tenant()
    created = await service.operator.ok("POST", f"/api/v1/tenants/{tenant_id}/keys", status=201)
    second = service.api(created["key"])
    await api.ok("DELETE", f"/api/v1/keys/{created['id']}", status=204)
    body = await second.ok("GET", "/api/v1/keys", status=401)
    assert body["error"] == "unauthorized"
    keys = {k["id"]: k for k in (await api.ok("GET", "/api/v1/keys"))["keys"]}
    assert keys[created["id"]]["revoked_at"] is not None
    again = await api.ok("DELETE", f"/api/v1/keys/{created['id']}", status=404)
    assert again["error"] == "not_found"
    await api.ok("DELETE", "/api/v1/keys/key_unknown", status=404)


async def test_a_key_can_revoke_itself(service: Service) -> None:
    _, api = await service.new_tenant()
    [key] = (await api.ok("GET", "/api/v1/keys"))["keys"]
    await api.ok("DELETE", f"/api/v1/keys/{key['id']}", status=204)
    await api.ok("GET", "/api/v1/keys", status=401)
