"""Twilio Programmable Voice, a provider beside the three of providers.md, written by a builder
(tests/e2e/builder_modules/twilio/): form-posted status callbacks signed over the full URL the
provider called, a dialled operator as a child leg of the client's call, a recording callback
that carries ids only, and TwiML (`text/xml`) replies. Whole call sequences through the service
on SQLite and PostgreSQL, then what the contract (§5) says the service stores and tells."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant

__all__ = ["backend_service"]  # the fixture, imported for pytest
TOKEN = "twilio-auth-token"
ACCOUNT = "AC0123"
API = "https://api.twilio.example"
CLIENT = "+14155550123"
COMPANY = "+14155550100"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class Twilio(ProviderTenant):
    async def post(self, fields: dict[str, str], *, token: str = TOKEN
                   ) -> tuple[int, str, str | None]:
        url = str(self.service.client.make_url(self.hook_path))  # the URL the provider calls
        data = url + "".join(f"{k}{fields[k]}" for k in sorted(fields))
        signature = base64.b64encode(
            hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
        response = await self.service.client.post(
            self.hook_path, data=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature})
        return response.status, await response.text(), response.headers.get("Content-Type")

    async def ok(self, fields: dict[str, str]) -> None:
        assert await self.post(fields) == (200, TWIML, "text/xml")

    async def notes(self, operator: str) -> list[tuple[str, str]]:
        """(kind, provider call id) of each notification the operator got, oldest first."""
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens[operator]}")
        assert response.status == 200
        return [(n["kind"], n["payload"]["call"]["provider_call_id"])
                for n in (await response.json())["notifications"]]


async def twilio(service: Service) -> Twilio:
    return await provider_tenant(Twilio, service, {
        "name": "twilio", "region": "US",
        "settings": {"accountSid": ACCOUNT, "authToken": TOKEN, "apiBase": API,
                     "companyNumber": COMPANY, "verifySignature": True},
        "secrets": ["authToken"],
    }, builder_script("twilio"), {"a": "alice", "b": "bob"},
        {"client:alice": "a", "client:bob": "b"})


def parent(status: str, sid: str = "CA1", caller: str = CLIENT, **extra: str) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": COMPANY,
            "Direction": "inbound", "CallStatus": status, **extra}


def child(status: str, operator: str, sid: str, parent_sid: str = "CA1") -> dict[str, str]:
    return {"CallSid": sid, "ParentCallSid": parent_sid, "AccountSid": ACCOUNT, "From": CLIENT,
            "To": f"client:{operator}", "Direction": "outbound-dial", "CallStatus": status}


async def test_a_call_rung_answered_transferred_ended_and_recorded(
        backend_service: Service) -> None:
    t = await twilio(backend_service)
    await t.ok(parent("ringing"))
    await t.ok(child("ringing", "alice", "CA2"))
    await t.ok(child("in-progress", "alice", "CA2"))
    await t.ok(child("ringing", "bob", "CA3"))        # alice transfers the client to bob
    await t.ok(child("completed", "alice", "CA2"))    # alice's leg ends: not the call's end
    await t.ok(parent("completed", CallDuration="74"))
    await t.ok(parent("completed", RecordingSid="RE9", RecordingStatus="completed",
                      RecordingStartTime="Tue, 04 Mar 2025 10:15:02 +0000"))
    await t.ok(parent("completed", CallDuration="74"))    # Twilio retries the end: a repeat

    call = await t.call("CA1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 74)
    assert (call["src_phone"], call["answered_phone"]) == (CLIENT, "client:alice")
    assert call["answered_user_id"] == t.users["a"]["id"]
    # The retried end carried no recording; the one the recording callback added stays.
    assert call["record_call"] == {"recordingSid": "RE9", "started": "2025-03-04T10:15:02+00:00"}
    assert await t.notes("a") == [("ringing", "CA1"), ("answered", "CA1"), ("ended", "CA1")]
    assert await t.notes("b") == [("ringing", "CA1"), ("ended", "CA1")]
    played = await t.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == f"{API}/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE9.mp3"


async def test_a_missed_call_makes_a_contact_and_a_forged_one_changes_nothing(
        backend_service: Service) -> None:
    t = await twilio(backend_service)
    stranger = "+14155550199"
    forged = parent("no-answer", "CA5", caller=stranger)
    status, body, _ = await t.post(forged, token="not-the-token")
    assert (status, body) == (403, "bad signature")
    assert await t.calls() == []

    await t.ok(parent("ringing", "CA5", caller=stranger))
    await t.ok(child("ringing", "alice", "CA6", parent_sid="CA5"))
    await t.ok(child("no-answer", "alice", "CA6", parent_sid="CA5"))
    await t.ok(parent("no-answer", "CA5", caller=stranger))

    call = await t.call("CA5")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "no_answer", 0)
    assert call["answered_phone"] is None
    contacts: list[dict[str, Any]] = (await t.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert [(c["name"], [p["normalized"] for p in c["phones"]]) for c in contacts] == [
        (stranger, [stranger])]
    assert call["contact_id"] == contacts[0]["id"]
    activity = await t.api.ok("GET", f"/api/v1/contacts/{contacts[0]['id']}/activity")
    assert [(a["call_id"], a["data"]["disposition"], a["data"]["missed"])
            for a in activity["activity"]] == [(call["id"], "no_answer", True)]
    assert await t.notes("a") == [("ringing", "CA5"), ("ended", "CA5")]
