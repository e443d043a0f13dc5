"""The Sipuni sample module end to end: events 1-4 sent as GET query strings or POST forms, as
Sipuni sends them, each answered {"success": true}; a fake Sipuni on loopback for the callback
API (it checks the request's md5 hash) and the recording files its links point at.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, ClientSession, web

from tests.e2e.conftest import ROOT, Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

SCRIPT = (ROOT / "scripts" / "sipuni" / "script.py").read_text(encoding="utf-8")
SIPUNI_USER = "024002"
SIPUNI_SECRET = "0.sipuni-integration-key"
CLIENT = "79161234567"


@dataclass
class FakeSipuni:
    base: str = ""
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/callback/call_number", self.call_number)
        app.router.add_get("/rec/{name}", self.recording)
        return app

    async def call_number(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        signed = "+".join(str(form.get(k, "")) for k in
                          ("antiaon", "phone", "reverse", "sipnumber", "user"))
        expected = hashlib.md5(f"{signed}+{SIPUNI_SECRET}".encode()).hexdigest()
        ok = form.get("user") == SIPUNI_USER and form.get("hash") == expected
        self.callbacks.append({**form, "hash_ok": ok})
        if not ok:
            return web.json_response({"success": False, "message": "Неверный hash"})
        return web.json_response({"success": True})

    async def recording(self, request: web.Request) -> web.Response:
        return web.Response(body=b"ID3-" + request.match_info["name"].encode(),
                            content_type="audio/mpeg")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSipuni]:
    provider = FakeSipuni()
    async with serving(provider.app()) as provider.base:
        yield provider


class Tenant(ProviderTenant):
    async def send(self, fields: dict[str, str], method: str = "GET") -> ClientResponse:
        """As Sipuni does: a GET with a query string, or a POST with a form body."""
        if method == "GET":
            return await self.service.client.get(self.hook_path + "?" + urlencode(fields))
        return await self.service.client.post(
            self.hook_path, data=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    async def send_ok(self, fields: dict[str, str], method: str = "GET") -> None:
        response = await self.send(fields, method)
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("application/json")
        assert await response.json() == {"success": True}


@pytest.fixture
async def sp(service: Service, fake: FakeSipuni) -> Tenant:
    return await provider_tenant(Tenant, service, {
        "name": "sipuni", "region": "RU",
        "settings": {"apiBaseUrl": fake.base, "sipuniUser": SIPUNI_USER,
                     "sipuniSecret": SIPUNI_SECRET},
        "secrets": ["sipuniSecret"],
        "allowlist": ["127.0.0.1"],
    }, SCRIPT, {"201": "operator", "202": "anna"}, {"201": "201", "202": "202"})


def incoming(event: str, dst: str = "201", call_id: str = "1709540102.1234",
             src: str = CLIENT, **extra: str) -> dict[str, str]:
    return {"event": event, "call_id": call_id, "src_type": "1", "src_num": src,
            "dst_type": "2", "dst_num": dst, "timestamp": "1709540110", **extra}


def ended(status: str, link: str = "", answered_at: str = "1709540110",
          **parties: str) -> dict[str, str]:
    return {**parties, "event": "2", "timestamp": "1709540190", "status": status,
            "call_start_timestamp": "1709540102", "call_answer_timestamp": answered_at,
            "call_record_link": link}


async def test_group_call_answered_with_recording_over_get(sp: Tenant, fake: FakeSipuni
                                                           ) -> None:
    contact = await sp.api.ok("POST", "/api/v1/contacts",
                              {"name": "Ivan Client", "phones": ["+7 916 123-45-67"]}, status=201)
    await sp.send_ok(incoming("1", "201"))
    await sp.send_ok(incoming("1", "202"))
    assert await sp.notifications("201") == ["ringing"]
    assert await sp.notifications("202") == ["ringing"]
    await sp.send_ok(incoming("3", "201"))
    await sp.send_ok(incoming("4", "202"))  # 202 stops ringing: nothing to do
    call = await sp.call("1709540102.1234")
    assert call["state"] == "answered"
    link = f"{fake.base}/rec/abc.mp3"
    await sp.send_ok(ended("ANSWER", link, **incoming("2")))

    call = await sp.call("1709540102.1234")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 80)
    assert (call["direction"], call["dst_phone"], call["contact_id"]) == (
        "in", "201", contact["id"])
    assert [e["kind"] for e in call["events"]] == [
        "notify_start", "notify_start", "notify_answer", "notify_end", "call_record"]
    assert await sp.notifications("201") == ["ringing", "answered", "ended"]
    assert await sp.notifications("202") == ["ringing", "ended"]
    activity = (await sp.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert [a["data"]["call"] for a in activity] == [{"link": link}]

    played = await sp.service.client.get(
        f"/api/v1/calls/{call['id']}/recording?token={sp.tokens['201']}", allow_redirects=False)
    assert played.status == 302
    assert played.headers["Location"] == link
    async with ClientSession() as browser, browser.get(played.headers["Location"]) as audio:
        assert await audio.read() == b"ID3-abc.mp3"


async def test_missed_call_over_post_creates_a_contact(sp: Tenant) -> None:
    caller = "79035550011"
    await sp.send_ok(incoming("1", "201", "1709540300.1", caller), method="POST")
    await sp.send_ok(ended("NOANSWER", answered_at="", **incoming("2", "201", "1709540300.1",
                                                                  caller)), method="POST")
    call = await sp.call("1709540300.1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "no_answer", 0)
    assert call["has_record"] is False
    assert await sp.notifications("201") == ["ringing", "ended"]
    found = (await sp.api.ok("GET", f"/api/v1/contacts?phone={caller}"))["contacts"]
    assert [c["name"] for c in found] == [caller]
    assert call["contact_id"] == found[0]["id"]


async def test_outgoing_call(sp: Tenant) -> None:
    parties = {"call_id": "1709540500.77", "src_type": "2", "src_num": "202",
               "dst_type": "1", "dst_num": "79031234567"}
    await sp.send_ok({"event": "1", "timestamp": "1709540500", **parties})
    await sp.send_ok({"event": "3", "timestamp": "1709540505", **parties})
    await sp.send_ok(ended("ANSWER", answered_at="1709540150", **parties))
    call = await sp.call("1709540500.77")
    assert (call["direction"], call["src_phone"], call["dst_phone"]) == (
        "out", "202", "79031234567")
    assert (call["state"], call["duration"]) == ("ended", 40)
    assert await sp.notifications("202") == ["ringing", "answered", "ended"]
    assert await sp.notifications("201") == []
    assert (await sp.api.ok("GET", "/api/v1/contacts"))["contacts"] == []


async def test_internal_call(sp: Tenant) -> None:
    parties = {"call_id": "1709540600.5", "src_type": "2", "src_num": "202",
               "dst_type": "2", "dst_num": "201"}
    await sp.send_ok({"event": "1", "timestamp": "1709540600", **parties})
    await sp.send_ok(ended("BUSY", answered_at="", **parties))
    call = await sp.call("1709540600.5")
    assert (call["direction"], call["disposition"], call["client_phone"]) == (
        "internal", "busy", None)
    assert await sp.notifications("201") == ["ringing", "ended"]
    assert call["activity"]["contact_id"] is None
    assert (await sp.api.ok("GET", "/api/v1/contacts"))["contacts"] == []


async def test_every_request_is_acknowledged_with_success(sp: Tenant) -> None:
    odd: list[tuple[dict[str, str], str]] = [
        ({}, "GET"),
        ({"event": "9", "call_id": "x"}, "GET"),
        ({"event": "1"}, "POST"),  # no numbers, no call id
        ({**incoming("2", call_id="c" * 300, src="7" * 90), "status": "ANSWER",
          "call_answer_timestamp": "soon"}, "GET"),
        # The contract counts a call id's 128 in UTF-8 bytes: 100 Cyrillic letters are 200.
        (incoming("1", call_id="ж" * 100), "POST"),
    ]
    for fields, method in odd:
        await sp.send_ok(fields, method)
    response = await sp.service.client.post(sp.hook_path, data=b"\xff\xfe not a form")
    assert response.status == 200 and await response.json() == {"success": True}
    calls = await sp.calls()
    assert sorted((c["src_phone"], len(c["provider_call_id"] or "")) for c in calls) == [
        ("7" * 64, 128), (CLIENT, 64), ("anonymous", 0)]
    runs = (await sp.api.ok("GET", "/api/v1/executions"))["executions"]
    assert len(runs) == 6 and {r["outcome"] for r in runs} == {"ok"}


async def test_every_status_is_mapped(sp: Tenant) -> None:
    expected = {"ANSWER": "answered", "NOANSWER": "no_answer", "BUSY": "busy",
                "CANCEL": "cancel", "CONGESTION": "failed", "CHANUNAVAIL": "failed",
                "SOMETHING": "unknown"}
    seen = {}
    for status in expected:
        query = urlencode(ended(status, **incoming("2")))
        report = await sp.api.ok("POST", f"/api/v1/modules/{sp.module['id']}/dry-run", {
            "request": {"method": "GET", "url": f"http://localhost/hooks/x?{query}"}})
        assert report["ok"], report
        assert report["reply"]["body"] == '{"success": true}'
        seen[status] = report["result"]["callRecord"]["disposition"]
        assert report["result"]["event"]["disposition"] == seen[status]
        assert report["result"]["callRecord"]["duration"] == (80 if status == "ANSWER" else 0)
    assert seen == expected
    assert await sp.calls() == []


async def test_click_to_call_through_sipuni_callback(sp: Tenant, fake: FakeSipuni) -> None:
    module_id = sp.module["id"]
    response = await sp.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": "+7 916 123-45-67"},
        headers={"Authorization": f"Bearer {sp.tokens['202']}"})
    assert response.status == 202, await response.text()
    assert fake.callbacks == [{
        "antiaon": "0", "phone": "79161234567", "reverse": "0", "sipnumber": "202",
        "user": SIPUNI_USER, "hash": fake.callbacks[0]["hash"], "hash_ok": True}]

    # A wrong secret: Sipuni refuses, the action fails with Sipuni's message.
    await sp.api.ok("PATCH", f"/api/v1/modules/{module_id}", {"settings": {
        "apiBaseUrl": fake.base, "sipuniUser": SIPUNI_USER, "sipuniSecret": "0.stale-key"}})
    response = await sp.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": CLIENT},
        headers={"Authorization": f"Bearer {sp.tokens['202']}"})
    assert response.status == 502
    assert "Неверный hash" in (await response.json())["message"]
    assert fake.callbacks[-1]["hash_ok"] is False

    for path in ("test-connection", "load-members"):
        assert (await sp.api.post(f"/api/v1/modules/{module_id}/{path}")).status == 501
