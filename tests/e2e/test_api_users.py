"""Users and user tokens over HTTP."""

from __future__ import annotations

from tests.e2e.conftest import Service


async def test_create_read_and_list_users(service: Service) -> None:
    _, api = await service.new_tenant()
    anna = await api.ok("POST", "/api/v1/users",
                        {"name": "Anna Petrova", "email": "anna@example.com"}, status=201)
    assert anna["id"].startswith("usr_")
    assert anna["name"] == "Anna Petrova" and anna["email"] == "anna@example.com"
    ivan = await api.ok("POST", "/api/v1/users", {"name": "Ivan"}, status=201)
    assert ivan["email"] is None
    assert await api.ok("GET", f"/api/v1/users/{anna['id']}") == anna
    listed = await api.ok("GET", "/api/v1/users")
    assert [u["name"] for u in listed["users"]] == ["Anna Petrova", "Ivan"]
    assert len((await api.ok("GET", "/api/v1/users?limit=1&offset=1"))["users"]) == 1
    body = await api.ok("GET", "/api/v1/users/usr_unknown", status=404)
    assert body["error"] == "not_found"


async def test_user_body_is_validated(service: Service) -> None:
    _, api = await service.new_tenant()
    for bad, named in (({}, "name"), ({"name": " "}, "name"),
                       ({"name": "a", "email": "not-an-email"}, "email"),
                       ({"name": "a", "role": "admin"}, "role"),
                       ({"name": "An\x00na"}, "name"), ({"name": "An\nna"}, "name"),
                       ({"name": "Anna\u202e"}, "name")):
        body = await api.ok("POST", "/api/v1/users", bad, status=422)
        assert body["message"].startswith(named), body
    await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    body = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=409)
    assert body["error"] == "conflict"


async def test_user_token_is_shown_once_and_works(service: Service) -> None:
    _, api = await service.new_tenant()
    user = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    assert set(token) == {"id", "user_id", "prefix", "created_at", "token"}
    assert token["user_id"] == user["id"]
    assert token["token"].startswith(token["prefix"])
    assert token["token"] != (await api.ok("POST", f"/api/v1/users/{user['id']}/tokens",
                                           status=201))["token"]
    # The token is a user's credential (its live notifications), not a tenant key.
    as_user = service.api(token["token"])
    assert (await as_user.ok("GET", "/api/v1/notifications")) == {"notifications": []}
    await as_user.ok("GET", "/api/v1/users", status=401)
    await api.ok("POST", "/api/v1/users/usr_unknown/tokens", status=404)
