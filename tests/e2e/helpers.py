"""Setting up tenants for end-to-end tests: the seed module with a bound operator, or one of
the sample provider modules with its operators, and fake providers served on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import ClientResponse, ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.e2e.conftest import SEED_SCRIPT, Api, Service

RECORD_BASE = "https://records.example.com/rec"
CLIENT = "+79161234567"


@dataclass
class SeedSetup:
    tenant_id: str
    api: Api
    module: dict[str, Any]
    user: dict[str, Any]
    user_token: str
    hook_path: str
    service: Service

    async def post_hook(self, payload: Any, *, headers: dict[str, str] | None = None,
                        path_suffix: str = "") -> ClientResponse:
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        return await self.service.client.post(
            self.hook_path + path_suffix, data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    async def hook_ok(self, payload: Any) -> ClientResponse:
        response = await self.post_hook(payload)
        assert response.status == 200, await response.text()
        return response


async def upload(api: Api, module_id: str, source: str, *, activate: bool = True
                 ) -> dict[str, Any]:
    body: Any = await api.ok("POST", f"/api/v1/modules/{module_id}/versions",
                             {"source": source, "activate": activate}, status=201)
    return dict(body)


async def seed_setup(service: Service, name: str = "acme", script: str = SEED_SCRIPT
                     ) -> SeedSetup:
    tenant_id, api = await service.new_tenant(name)
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "seed-json", "region": "RU",
        "settings": {"apiKey": "demo-api-key-123456", "recordBaseUrl": RECORD_BASE,
                     "members": "101:Operator,102:Anna Petrova"},
        "secrets": ["apiKey"],
    }, status=201)
    await upload(api, module["id"], script)
    user = await api.ok("POST", "/api/v1/users", {"name": "operator"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {"101": user["id"]}})
    return SeedSetup(
        tenant_id=tenant_id, api=api, module=module, user=user, user_token=token["token"],
        hook_path=urlsplit(module["webhook_url"]).path, service=service,
    )


async def closed_with(socket: ClientWebSocketResponse, seconds: float = 10.0
                      ) -> tuple[int | None, str]:
    """The close code and reason the server closes a live socket with (other messages before
    it are skipped); fails when it stays open for `seconds` (generous: the machine is busy)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        message = await socket.receive(timeout=max(0.01, deadline - loop.time()))
        if message.type is WSMsgType.CLOSE:  # the server's close frame
            return int(message.data), str(message.extra or "")
        if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
            return socket.close_code, str(message.extra or "")


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """A fake provider on loopback while the block runs: its base URL."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@dataclass
class ProviderTenant:
    """A tenant running a sample provider module; `users` and `tokens` are keyed by the name
    the test gives each operator."""

    service: Service
    api: Api
    module: dict[str, Any]
    hook_path: str
    users: dict[str, dict[str, Any]]
    tokens: dict[str, str]

    async def calls(self) -> list[dict[str, Any]]:
        return list((await self.api.ok("GET", "/api/v1/calls"))["calls"])

    async def call(self, provider_id: str | None = None) -> dict[str, Any]:
        """The call with this provider id, in detail; without one, the tenant's only call."""
        calls = await self.calls()
        [call] = [c for c in calls if provider_id in (None, c["provider_call_id"])]
        detail: dict[str, Any] = await self.api.ok("GET", f"/api/v1/calls/{call['id']}")
        return detail

    async def notifications(self, operator: str) -> list[str]:
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens[operator]}")
        assert response.status == 200
        return [n["kind"] for n in (await response.json())["notifications"]]


T = TypeVar("T", bound=ProviderTenant)


async def provider_tenant(kind: type[T], service: Service, module: dict[str, Any], script: str,
                          operators: dict[str, str], bindings: dict[str, str]) -> T:
    """A new tenant with `module` (the POST body) running `script`; `operators` maps each
    operator's key to a user name, `bindings` maps member ids (extensions) to operator keys."""
    _, api = await service.new_tenant(f"{module['name']}-co")
    created = await api.ok("POST", "/api/v1/modules", module, status=201)
    await upload(api, created["id"], script)
    users, tokens = {}, {}
    for key, name in operators.items():
        users[key] = await api.ok("POST", "/api/v1/users", {"name": name}, status=201)
        token = await api.ok("POST", f"/api/v1/users/{users[key]['id']}/tokens", status=201)
        tokens[key] = token["token"]
    await api.ok("PUT", f"/api/v1/modules/{created['id']}/bindings",
                 {"bindings": {member: users[key]["id"] for member, key in bindings.items()}})
    return kind(service, api, created, urlsplit(created["webhook_url"]).path, users, tokens)


def start(call_id: str = "c-1", src: str = CLIENT, dst: str = "101") -> dict[str, Any]:
    return {"type": "start", "callId": call_id, "srcPhone": src, "dstPhone": dst}


def answer(call_id: str = "c-1", src: str = CLIENT, dst: str = "101") -> dict[str, Any]:
    return {"type": "answer", "callId": call_id, "srcPhone": src, "dstPhone": dst}


def end(call_id: str = "c-1", disposition: str = "answered", src: str = CLIENT,
        dst: str = "101") -> dict[str, Any]:
    return {"type": "end", "callId": call_id, "srcPhone": src, "dstPhone": dst,
            "disposition": disposition}


def record(call_id: str = "c-1", disposition: str = "answered", duration: float = 74,
           src: str = CLIENT, record_id: str | None = "rec-1001") -> dict[str, Any]:
    data: dict[str, Any] = {"type": "record", "callId": call_id, "direction": "in",
                            "disposition": disposition, "srcPhone": src, "dstPhone": "101",
                            "duration": duration}
    if record_id:
        data["recordId"] = record_id
    return data
