"""Member bindings over HTTP: PUT replaces, PATCH merges, a null user unbinds."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api, Service


async def setup(api: Api) -> tuple[str, dict[str, Any], dict[str, Any]]:
    module = await api.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    ivan = await api.ok("POST", "/api/v1/users", {"name": "Ivan"}, status=201)
    return f"/api/v1/modules/{module['id']}/bindings", anna, ivan


async def test_put_replaces_and_patch_merges(service: Service) -> None:
    _, api = await service.new_tenant()
    path, anna, ivan = await setup(api)
    assert await api.ok("GET", path) == {"bindings": []}
    put = await api.ok("PUT", path, {"bindings": {"101": anna["id"], "102": ivan["id"]}})
    assert put == {"bindings": [
        {"member_id": "101", "user_id": anna["id"], "user_name": "Anna"},
        {"member_id": "102", "user_id": ivan["id"], "user_name": "Ivan"},
    ]}
    assert await api.ok("GET", path) == put

    merged = await api.ok("PATCH", path, {"bindings": {"102": None, "103": anna["id"],
                                                       "101": ivan["id"]}})
    assert [(b["member_id"], b["user_name"]) for b in merged["bindings"]] == [
        ("101", "Ivan"), ("103", "Anna"),
    ]
    replaced = await api.ok("PUT", path, {"bindings": {"200": anna["id"]}})
    assert [b["member_id"] for b in replaced["bindings"]] == ["200"]
    assert await api.ok("PUT", path, {"bindings": {}}) == {"bindings": []}


async def test_unknown_user_is_404_naming_it_and_changes_nothing(service: Service) -> None:
    _, api = await service.new_tenant()
    path, anna, _ = await setup(api)
    await api.ok("PUT", path, {"bindings": {"101": anna["id"]}})
    for method in ("PUT", "PATCH"):
        body = await api.ok(method, path, {"bindings": {"102": "usr_ghost"}}, status=404)
        assert body["error"] == "not_found"
        assert "usr_ghost" in body["message"]
    assert [b["member_id"] for b in (await api.ok("GET", path))["bindings"]] == ["101"]


async def test_member_ids_are_validated(service: Service) -> None:
    _, api = await service.new_tenant()
    path, anna, _ = await setup(api)
    for bad in ({"": anna["id"]}, {"  ": anna["id"]}, {"x" * 65: anna["id"]}):
        body = await api.ok("PUT", path, {"bindings": bad}, status=422)
        assert body["message"].startswith("bindings"), body
    body = await api.ok("PUT", path, {"bindings": {"101": 42}}, status=422)
    assert body["message"].startswith("bindings.101")
    body = await api.ok("PUT", path, {"101": anna["id"]}, status=422)
    assert "bindings" in body["message"] or "101" in body["message"]
    ok = await api.ok("PUT", path, {"bindings": {"x" * 64: anna["id"]}})
    assert len(ok["bindings"]) == 1


async def test_a_member_id_is_stripped_as_the_console_strips_it(service: Service) -> None:
    # " 101 " was bound as typed: no script reports such a number, so nobody was ever rung,
    # while the console's form bound "101" for the same text.
    _, api = await service.new_tenant()
    path, anna, _ = await setup(api)
    put = await api.ok("PUT", path, {"bindings": {" 101\t": anna["id"]}})
    assert put == {"bindings": [{"member_id": "101", "user_id": anna["id"], "user_name": "Anna"}]}
    assert await api.ok("PATCH", path, {"bindings": {" 101 ": None}}) == {"bindings": []}


async def test_unknown_module_is_404(service: Service) -> None:
    _, api = await service.new_tenant()
    _, anna, _ = await setup(api)
    path = "/api/v1/modules/mod_unknown/bindings"
    await api.ok("GET", path, status=404)
    await api.ok("PUT", path, {"bindings": {"101": anna["id"]}}, status=404)
    await api.ok("PATCH", path, {"bindings": {"101": None}}, status=404)
