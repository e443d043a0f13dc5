"""Setting up a tenant with the seed module, a bound operator and a webhook path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientResponse

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
