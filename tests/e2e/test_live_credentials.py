"""A live socket lives no longer than the credential it was opened with (issue 14): revoking
the user token or deleting the user closes it at once with a close code and reason saying
why; a credential that ended without telling the hub (another tool wrote the database) is
caught by the socket's periodic re-check. The console's sockets: tests/console/; across
nodes: tests/e2e/test_two_nodes.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.typedefs import STORE
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.helpers import closed_with, seed_setup, start

TOKEN_REVOKED = (4401, "credential revoked: user token")
USER_DELETED = (4403, "user deleted")


async def open_live(service: Service, token: str) -> ClientWebSocketResponse:
    socket = await service.client.ws_connect(f"/api/v1/live?token={token}")
    assert (await socket.receive_json(timeout=10))["type"] == "hello"
    assert (await socket.receive_json(timeout=10))["type"] == "caught_up"
    return socket


async def next_notification(socket: ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await socket.receive_json(timeout=10)
        if message["type"] == "notification":
            return message


async def nothing_more(socket: ClientWebSocketResponse, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(socket.receive_json(), seconds)


async def test_revoking_a_user_token_closes_its_sockets_and_no_others(
        service: Service) -> None:
    seed = await seed_setup(service)
    user_id = seed.user["id"]
    second = await seed.api.ok("POST", f"/api/v1/users/{user_id}/tokens", status=201)
    listed = (await seed.api.ok("GET", f"/api/v1/users/{user_id}/tokens"))["tokens"]
    [first] = [t for t in listed if t["id"] != second["id"]]
    doomed = [await open_live(service, seed.user_token) for _ in range(2)]
    kept = await open_live(service, second["token"])

    await seed.api.ok("DELETE", f"/api/v1/users/{user_id}/tokens/{first['id']}", status=204)
    for socket in doomed:
        assert await closed_with(socket) == TOKEN_REVOKED
    await seed.hook_ok(start())
    assert (await next_notification(kept))["kind"] == "ringing"
    # The revoked token opens nothing any more.
    await service.api(seed.user_token).ok("GET", "/api/v1/notifications", status=401)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert refused.value.status == 401
    await kept.close()


async def test_deleting_a_user_closes_their_sockets_and_keeps_the_calls(
        service: Service) -> None:
    seed = await seed_setup(service)
    anna = seed.user  # bound to 101
    ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
    ivan_token = await seed.api.ok("POST", f"/api/v1/users/{ivan['id']}/tokens", status=201)
    module_id = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module_id}/bindings",
                      {"bindings": {"102": ivan["id"]}})
    annas = await open_live(service, seed.user_token)
    ivans = await open_live(service, ivan_token["token"])
    await seed.hook_ok(start("c-1"))
    assert (await next_notification(annas))["kind"] == "ringing"

    await seed.api.ok("DELETE", f"/api/v1/users/{anna['id']}", status=204)
    assert await closed_with(annas) == USER_DELETED
    await seed.hook_ok(start("c-2", dst="102"))
    assert (await next_notification(ivans))["kind"] == "ringing"  # Ivan's socket lives on

    # Gone: the user, its tokens, its bindings; a second delete finds nothing.
    await seed.api.ok("GET", f"/api/v1/users/{anna['id']}", status=404)
    await seed.api.ok("GET", f"/api/v1/users/{anna['id']}/tokens", status=404)
    await seed.api.ok("DELETE", f"/api/v1/users/{anna['id']}", status=404)
    await service.api(seed.user_token).ok("GET", "/api/v1/notifications", status=401)
    bindings = (await seed.api.ok("GET", f"/api/v1/modules/{module_id}/bindings"))["bindings"]
    assert [(b["member_id"], b["user_id"]) for b in bindings] == [("102", ivan["id"])]
    assert [u["name"] for u in (await seed.api.ok("GET", "/api/v1/users"))["users"]] == [
        "ivan"]
    # Kept: the calls Anna took. A call at her old extension now notifies nobody.
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert {c["provider_call_id"] for c in calls} == {"c-1", "c-2"}
    await seed.hook_ok(start("c-3"))
    await nothing_more(ivans)
    # The name can be given to a new user.
    await seed.api.ok("POST", "/api/v1/users", {"name": anna["name"]}, status=201)
    await ivans.close()


async def test_a_credential_ended_without_an_event_is_caught_by_the_recheck(
        tmp_path: Path) -> None:
    """A token revoked and a user deleted straight in the database (as another tool, or a
    node whose event was lost, would): the sockets close at their next re-check."""
    config = service_config(tmp_path, live_recheck_seconds=0.3)
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        service = Service(client, config, Api(client, OPERATOR_TOKEN))
        seed = await seed_setup(service)
        ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
        ivan_token = await seed.api.ok("POST", f"/api/v1/users/{ivan['id']}/tokens",
                                       status=201)
        annas = await open_live(service, seed.user_token)
        ivans = await open_live(service, ivan_token["token"])
        await nothing_more(annas, 1.0)  # re-checks that find the token good change nothing
        app = client.server.app
        assert app is not None
        [token] = (await seed.api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens"))["tokens"]
        assert await app[STORE].revoke_user_token(seed.tenant_id, seed.user["id"], token["id"])
        assert await app[STORE].delete_user(seed.tenant_id, ivan["id"])
        assert await closed_with(annas) == TOKEN_REVOKED
        assert await closed_with(ivans) == USER_DELETED
    finally:
        await client.close()


async def test_user_tokens_list_without_secrets_and_revoke_once(service: Service) -> None:
    _, api = await service.new_tenant()
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    ivan = await api.ok("POST", "/api/v1/users", {"name": "Ivan"}, status=201)
    first = await api.ok("POST", f"/api/v1/users/{anna['id']}/tokens", status=201)
    second = await api.ok("POST", f"/api/v1/users/{anna['id']}/tokens", status=201)
    listed = (await api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert [t["id"] for t in listed] == [second["id"], first["id"]]  # newest first
    for item, issued in zip(listed, (second, first), strict=True):
        assert item == {"id": issued["id"], "user_id": anna["id"], "prefix": issued["prefix"],
                        "created_at": issued["created_at"], "revoked_at": None}
        assert issued["token"] not in str(listed)
    assert (await api.ok("GET", f"/api/v1/users/{ivan['id']}/tokens")) == {"tokens": []}

    # Another user's token, an unknown one, an unknown user: 404, nothing revoked.
    for path in (f"/api/v1/users/{ivan['id']}/tokens/{first['id']}",
                 f"/api/v1/users/{anna['id']}/tokens/utk_unknown",
                 f"/api/v1/users/usr_unknown/tokens/{first['id']}"):
        body = await api.ok("DELETE", path, status=404)
        assert body["error"] == "not_found"
    await service.api(first["token"]).ok("GET", "/api/v1/notifications")

    await api.ok("DELETE", f"/api/v1/users/{anna['id']}/tokens/{first['id']}", status=204)
    await api.ok("DELETE", f"/api/v1/users/{anna['id']}/tokens/{first['id']}", status=404)
    await service.api(first["token"]).ok("GET", "/api/v1/notifications", status=401)
    await service.api(second["token"]).ok("GET", "/api/v1/notifications")
    listed = (await api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert listed[0]["revoked_at"] is None and listed[1]["revoked_at"] is not None
    await api.ok("GET", "/api/v1/users/usr_unknown/tokens", status=404)
