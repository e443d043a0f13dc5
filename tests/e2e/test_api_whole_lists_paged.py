"""API keys, a user's tokens and a module's bindings take `?limit=&offset=` like every other
list; without `limit` they still answer all of it (deploy and older clients read every
binding in one answer). They had no paging at all: a module's 20,000 bindings came in one
answer, whatever the client asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.app import create_app
from runtime.openapi import build_document
from tests.e2e.conftest import OPERATOR_TOKEN, Service, service_config

PAGED = ("/api/v1/keys", "/api/v1/users/{user_id}/tokens",
         "/api/v1/modules/{module_id}/bindings")


async def test_keys_tokens_and_bindings_are_paged_only_when_asked(service: Service) -> None:
    tenant_id, api = await service.new_tenant()
    for _ in range(2):
        await service.operator.ok("POST", f"/api/v1/tenants/{tenant_id}/keys", status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "operator"}, status=201)
    for _ in range(3):
        await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    module = await api.ok("POST", "/api/v1/modules", {"name": "m", "region": "RU"}, status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {str(100 + n): user["id"] for n in range(5)}})

    async def ids(path: str, field: str, id_field: str = "id") -> list[str]:
        return [item[id_field] for item in (await api.ok("GET", path))[field]]

    cases = [("/api/v1/keys", "keys", "id", 3),
             (f"/api/v1/users/{user['id']}/tokens", "tokens", "id", 3),
             (f"/api/v1/modules/{module['id']}/bindings", "bindings", "member_id", 5)]
    for path, field, id_field, count in cases:
        whole = await ids(path, field, id_field)
        assert len(whole) == count, path  # no limit: all of them, as before
        assert await ids(f"{path}?limit=2", field, id_field) == whole[:2]
        assert await ids(f"{path}?limit=2&offset=2", field, id_field) == whole[2:4]
        assert await ids(f"{path}?offset=1", field, id_field) == whole[1:]
        assert await ids(f"{path}?limit=2&offset={count}", field, id_field) == []
        for bad in ("limit=0", "limit=501", "limit=x", "offset=-1"):
            body = await api.ok("GET", f"{path}?{bad}", status=400)
            assert body["error"] == "bad_request" and bad.split("=")[0] in body["message"]
    # A page past the last binding is still the module's (an empty page), not a 404.
    assert (await api.ok("GET", f"/api/v1/modules/{module['id']}/bindings?offset=99"))[
        "bindings"] == []
    missing = await api.ok("GET", "/api/v1/modules/mod_nope/bindings?limit=1", status=404)
    assert missing["error"] == "not_found"


@pytest.mark.parametrize("path", PAGED)
def test_the_document_offers_limit_and_offset_without_a_default_limit(
        tmp_path: Path, path: str) -> None:
    app = create_app(service_config(tmp_path), OPERATOR_TOKEN)
    parameters = {p["name"]: p for p in build_document(app)["paths"][path]["get"]["parameters"]
                  if p["in"] == "query"}
    assert set(parameters) == {"limit", "offset"}
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert "all of them" in parameters["limit"]["description"]
    assert parameters["offset"]["schema"]["minimum"] == 0
