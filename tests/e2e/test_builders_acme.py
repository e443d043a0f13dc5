"""A made-up provider ("Acme PBX", tests/e2e/builder_modules/acme/script.py) written by a builder
from the contract alone, using every §3 feature, driven through the real service on SQLite and
PostgreSQL in whole call sequences: routing, answer, transfer, end with a recording that arrives
later, a missed call, an outgoing call; then what is stored (calls, who answered, history,
notifications, activity, contacts), the replies, recording links on demand and the other
functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

__all__ = ["backend_service"]  # the fixture, imported for pytest
SCRIPT = builder_script("acme")
SECRET = "acme-secret-0042"
CLIENT = "+7 916 123-45-67"
COMPANY = "74951112233"


@dataclass
class FakeAcme:
    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/records/link", self.link)
        app.router.add_get("/ping", self.ping)
        app.router.add_get("/users", self.users)
        app.router.add_post("/calls", self.calls)
        return app

    async def link(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "query": dict(request.query),
                              "auth": request.headers.get("Authorization")})
        return web.json_response(
            {"link": f"{self.base}/files/{request.query['file']}?exp={len(self.requests)}"})

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({"pong": True})

    async def users(self, request: web.Request) -> web.Response:
        return web.json_response({"users": [{"ext": 101, "name": "Op"}, {"ext": 103},
                                            {"name": "no extension"}]})

    async def calls(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "body": await request.text(),
                              "type": request.headers.get("Content-Type")})
        return web.json_response({"queued": True})


@pytest.fixture
async def fake() -> AsyncIterator[FakeAcme]:
    provider = FakeAcme()
    async with serving(provider.app()) as provider.base:
        yield provider


class Tenant(ProviderTenant):
    async def send(self, data: dict[str, Any], *, secret: str = SECRET) -> ClientResponse:
        body = json.dumps(data)
        sign = base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256)
                                .digest()).decode()
        return await self.service.client.post(
            self.hook_path + "/acme/events", data=body,
            headers={"Content-Type": "application/json", "X-Acme-Signature": sign})

    async def ok(self, **data: Any) -> dict[str, Any]:
        response = await self.send(data)
        text = await response.text()
        assert response.status == 200, text
        assert response.headers["Content-Security-Policy"] == "sandbox"
        reply: dict[str, Any] = json.loads(text)
        return reply

    async def notes(self, operator: str) -> list[tuple[str, str | None]]:
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens[operator]}")
        assert response.status == 200
        return [(n["kind"], n["payload"]["call"]["provider_call_id"])
                for n in (await response.json())["notifications"]]


@pytest.fixture
async def acme(backend_service: Service, fake: FakeAcme) -> Tenant:
    return await provider_tenant(Tenant, backend_service, {
        "name": "acme", "region": "RU",
        "settings": {"secret": SECRET, "baseUrl": fake.base, "token": "t ok"},
        "secrets": ["secret", "token"], "allowlist": ["127.0.0.1"],
    }, SCRIPT, {"op": "operator", "anna": "anna", "boris": "boris"},
        {"101": "op", "102": "anna", "103": "boris"})


def common(call_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": call_id, "client": CLIENT, "company": COMPANY, "at": "2025-03-04T10:15:02",
            **extra}


async def test_a_transferred_call_with_a_late_recording(acme: Tenant, fake: FakeAcme) -> None:
    contact = await acme.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": ["89161234567"]}, status=201)
    reply = await acme.ok(kind="ring", **common("a-1"))
    assert reply["path"] == "events" and reply["ok"] is True
    await acme.ok(kind="route", ext="101", **common("a-1"))
    await acme.ok(kind="route", ext="102", **common("a-1"))
    await acme.ok(kind="answer", ext="101", **common("a-1"))
    await acme.ok(kind="answer", ext="101", **common("a-1"))  # the provider's retry
    await acme.ok(kind="transfer", ext="103", **common("a-1"))
    call = await acme.call("a-1")
    assert (call["state"], call["answered_phone"]) == ("answered", "101")
    await acme.ok(kind="answer", ext="103", **common("a-1"))
    await acme.ok(kind="hangup", ext="103", outcome="answered", talk=95, **common("a-1"))
    call = await acme.call("a-1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 95)
    assert (call["answered_phone"], call["answered_user_id"]) == (
        "103", acme.users["boris"]["id"])
    assert call["has_record"] is False and call["contact_id"] == contact["id"]
    assert [(e["kind"], e["effect"]) for e in call["events"]] == [
        ("notify_start", "applied"), ("notify_internal", "applied"),
        ("notify_internal", "applied"), ("notify_answer", "applied"),
        ("notify_answer", "repeat"), ("notify_internal", "applied"),
        ("notify_answer", "applied"), ("notify_end", "applied"), ("call_record", "applied")]
    assert await acme.notes("op") == [("ringing", "a-1"), ("answered", "a-1"), ("ended", "a-1")]
    assert await acme.notes("anna") == [("ringing", "a-1"), ("ended", "a-1")]
    assert await acme.notes("boris") == [("ringing", "a-1"), ("answered", "a-1"),
                                         ("ended", "a-1")]

    # The recording arrives after the end: the record gains it, still one activity entry.
    await acme.ok(kind="record", rec="a-1.wav", **common("a-1"))
    call = await acme.call("a-1")
    assert call["events"][-1]["kind"] == "call_record"
    entries = (await acme.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))
    assert len(entries["activity"]) == 1
    assert entries["activity"][0]["data"]["call"] == {"file": "a-1.wav", "sum": hashlib.md5(
        b"a-1.wav").hexdigest()[:8]}
    assert call["has_record"] is True
    played = await acme.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == f"{fake.base}/files/a-1.wav?exp=1"
    assert fake.requests[0]["auth"] == "Bearer t%20ok"



async def test_a_dry_run_of_the_transfer_tells_who_would_be_told_and_stores_nothing(
        acme: Tenant) -> None:
    await acme.ok(kind="ring", ext="101", **common("a-2"))
    await acme.ok(kind="answer", ext="101", **common("a-2"))
    body = json.dumps({"kind": "transfer", "ext": "103", **common("a-2")})
    sign = base64.b64encode(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256)
                            .digest()).decode()
    ran = await acme.api.ok("POST", f"/api/v1/modules/{acme.module['id']}/dry-run", {
        "request": {"method": "POST", "url": "https://pbx.example/hooks/t/acme/transfers",
                    "headers": {"X-Acme-Signature": sign}, "body": body}})
    assert ran["ok"], ran["error"]
    assert ran["effects"]["call"]["state_before"] == ran["effects"]["call"]["state_after"] == (
        "answered")
    assert [(n["user_id"], n["kind"]) for n in ran["effects"]["notifications"]] == [
        (acme.users["boris"]["id"], "ringing")]
    assert json.loads(ran["reply"]["body"])["path"] == "transfers"
    assert [w["value"] for w in ran["storage"]] == [{"ring": 1, "answer": 1, "transfer": 1}]
    assert await acme.notes("boris") == []
    call = await acme.call("a-2")
    assert [e["kind"] for e in call["events"]] == ["notify_start", "notify_answer"]


async def test_a_missed_call_and_an_outgoing_one(acme: Tenant) -> None:
    await acme.ok(kind="ring", **common("m-1", client="+7 (903) 555-00-11"))
    await acme.ok(kind="route", ext="102", **common("m-1", client="+7 (903) 555-00-11"))
    await acme.ok(kind="hangup", outcome="no_answer", **common("m-1",
                                                                client="+7 (903) 555-00-11"))
    missed = await acme.call("m-1")
    assert (missed["state"], missed["disposition"], missed["dst_phone"]) == (
        "ended", "no_answer", COMPANY)
    [contact] = (await acme.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert (contact["name"], missed["contact_id"]) == ("+7 (903) 555-00-11", contact["id"])
    assert await acme.notes("anna") == [("ringing", "m-1"), ("ended", "m-1")]

    await acme.ok(kind="dial", ext="101", **common("o-1", client="89035550011"))
    await acme.ok(kind="dial_end", ext="101", outcome="busy", **common("o-1",
                                                                       client="89035550011"))
    out = await acme.call("o-1")
    assert (out["direction"], out["state"], out["disposition"], out["src_phone"]) == (
        "out", "ended", "busy", "101")
    # 89035550011 is the missed caller's number: the outgoing call joins that contact.
    assert out["contact_id"] == contact["id"]
    assert await acme.notes("op") == [("ringing", "o-1"), ("ended", "o-1")]
    activity = await acme.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity")
    assert sorted((a["data"]["direction"], a["data"]["missed"]) for a in activity["activity"]) == [
        ("in", True), ("out", False)]


async def test_the_other_functions(acme: Tenant, fake: FakeAcme) -> None:
    module_id = acme.module["id"]
    assert (await acme.api.ok("POST", f"/api/v1/modules/{module_id}/test-connection"))[
        "success"] is True
    members = (await acme.api.ok("POST", f"/api/v1/modules/{module_id}/load-members"))["members"]
    assert [(m["id"], m.get("name"), m["user_id"]) for m in members] == [
        ("101", "Op", acme.users["op"]["id"]), ("103", None, acme.users["boris"]["id"])]
    response = await acme.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": "+7 916 123-45-67"},
        headers={"Authorization": f"Bearer {acme.tokens['anna']}"})
    assert response.status == 202, await response.text()
    assert fake.requests == [{"path": "/calls", "type": "application/json",
                              "body": '{"from": "102", "to": "+79161234567"}'}]
