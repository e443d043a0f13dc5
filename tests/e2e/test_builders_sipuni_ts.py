"""Sipuni (providers.md) as a builder ported it from their ELMA365 TypeScript module
(tests/e2e/builder_modules/sipuni_ts/script.py): a base class and a subclass calling
`super().__init__()`, a class-method factory, `match` on the event code with an OR pattern,
`VoipCallDisposition["Answered"]`, unix timestamps as datetime and the click-to-call API's md5
hash. Whole calls sent as GET and as form posts, every reply `{"success": true}`, and the other
four functions against a fake Sipuni API; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

__all__ = ["backend_service"]  # the fixture, imported for pytest
CLIENT = "79161234567"
SECRET = "sipuni-secret"


@dataclass
class FakeSipuni:
    base: str = ""
    posts: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.posts.append({"path": request.path, **form})
        values = [v for k, v in form.items() if k != "hash"]
        if form.get("hash") != hashlib.md5("+".join([*values, SECRET]).encode()).hexdigest():
            return web.json_response({"error": "bad hash"}, status=403)
        if request.path == "/api/statistic/operators":
            return web.json_response({"operators": [{"sipnumber": 201, "name": "Olga"},
                                                    {"sipnumber": 202}]})
        return web.json_response({"success": True})


@pytest.fixture
async def fake() -> AsyncIterator[FakeSipuni]:
    provider = FakeSipuni()
    async with serving(provider.app()) as provider.base:
        yield provider


class Sipuni(ProviderTenant):
    async def send(self, post: bool = False, **fields: Any) -> None:
        text = urlencode({k: str(v) for k, v in fields.items()})
        if post:
            response = await self.service.client.post(
                self.hook_path, data=text,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            response = await self.service.client.get(f"{self.hook_path}?{text}")
        assert (response.status, await response.json()) == (200, {"success": True})


async def sipuni(service: Service, fake: FakeSipuni, secret: str = SECRET) -> Sipuni:
    return await provider_tenant(Sipuni, service, {
        "name": "sipuni-ts", "region": "RU",
        "settings": {"user": "u-77", "secret": secret, "apiBase": fake.base + "/api"},
        "secrets": ["secret"], "allowlist": ["127.0.0.1"],
    }, builder_script("sipuni_ts"), {"olga": "olga", "petr": "petr"},
        {"201": "olga", "202": "petr"})


async def test_calls_sent_as_get_and_as_form_posts(backend_service: Service,
                                                   fake: FakeSipuni) -> None:
    s = await sipuni(backend_service, fake)
    leg = {"call_id": "s-1", "src_type": 1, "src_num": CLIENT, "dst_type": 2}
    await s.send(event=1, dst_num=201, timestamp=1709540102, **leg)
    await s.send(event=1, dst_num=202, timestamp=1709540102, **leg)
    await s.send(post=True, event=3, dst_num=202, timestamp=1709540110, **leg)
    await s.send(event=4, dst_num=201, timestamp=1709540111, status="NOANSWER", **leg)
    await s.send(post=True, event=2, dst_num=202, timestamp=1709540190, status="ANSWER",
                 call_start_timestamp=1709540102, call_answer_timestamp=1709540110,
                 call_record_link="https://sipuni.example/rec/s-1.mp3", **leg)
    out = {"call_id": "s-2", "src_type": 2, "src_num": 201, "dst_type": 1,
           "dst_num": "89031234567"}
    await s.send(event=1, timestamp=1709540200, **out)
    await s.send(event=2, timestamp=1709540230, status="BUSY", **out)

    call = await s.call("s-1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 80)
    assert (call["answered_phone"], call["answered_user_id"]) == ("202", s.users["petr"]["id"])
    played = await s.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == "https://sipuni.example/rec/s-1.mp3"
    dialled = await s.call("s-2")
    assert (dialled["direction"], dialled["state"], dialled["disposition"]) == (
        "out", "ended", "busy")
    assert dialled["src_phone"] == "201" and dialled["has_record"] is False
    assert await s.notifications("olga") == ["ringing", "ended", "ringing", "ended"]
    assert await s.notifications("petr") == ["ringing", "answered", "ended"]


async def test_the_other_functions_sign_their_requests(backend_service: Service,
                                                       fake: FakeSipuni) -> None:
    s = await sipuni(backend_service, fake)
    module = f"/api/v1/modules/{s.module['id']}"
    assert (await s.api.ok("POST", f"{module}/test-connection"))["success"] is True
    members = (await s.api.ok("POST", f"{module}/load-members"))["members"]
    assert [(m["id"], m.get("name"), m["user_id"]) for m in members] == [
        ("201", "Olga", s.users["olga"]["id"]), ("202", None, s.users["petr"]["id"])]
    response = await s.service.client.post(
        "/api/v1/calls/originate", json={"module_id": s.module["id"], "number": CLIENT},
        headers={"Authorization": f"Bearer {s.tokens['petr']}"})
    assert response.status == 202, await response.text()
    last = fake.posts[-1]
    assert (last["path"], last["phone"], last["sipnumber"], last["user"], last["reverse"]) == (
        "/api/callback/call_number", CLIENT, "202", "u-77", "0")

    wrong = await sipuni(backend_service, fake, secret="old-secret")
    tested = await wrong.api.ok("POST", f"/api/v1/modules/{wrong.module['id']}/test-connection")
    assert tested == {"success": False, "failReason": "/statistic/operators answered 403",
                      "execution_id": tested["execution_id"]}
