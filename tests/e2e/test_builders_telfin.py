"""A made-up provider ("Telfin", tests/e2e/builder_modules/telfin/script.py) whose module a
builder ported line by line from their ELMA365 TypeScript: camelCase names, a class of static
helpers, a string "enum" class, `VoipWebhookParseResult(...)`/`VoipCallRecord(...)`
constructors, `JSON.parse` as json.loads, optional chaining as `.get()` chains, `new Date()`
as datetime, `fetch(url, {method, headers, body})` as keyword arguments, an answer time kept
in storage, `items.map(...)` as `map(...)`. Driven through the real service on SQLite and
PostgreSQL: whole call sequences, replies, recordings resolved on demand, a dry run and the
other four functions against a fake Telfin API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

__all__ = ["backend_service"]  # the fixture, imported for pytest
TOKEN = "hook-token-7"
API_TOKEN = "api-token-9"
CLIENT = "8 (916) 123-45-67"
TRUNK = "+7 495 111-22-33"


@dataclass
class FakeTelfin:
    base: str = ""
    requests: list[tuple[str, str, str | None, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v2/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append((request.method, request.path_qs,
                              request.headers.get("Authorization"), body))
        if request.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            return web.json_response({"error": {"message": "invalid token"}}, status=401)
        path = request.match_info["path"]
        if path == "me":
            return web.json_response({"account": {"name": "Acme LLC"}})
        if path == "extensions":
            return web.json_response({"items": [{"extension": 102, "name": "Anna"},
                                                {"extension": 101, "name": ""}]})
        if path.startswith("records/"):
            record = request.raw_path.split("/")[3]  # as sent, still quoted
            return web.json_response({"data": {"url": f"https://cdn.telfin.example/{record}"
                                                      f".mp3?ttl={request.query['ttl']}"}})
        if path == "calls" and request.method == "POST":
            return web.json_response({"call": {"id": "out-77"}}, status=201)
        return web.json_response({"error": {"message": "no such path"}}, status=404)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelfin]:
    provider = FakeTelfin()
    async with serving(provider.app()) as provider.base:
        yield provider


class Telfin(ProviderTenant):
    async def send(self, body: str, *, token: str = TOKEN, method: str = "POST"
                   ) -> tuple[int, Any]:
        response = await self.service.client.request(
            method, self.hook_path, data=body,
            headers={"X-Telfin-Token": token, "Content-Type": "application/json"})
        return response.status, await response.json()

    async def ok(self, kind: str, **call: Any) -> dict[str, Any]:
        status, reply = await self.send(json.dumps({"type": kind, "call": call}))
        assert status == 200, reply
        assert reply["ok"] is True
        result: dict[str, Any] = reply
        return result


async def telfin(service: Service, fake: FakeTelfin, api_token: str = API_TOKEN) -> Telfin:
    return await provider_tenant(Telfin, service, {
        "name": "telfin", "region": "RU",
        "settings": {"webhookToken": TOKEN, "apiToken": api_token, "baseUrl": fake.base + "/"},
        "secrets": ["webhookToken", "apiToken"], "allowlist": ["127.0.0.1"],
    }, builder_script("telfin"), {"olga": "olga", "anna": "anna"}, {"101": "olga", "102": "anna"})


def incoming(call_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": call_id, "direction": "inbound", "client": {"number": CLIENT},
            "trunk": {"number": TRUNK}, **extra}


async def test_a_routed_call_answered_and_ended_with_a_recording(
        backend_service: Service, fake: FakeTelfin) -> None:
    t = await telfin(backend_service, fake)
    ivan = await t.api.ok("POST", "/api/v1/contacts",
                          {"name": "Ivan", "phones": ["+7 916 123 45 67"]}, status=201)
    await t.ok("call.start", **incoming("t-1"))
    await t.ok("call.route", **incoming("t-1", agent={"extension": 101}))
    await t.ok("call.route", **incoming("t-1", agent={"extension": 102}))
    # Moscow time without an offset: 13:15:02+03:00.
    await t.ok("call.answer", **incoming("t-1", agent={"extension": 102},
                                         answeredAt="2025-03-04T13:15:02"))
    # The end repeats no answer time: the module kept it in storage.
    ended = await t.ok("call.end", **incoming("t-1", agent={"extension": 102},
                                              result="answered",
                                              endedAt="2025-03-04T10:16:16.600Z",
                                              record={"id": "rec/1 ü"}))
    assert ended["duration"] == 75

    call = await t.call("t-1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 75)
    assert (call["answered_phone"], call["answered_user_id"]) == ("102", t.users["anna"]["id"])
    assert call["contact_id"] == ivan["id"] and call["has_record"] is True
    assert [e["kind"] for e in call["events"]] == [
        "notify_start", "notify_internal", "notify_internal", "notify_answer", "notify_end",
        "call_record"]
    assert await t.notifications("olga") == ["ringing", "ended"]
    assert await t.notifications("anna") == ["ringing", "answered", "ended"]
    played = await t.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == "https://cdn.telfin.example/rec%2F1%20%C3%BC.mp3?ttl=3600"
    assert fake.requests == [("GET", "/v2/records/rec%2F1%20%C3%BC/link?ttl=3600&format=mp3",
                              f"Bearer {API_TOKEN}", "")]
    activity = (await t.api.ok("GET", f"/api/v1/contacts/{ivan['id']}/activity"))["activity"]
    assert [(a["data"]["duration"], a["data"]["call"]) for a in activity] == [
        (75, {"recordId": "rec/1 ü"})]


async def test_a_missed_call_an_outgoing_one_and_what_is_refused(
        backend_service: Service, fake: FakeTelfin) -> None:
    t = await telfin(backend_service, fake)
    await t.ok("call.start", **incoming("m-1", agent={"extension": 101}))
    await t.ok("call.end", **incoming("m-1", agent={"extension": 101}, result="noanswer",
                                      endedAt=1741083376000))
    await t.ok("call.dial", id="o-1", direction="outbound", agent={"extension": 102},
               client={"number": "+7 903 555-00-11"})
    await t.ok("call.end", id="o-1", direction="outbound", agent={"extension": 102},
               client={"number": "+7 903 555-00-11"}, result="BUSY")

    missed, out = await t.call("m-1"), await t.call("o-1")
    assert (missed["direction"], missed["state"], missed["disposition"]) == (
        "in", "ended", "no_answer")
    [contact] = (await t.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert missed["contact_id"] == contact["id"] and missed["has_record"] is False
    assert (out["direction"], out["src_phone"], out["dst_phone"], out["disposition"]) == (
        "out", "102", "79035550011", "busy")
    assert await t.notifications("olga") == ["ringing", "ended"]
    assert await t.notifications("anna") == ["ringing", "ended"]

    assert await t.send('{"type": "ping", "nonce": 5}') == (200, {"ok": True, "pong": 5})
    assert await t.send("{}", token="guess") == (403, {"ok": False, "error": "bad token"})
    assert await t.send('{"type": ') == (
        400, {"ok": False, "error": "bad JSON at 9: Expecting value"})
    assert await t.send("", method="PUT") == (405, {"ok": False, "error": "POST only"})
    assert await t.send('{"type": "call.hold", "call": {}}') == (
        200, {"ok": True, "ignored": "call.hold"})
    assert len(await t.calls()) == 2


async def test_a_dry_run_reports_the_end_and_stores_nothing(
        backend_service: Service, fake: FakeTelfin) -> None:
    t = await telfin(backend_service, fake)
    await t.ok("call.start", **incoming("d-1", agent={"extension": 101}))
    await t.ok("call.answer", **incoming("d-1", agent={"extension": 101},
                                         answeredAt="2025-03-04T10:15:00Z"))
    body = json.dumps({"type": "call.end", "call": incoming(
        "d-1", agent={"extension": 101}, result="answered", endedAt="2025-03-04T10:15:42Z")})
    ran = await t.api.ok("POST", f"/api/v1/modules/{t.module['id']}/dry-run", {
        "request": {"method": "POST", "headers": {"X-Telfin-Token": TOKEN}, "body": body}})
    assert ran["ok"], ran["error"]
    assert ran["result"]["callRecord"]["duration"] == 42
    assert (ran["effects"]["call"]["state_before"], ran["effects"]["call"]["state_after"]) == (
        "answered", "ended")
    assert [(n["user_id"], n["kind"]) for n in ran["effects"]["notifications"]] == [
        (t.users["olga"]["id"], "ended")]
    assert ran["storage"] == [{"op": "delete", "key": "answered:d-1"}]
    assert json.loads(ran["reply"]["body"]) == {"ok": True, "duration": 42}
    call = await t.call("d-1")
    assert call["state"] == "answered"
    assert await t.notifications("olga") == ["ringing", "answered"]


async def test_the_other_functions_through_the_api(
        backend_service: Service, fake: FakeTelfin) -> None:
    t = await telfin(backend_service, fake)
    module = f"/api/v1/modules/{t.module['id']}"
    assert (await t.api.ok("POST", f"{module}/test-connection"))["success"] is True
    members = (await t.api.ok("POST", f"{module}/load-members"))["members"]
    assert [(m["id"], m.get("name"), m["user_id"]) for m in members] == [
        ("101", None, t.users["olga"]["id"]), ("102", "Anna", t.users["anna"]["id"])]
    response = await t.service.client.post(
        "/api/v1/calls/originate", json={"module_id": t.module["id"], "number": CLIENT},
        headers={"Authorization": f"Bearer {t.tokens['anna']}"})
    assert response.status == 202, await response.text()
    method, path, auth, body = fake.requests[-1]
    assert (method, path, auth) == ("POST", "/v2/calls", f"Bearer {API_TOKEN}")
    assert json.loads(body) == {"from": {"extension": "102"}, "to": {"number": "79161234567"}}

    wrong = await telfin(backend_service, fake, api_token="expired")
    tested = await wrong.api.ok("POST", f"/api/v1/modules/{wrong.module['id']}/test-connection")
    assert tested["success"] is False
    assert tested["failReason"] == "Telfin API GET /me: 401 invalid token"
