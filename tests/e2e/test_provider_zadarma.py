"""The Zadarma sample module end to end: signed form webhooks posted as Zadarma posts them, and a
fake Zadarma API on loopback for recordings, extensions, balance and callback.

The fake API checks every request's `Authorization` the way Zadarma documents it, and hands out
a fresh recording link per request, so playback is proven to go through the script's fetch().
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, web

from tests.e2e.conftest import ROOT, Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

SCRIPT = (ROOT / "scripts" / "zadarma" / "script.py").read_text(encoding="utf-8")
API_KEY = "zd-key-0042"
API_SECRET = "zd-secret-0123456789"
CLIENT = "79161234567"
COMPANY = "74951112233"
CALL_START = "2025-03-04 10:15:02"

SIGNED_FIELDS = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}


def hex_hmac_b64(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def signature(fields: dict[str, str], secret: str = API_SECRET) -> str:
    text = "".join(fields.get(name, "") for name in SIGNED_FIELDS[fields["event"]])
    return hex_hmac_b64(secret, text)


# --- the fake Zadarma API ---------------------------------------------------------------------


@dataclass
class FakeZadarma:
    """Zadarma's API as the module uses it; remembers every request it was sent."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    links_issued: int = 0
    base: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/pbx/record/request/", self.record_request)
        app.router.add_get("/v1/info/balance/", self.balance)
        app.router.add_get("/v1/pbx/internal/", self.internal)
        app.router.add_get("/v1/request/callback/", self.callback)
        app.router.add_get("/rec/{name}", self.recording_file)
        return app

    def authorised(self, request: web.Request) -> bool:
        """Zadarma's documented API signature, recomputed from what arrived."""
        key, _, sign = request.headers.get("Authorization", "").partition(":")
        query = urlencode(sorted(request.query.items()))
        md5 = hashlib.md5(query.encode()).hexdigest()
        expected = hex_hmac_b64(API_SECRET, request.path + query + md5)
        ok = key == API_KEY and hmac.compare_digest(sign, expected)
        self.requests.append({"path": request.path, "query": dict(request.query), "auth": ok})
        return ok

    @staticmethod
    def refused() -> web.Response:
        return web.json_response({"status": "error", "message": "Not authorized"}, status=401)

    async def record_request(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return self.refused()
        self.links_issued += 1
        call_id = request.query["call_id"]
        return web.json_response({
            "status": "success",
            "link": f"{self.base}/rec/{call_id}.mp3?expires={self.links_issued}",
            "lifetime_till": "2025-03-04 11:15:02",
        })

    async def balance(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return self.refused()
        return web.json_response({"status": "success", "balance": 12.5, "currency": "USD"})

    async def internal(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return self.refused()
        return web.json_response({"status": "success", "pbx_id": 1234, "numbers": [100, 101, 102]})

    async def callback(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return self.refused()
        return web.json_response({"status": "success", "from": int(request.query["from"]),
                                  "to": int(request.query["to"]), "time": 1709540102})

    async def recording_file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"ID3-fake-mp3", content_type="audio/mpeg")


@pytest.fixture
async def fake() -> AsyncIterator[FakeZadarma]:
    provider = FakeZadarma()
    async with serving(provider.app()) as provider.base:
        yield provider


# --- a tenant with the Zadarma module -----------------------------------------------------------


class Tenant(ProviderTenant):
    async def notify(self, fields: dict[str, str], *, secret: str = API_SECRET,
                     sign: str | None = None) -> ClientResponse:
        """POST a notification as Zadarma does: a form body and a Signature header."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign != "":
            headers["Signature"] = sign if sign is not None else signature(fields, secret)
        return await self.service.client.post(self.hook_path, data=urlencode(fields),
                                              headers=headers)

    async def notify_ok(self, fields: dict[str, str]) -> None:
        response = await self.notify(fields)
        text = await response.text()
        assert response.status == 200, text
        assert text == ""

    async def executions(self, function: str) -> list[dict[str, Any]]:
        listed = await self.api.ok("GET", f"/api/v1/executions?function={function}")
        return list(listed["executions"])


@pytest.fixture
async def zd(service: Service, fake: FakeZadarma) -> Tenant:
    return await provider_tenant(Tenant, service, {
        "name": "zadarma", "region": "RU",
        "settings": {"apiBaseUrl": fake.base, "apiKey": API_KEY, "apiSecret": API_SECRET},
        "secrets": ["apiKey", "apiSecret"],
        "allowlist": ["127.0.0.1"],
    }, SCRIPT, {"operator": "operator", "anna": "anna"}, {"101": "operator", "102": "anna"})


# --- notifications as Zadarma sends them ------------------------------------------------------


def incoming(event: str, call_id: str = "in_5f2a", caller: str = CLIENT,
             **extra: str) -> dict[str, str]:
    return {"event": event, "call_start": CALL_START, "pbx_call_id": call_id,
            "caller_id": caller, "called_did": COMPANY, **extra}


def end(call_id: str = "in_5f2a", caller: str = CLIENT, disposition: str = "answered",
        duration: str = "74", recording: str = "", internal: str = "101") -> dict[str, str]:
    return incoming("NOTIFY_END", call_id, caller, internal=internal, duration=duration,
                    disposition=disposition, status_code="16",
                    is_recorded="1" if recording else "0", call_id_with_rec=recording)


def outgoing(event: str, call_id: str = "out_9d10", **extra: str) -> dict[str, str]:
    return {"event": event, "call_start": CALL_START, "pbx_call_id": call_id,
            "internal": "101", "destination": "79031234567", **extra}


def record_ready(call_id: str = "in_5f2a", recording: str = "1709540102.55") -> dict[str, str]:
    return {"event": "NOTIFY_RECORD", "pbx_call_id": call_id, "call_id_with_rec": recording}


# --- the tests --------------------------------------------------------------------------------


async def test_url_check_echoes_zd_echo_as_plain_text(zd: Tenant) -> None:
    response = await zd.service.client.get(zd.hook_path + "?zd_echo=3a9f2c71")
    assert response.status == 200
    assert await response.text() == "3a9f2c71"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert await zd.calls() == []


async def test_answered_call_with_recording_end_to_end(zd: Tenant, fake: FakeZadarma) -> None:
    contact = await zd.api.ok("POST", "/api/v1/contacts",
                              {"name": "Ivan Client", "phones": ["+7 916 123-45-67"]}, status=201)
    await zd.notify_ok(incoming("NOTIFY_START"))
    [call] = await zd.calls()
    assert (call["state"], call["dst_phone"], call["direction"]) == ("ringing", COMPANY, "in")
    assert await zd.notifications("operator") == []  # the company number is bound to no one

    await zd.notify_ok(incoming("NOTIFY_INTERNAL", internal="101"))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", internal="102"))
    assert await zd.notifications("operator") == ["ringing"]
    assert await zd.notifications("anna") == ["ringing"]

    await zd.notify_ok(incoming("NOTIFY_ANSWER", destination="101", internal="101"))
    assert (await zd.call())["state"] == "answered"

    await zd.notify_ok(end(recording="1709540102.55"))
    await zd.notify_ok(record_ready())

    call = await zd.call()
    assert call["state"] == "ended"
    assert call["disposition"] == "answered"
    assert call["duration"] == 74
    assert call["provider_call_id"] == "in_5f2a"
    assert call["contact_id"] == contact["id"]
    assert call["has_record"] is True
    assert [e["kind"] for e in call["events"]] == [
        "notify_start", "notify_internal", "notify_internal", "notify_answer", "notify_end",
        "call_record", "call_record"]
    # NOTIFY_RECORD brought the record the END had already saved: a repeat.
    assert [e["effect"] for e in call["events"]][-2:] == ["applied", "repeat"]
    assert await zd.notifications("operator") == ["ringing", "answered", "ended"]
    assert await zd.notifications("anna") == ["ringing", "ended"]
    activity = (await zd.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert len(activity) == 1
    assert activity[0]["data"]["call"] == {"call_id": "1709540102.55", "pbx_call_id": "in_5f2a"}

    # Playback asks Zadarma's API for a fresh temporary link each time.
    first = await zd.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    second = await zd.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert first["url"] == f"{fake.base}/rec/1709540102.55.mp3?expires=1"
    assert second["url"] == f"{fake.base}/rec/1709540102.55.mp3?expires=2"
    played = await zd.service.client.get(
        f"/api/v1/calls/{call['id']}/recording?token={zd.tokens['operator']}",
        allow_redirects=False)
    assert played.status == 302
    assert played.headers["Location"] == f"{fake.base}/rec/1709540102.55.mp3?expires=3"
    assert [(r["path"], r["query"].get("call_id"), r["auth"]) for r in fake.requests] == [
        ("/v1/pbx/record/request/", "1709540102.55", True)] * 3


async def test_missed_call_creates_a_contact_and_ends_the_popups(zd: Tenant) -> None:
    caller = "79035550011"
    await zd.notify_ok(incoming("NOTIFY_START", "in_77c1", caller))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_77c1", caller, internal="101"))
    await zd.notify_ok(end("in_77c1", caller, disposition="no answer", duration="0",
                           internal=""))
    call = await zd.call()
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "no_answer", 0)
    assert call["has_record"] is False
    assert await zd.notifications("operator") == ["ringing", "ended"]
    found = (await zd.api.ok("GET", "/api/v1/contacts?phone=+79035550011"))["contacts"]
    assert [c["name"] for c in found] == [caller]
    assert call["contact_id"] == found[0]["id"]
    assert call["activity"]["data"]["missed"] is True
    # The "ended" notification carries the contact the same webhook created (issue #19):
    # a live page must not offer to create a second one for this number.
    response = await zd.service.client.get(
        f"/api/v1/notifications?token={zd.tokens['operator']}")
    ended = (await response.json())["notifications"][-1]["payload"]
    assert ended["contact"]["id"] == found[0]["id"]
    assert ended["call"]["contact_id"] == found[0]["id"]


async def test_outgoing_call(zd: Tenant) -> None:
    await zd.notify_ok(outgoing("NOTIFY_OUT_START"))
    [call] = await zd.calls()
    assert (call["direction"], call["state"], call["src_phone"]) == ("out", "ringing", "101")
    await zd.notify_ok(outgoing("NOTIFY_OUT_END", caller_id=COMPANY, duration="0",
                                disposition="busy", status_code="17", is_recorded="0",
                                call_id_with_rec=""))
    call = await zd.call()
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "busy", 0)
    assert call["activity"]["data"]["client_phone"] == "79031234567"
    assert await zd.notifications("operator") == ["ringing", "ended"]
    # An unanswered outgoing call is not a missed call: no contact is made for it.
    assert (await zd.api.ok("GET", "/api/v1/contacts"))["contacts"] == []


async def test_recording_reported_apart_from_the_end_joins_the_record(zd: Tenant) -> None:
    # Before its END: remembered, nothing to act on yet.
    await zd.notify_ok(record_ready("in_1111", "1709540300.7"))
    assert await zd.calls() == []
    await zd.notify_ok(end("in_1111", recording=""))
    call = await zd.call()
    assert call["has_record"] is True
    assert call["record_call"] == {"call_id": "1709540300.7", "pbx_call_id": "in_1111"}

    # After an END that had no recording: the record gains its player, still one entry.
    await zd.notify_ok(end("in_2222", caller="79035550022", recording=""))
    await zd.notify_ok(record_ready("in_2222", "1709540400.9"))
    calls = {c["provider_call_id"]: c for c in await zd.calls()}
    assert calls["in_2222"]["has_record"] is True
    detail = await zd.api.ok("GET", f"/api/v1/calls/{calls['in_2222']['id']}")
    assert [e["effect"] for e in detail["events"] if e["kind"] == "call_record"] == [
        "applied", "applied"]
    contact_id = detail["activity"]["contact_id"]
    assert contact_id is None  # an answered call from an unknown number makes no contact
    assert detail["activity"]["data"]["call"]["call_id"] == "1709540400.9"

    # Zadarma retries that END (its reply was lost): a repeat, the recording stays (the
    # retry's record, without it, erased it).
    await zd.notify_ok(end("in_2222", caller="79035550022", recording=""))
    detail = await zd.api.ok("GET", f"/api/v1/calls/{calls['in_2222']['id']}")
    assert detail["has_record"] is True
    assert detail["activity"]["data"]["call"]["call_id"] == "1709540400.9"
    assert [e["effect"] for e in detail["events"] if e["kind"] == "call_record"] == [
        "applied", "applied", "repeat"]


async def test_every_disposition_string_is_mapped(zd: Tenant) -> None:
    expected = {
        "answered": "answered", "busy": "busy", "cancel": "cancel", "no answer": "no_answer",
        "failed": "failed", "no money": "no_money", "unallocated number": "unallocated_number",
        "no limit": "no_limit", "no day limit": "no_day_limit", "line limit": "line_limit",
        "no money, no limit": "no_money_no_limit", "something new": "unknown",
    }
    seen = {}
    for text in expected:
        fields = end(disposition=text)
        report = await zd.api.ok("POST", f"/api/v1/modules/{zd.module['id']}/dry-run", {
            "request": {"method": "POST", "body": urlencode(fields), "headers": {
                "Content-Type": "application/x-www-form-urlencoded",
                "Signature": signature(fields)}},
        })
        assert report["ok"], report
        seen[text] = report["result"]["event"]["disposition"]
        assert report["result"]["callRecord"]["disposition"] == seen[text]
        assert report["result"]["callRecord"]["duration"] == (74 if text == "answered" else 0)
    assert seen == expected
    assert await zd.calls() == []


async def test_wrong_signature_is_403_and_nothing_is_stored(zd: Tenant) -> None:
    attempts = [
        await zd.notify(incoming("NOTIFY_START"), secret="not-the-secret"),
        await zd.notify(end(recording="1709540102.55"), sign="bm90LWEtc2lnbmF0dXJl"),
        await zd.notify(incoming("NOTIFY_INTERNAL", internal="101"), sign=""),
    ]
    for response in attempts:
        assert response.status == 403
        assert await response.text() == "invalid signature"
    # The refused END remembered nothing: its (genuine) NOTIFY_RECORD finds no record to send.
    await zd.notify_ok(record_ready())
    assert await zd.calls() == []
    assert await zd.notifications("operator") == []
    runs = await zd.executions("VoipParseWebhookRequest")
    assert len(runs) == 4 and {r["outcome"] for r in runs} == {"ok"}
    refused = [await zd.api.ok("GET", f"/api/v1/executions/{r['id']}") for r in runs]
    refused = [r for r in refused if (r["result"].get("response") or {}).get("status") == 403]
    assert len(refused) == 3
    for execution in refused:
        assert "Signature header does not match" in execution["logs"]
        assert execution["effects"]["call"] is None
        assert execution["effects"]["storage"] == []


async def test_other_notification_kinds_are_ignored(zd: Tenant) -> None:
    response = await zd.notify({"event": "NOTIFY_IVR", "call_start": CALL_START,
                                "pbx_call_id": "in_3", "caller_id": CLIENT}, sign="")
    assert response.status == 200
    assert await zd.calls() == []


async def test_test_connection_members_and_click_to_call(zd: Tenant, fake: FakeZadarma) -> None:
    module_id = zd.module["id"]
    tested = await zd.api.ok("POST", f"/api/v1/modules/{module_id}/test-connection")
    assert tested["success"] is True, tested
    members = (await zd.api.ok("POST", f"/api/v1/modules/{module_id}/load-members"))["members"]
    assert [(m["id"], m["user_id"]) for m in members] == [
        ("100", None), ("101", zd.users["operator"]["id"]), ("102", zd.users["anna"]["id"])]

    response = await zd.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": "79161234567"},
        headers={"Authorization": f"Bearer {zd.tokens['anna']}"})
    assert response.status == 202, await response.text()
    assert (await response.json())["from"] == "102"
    callback = [r for r in fake.requests if r["path"] == "/v1/request/callback/"]
    assert callback == [{"path": "/v1/request/callback/", "auth": True,
                         "query": {"from": "102", "to": "79161234567", "format": "json"}}]
    assert [r["path"] for r in fake.requests] == [
        "/v1/info/balance/", "/v1/pbx/internal/", "/v1/request/callback/"], fake.requests


async def test_wrong_api_secret_fails_the_connection_test(zd: Tenant) -> None:
    await zd.api.ok("PATCH", f"/api/v1/modules/{zd.module['id']}", {"settings": {
        "apiBaseUrl": zd.module["settings"]["apiBaseUrl"], "apiKey": API_KEY,
        "apiSecret": "an-old-secret-value"}})
    tested = await zd.api.ok("POST", f"/api/v1/modules/{zd.module['id']}/test-connection")
    assert tested["success"] is False
    assert "HTTP 401: Not authorized" in tested["failReason"], tested


async def test_fetch_to_a_host_off_the_allowlist_is_refused(zd: Tenant, fake: FakeZadarma
                                                             ) -> None:
    await zd.notify_ok(end(recording="1709540102.55"))
    await zd.api.ok("PATCH", f"/api/v1/modules/{zd.module['id']}",
                    {"allowlist": ["api.zadarma.com"]})

    # The script catches the FetchError and says why the connection test failed.
    tested = await zd.api.ok("POST", f"/api/v1/modules/{zd.module['id']}/test-connection")
    assert tested["success"] is False
    assert "host not allowed: 127.0.0.1 is not on the module's fetch allowlist" in (
        tested["failReason"])
    execution = await zd.api.ok("GET", f"/api/v1/executions/{tested['execution_id']}")
    assert execution["outcome"] == "ok"
    [attempt] = execution["effects"]["fetches"]
    assert attempt["url"].startswith(fake.base + "/v1/info/balance/?")
    assert attempt["error"].startswith("host not allowed")
    assert attempt["status"] is None

    # Playback lets it propagate: the API says the script failed, the log says why.
    call = await zd.call()
    response = await zd.api.get(f"/api/v1/calls/{call['id']}/recording?format=json")
    assert response.status == 502
    body = await response.json()
    assert "host not allowed" in body["message"]
    failed = await zd.api.ok("GET", f"/api/v1/executions/{body['details']['execution_id']}")
    assert failed["outcome"] == "error"
    assert failed["error"]["type"] == "FetchError"
    assert fake.requests == []  # nothing ever left the service
