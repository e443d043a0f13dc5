"""A made-up cloud PBX ("Oblako", tests/e2e/builder_modules/oblako/script.py) written by a
builder from the contract alone: a signed JSON envelope around a base64 JSON payload of nested
objects, handler classes with class attributes, properties overriding them, `super()` and
generators, a `match` on the envelope with guards, durations from ISO times with offsets;
members from a paged API read by a generator, click-to-call as a form POST, recording links
fetched on demand, snake_case result keys. Driven through the real service on SQLite and
PostgreSQL against a fake provider API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from aiohttp import web

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

__all__ = ["backend_service"]  # the fixture, imported for pytest
SECRET = "oblako-secret"
TOKEN = "oblako-token"
CLIENT = {"number": "+7 916 123-45-67"}
COMPANY = {"number": "74951112233"}


@dataclass
class FakeOblako:
    base: str = ""
    seen: list[tuple[str, str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users", self.users)
        app.router.add_post("/calls", self.calls)
        app.router.add_get("/recordings/{id}/link", self.link)
        app.router.add_get("/me", self.me)
        return app

    def authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def users(self, request: web.Request) -> web.Response:
        pages = {"1": ([{"ext": 102, "name": "Petr"}, {"name": "fax, no extension"}], 2),
                 "2": ([{"ext": "101", "name": "Olga"}], None)}
        users, following = pages[request.query["page"]]
        return web.json_response({"users": users, "next": following})

    async def calls(self, request: web.Request) -> web.Response:
        self.seen.append(("calls", request.headers["Content-Type"],
                          dict(parse_qsl(await request.text()))))
        return web.json_response({"queued": True}, status=201)

    async def link(self, request: web.Request) -> web.Response:
        self.seen.append(("link", request.match_info["id"], request.query["format"]))
        file = quote(f"{request.match_info['id']}.{request.query['format']}")
        return web.json_response({"url": f"https://cdn.oblako.example/{file}?sig=1",
                                  "expires": "2099-01-01T00:00:00Z"})

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True}, status=200 if self.authorised(request) else 401)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOblako]:
    provider = FakeOblako()
    async with serving(provider.app()) as provider.base:
        yield provider


def envelope(payload: dict[str, Any], *, secret: str = SECRET,
             sent_ms: int | None = None) -> dict[str, Any]:
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    ts = sent_ms if sent_ms is not None else time.time_ns() // 1_000_000
    mac = hmac.new(secret.encode(), f"{ts}.{encoded}".encode(), hashlib.sha256).hexdigest()
    return {"v": 2, "ts": ts, "payload": encoded, "mac": mac.upper()}


class Oblako(ProviderTenant):
    async def post(self, body: dict[str, Any]) -> tuple[int, Any]:
        response = await self.service.client.post(self.hook_path, json=body)
        return response.status, await response.json()

    async def ok(self, kind: str, **call: Any) -> None:
        assert await self.post(envelope({"type": kind, "call": call})) == (200, {"ok": True})


@pytest.fixture
async def oblako(backend_service: Service, fake: FakeOblako) -> Oblako:
    return await provider_tenant(Oblako, backend_service, {
        "name": "oblako", "region": "RU",
        "settings": {"secret": SECRET, "token": TOKEN, "baseUrl": fake.base},
        "secrets": ["secret", "token"], "allowlist": ["127.0.0.1"],
    }, builder_script("oblako"), {"o": "Olga", "p": "Petr"}, {"101": "o", "102": "p"})


async def test_a_routed_call_answered_recorded_and_played(oblako: Oblako,
                                                          fake: FakeOblako) -> None:
    ivan = await oblako.api.ok("POST", "/api/v1/contacts",
                               {"name": "Ivan", "phones": ["89161234567"]}, status=201)
    call = {"uuid": "ob-1", "direction": "inbound", "from": CLIENT, "to": COMPANY,
            "started_at": "2025-03-04T10:15:02+03:00"}
    await oblako.ok("call.ringing", **call)
    await oblako.ok("call.routed", **call, legs=[{"ext": 101}])
    await oblako.ok("call.routed", **call, legs=[{"ext": 101}, {"ext": "102"}])
    legs = [{"ext": 101}, {"ext": "102", "answered": True}]
    await oblako.ok("call.answered", **call, legs=legs, answered_at="2025-03-04T07:15:10Z")
    await oblako.ok("call.completed", **call, answered_at="2025-03-04T07:15:10Z",
                    ended_at="2025-03-04T10:16:45.500+03:00",
                    legs=[{"ext": 101}, {"ext": "102", "answered": True, "duration_ms": 1}],
                    recording={"id": "rec 1/ob", "format": "ogg"})

    stored = await oblako.call("ob-1")
    assert (stored["state"], stored["disposition"], stored["duration"]) == (
        "ended", "answered", 95.5)
    assert (stored["answered_phone"], stored["answered_user_id"]) == (
        "102", oblako.users["p"]["id"])
    assert stored["contact_id"] == ivan["id"] and stored["has_record"] is True
    assert await oblako.notifications("o") == ["ringing", "ended"]
    assert await oblako.notifications("p") == ["ringing", "answered", "ended"]
    played = await oblako.api.ok("GET", f"/api/v1/calls/{stored['id']}/recording?format=json")
    assert played["url"] == "https://cdn.oblako.example/rec%201/ob.ogg?sig=1"
    assert fake.seen == [("link", "rec 1/ob", "ogg")]


async def test_a_missed_call_and_a_busy_outgoing_one(oblako: Oblako) -> None:
    missed = {"uuid": "ob-2", "direction": "inbound", "from": {"number": "+7 903 555-00-11"},
              "to": COMPANY, "started_at": "2025-03-04T10:00:00+05:00"}
    await oblako.ok("call.ringing", **missed)
    await oblako.ok("call.missed", **missed, ended_at="2025-03-04T10:00:30+05:00")
    out = {"uuid": "ob-3", "direction": "outbound", "from": {"ext": "101"},
           "to": {"number": "89035550011"}, "started_at": "2025-03-04T11:00:00+03:00"}
    await oblako.ok("call.ringing", **out)
    await oblako.ok("call.busy", **out, ended_at="2025-03-04T11:00:09+03:00")

    first, second = await oblako.call("ob-2"), await oblako.call("ob-3")
    assert (first["state"], first["disposition"], first["duration"], first["dst_phone"]) == (
        "ended", "no_answer", 0, "74951112233")
    assert (second["direction"], second["state"], second["disposition"]) == (
        "out", "ended", "busy")
    assert second["src_phone"] == "101" and second["has_record"] is False
    [contact] = (await oblako.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert first["contact_id"] == second["contact_id"] == contact["id"]
    assert await oblako.notifications("o") == ["ringing", "ended"]


async def test_what_the_envelope_check_refuses_stores_nothing(oblako: Oblako) -> None:
    payload = {"type": "call.ringing", "call": {"uuid": "x", "from": CLIENT, "to": COMPANY}}
    assert await oblako.post(envelope(payload, secret="guess")) == (401, {"error": "bad mac"})
    assert await oblako.post(envelope(payload, sent_ms=1741072502000)) == (
        408, {"error": "stale envelope from 2025-03-04T07:15:02+00:00"})
    assert await oblako.post({"v": 1, "payload": ""}) == (
        400, {"error": "unsupported version 1"})
    assert await oblako.post({"v": 2, "ts": "now"}) == (400, {"error": "missing envelope fields"})
    assert await oblako.post(envelope({"type": "sms.received"})) == (
        202, {"ignored": "sms.received"})
    assert await oblako.calls() == []


async def test_members_click_to_call_and_test_connection(oblako: Oblako,
                                                         fake: FakeOblako) -> None:
    module_id = oblako.module["id"]
    members = (await oblako.api.ok("POST", f"/api/v1/modules/{module_id}/load-members"))[
        "members"]
    assert [(m["id"], m.get("name"), m["user_id"]) for m in members] == [
        ("101", "Olga", oblako.users["o"]["id"]), ("102", "Petr", oblako.users["p"]["id"])]
    response = await oblako.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": "+7 916 123-45-67"},
        headers={"Authorization": f"Bearer {oblako.tokens['p']}"})
    assert response.status == 202, await response.text()
    assert fake.seen == [("calls", "application/x-www-form-urlencoded",
                          {"from": "102", "to": "+7 916 123-45-67", "ringback": "yes"})]
    tested = await oblako.api.ok("POST", f"/api/v1/modules/{module_id}/test-connection")
    assert tested["success"] is True
    await oblako.api.ok("PATCH", f"/api/v1/modules/{module_id}",
                        {"settings": {"secret": SECRET, "token": "expired",
                                      "baseUrl": fake.base}})
    tested = await oblako.api.ok("POST", f"/api/v1/modules/{module_id}/test-connection")
    assert (tested["success"], tested["failReason"]) == (False, "the token was refused")
