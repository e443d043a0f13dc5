"""Mango Office, a provider beside the three of providers.md, written by a builder
(tests/e2e/builder_modules/mango/): the PBX appends the kind of notification to the webhook
URL (`/events/call`, `/events/summary`, `/events/recording`) and posts its JSON in a signed
form field. Whole call sequences through the service on SQLite and PostgreSQL, in order, out of
order and repeated, then what the contract (§5) says the service stores and tells."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant

__all__ = ["backend_service"]  # the fixture, imported for pytest
KEY, SALT = "mango-api-key", "mango-salt"
CLIENT = "79161234567"
LINE = "74951112233"
PLAYER = "https://app.mango-office.example"


class Mango(ProviderTenant):
    async def post(self, kind: str, data: dict[str, Any], *, salt: str = SALT
                   ) -> tuple[int, str]:
        raw = json.dumps(data)
        sign = hashlib.sha256(f"{KEY}{raw}{salt}".encode()).hexdigest()
        response = await self.service.client.post(
            f"{self.hook_path}/events/{kind}",
            data=urlencode({"vpbx_api_key": KEY, "sign": sign, "json": raw}),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return response.status, await response.text()

    async def ok(self, kind: str, data: dict[str, Any]) -> None:
        assert await self.post(kind, data) == (200, "OK")

    async def notes(self, operator: str) -> list[tuple[str, str | None]]:
        """(kind, contact name) of each notification the operator got, oldest first."""
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens[operator]}")
        assert response.status == 200
        return [(n["kind"], (n["payload"]["contact"] or {}).get("name"))
                for n in (await response.json())["notifications"]]

    async def history(self, entry: str) -> list[tuple[str, str, str]]:
        return [(e["kind"], e["dst_phone"], e["effect"])
                for e in (await self.call(entry))["events"]]

    async def contacts(self) -> list[dict[str, Any]]:
        return list((await self.api.ok("GET", "/api/v1/contacts"))["contacts"])


async def mango(service: Service) -> Mango:
    return await provider_tenant(Mango, service, {
        "name": "mango", "region": "RU",
        "settings": {"apiKey": KEY, "apiSalt": SALT, "apiBase": PLAYER},
        "secrets": ["apiSalt"],
    }, builder_script("mango"), {"a": "anna", "b": "boris", "c": "cyril"},
        {"101": "a", "102": "b", "103": "c"})


def call_state(state: str, ext: str | None = None, entry: str = "E1", caller: str = CLIENT
               ) -> dict[str, Any]:
    callee = ({"extension": ext, "number": f"sip:{ext}@pbx", "line_number": LINE} if ext
              else {"number": LINE, "line_number": LINE})
    return {"entry_id": entry, "call_id": f"{entry}-{ext}", "timestamp": 1709540102,
            "call_state": state, "location": "abonent", "from": {"number": caller},
            "to": callee}


def summary(ext: str, *, answered: bool, talk: int = 0, entry: str = "E1",
            caller: str = CLIENT) -> dict[str, Any]:
    return {"entry_id": entry, "call_direction": 1, "from": {"number": caller},
            "to": {"extension": ext}, "line_number": LINE, "create_time": 1709540100,
            "talk_time": 1709540110 if answered else 0, "end_time": 1709540110 + talk,
            "entry_result": 1 if answered else 0, "disconnect_reason": 1110}


def recording(entry: str = "E1", rec: str = "R1") -> dict[str, Any]:
    return {"entry_id": entry, "recording_id": rec, "recording_state": "Completed"}


async def test_group_ring_transfer_and_a_recording_before_the_summary(
        backend_service: Service) -> None:
    m = await mango(backend_service)
    contact = await m.api.ok("POST", "/api/v1/contacts",
                             {"name": "Ivan", "phones": ["8 (916) 123-45-67"]}, status=201)
    await m.ok("call", call_state("Appeared"))
    await m.ok("call", call_state("Appeared", "101"))
    await m.ok("call", call_state("Appeared", "102"))
    await m.ok("call", call_state("Connected", "101"))
    await m.ok("call", call_state("Disconnected", "102"))  # the colleague's leg stops ringing
    await m.ok("call", call_state("Appeared", "103"))  # 101 transfers the call to 103
    await m.ok("call", call_state("Connected", "103"))
    await m.ok("recording", recording())
    await m.ok("call", call_state("Disconnected"))
    await m.ok("summary", summary("103", answered=True, talk=60))
    await m.ok("summary", summary("103", answered=True, talk=60))  # Mango's retry

    call = await m.call("E1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 60)
    assert (call["answered_phone"], call["answered_user_id"]) == ("103", m.users["c"]["id"])
    assert call["contact_id"] == contact["id"]
    assert call["record_call"] == {"recording_id": "R1"}
    assert await m.history("E1") == [
        ("notify_start", LINE, "applied"), ("notify_internal", "101", "applied"),
        ("notify_internal", "102", "applied"), ("notify_answer", "101", "applied"),
        ("notify_internal", "103", "applied"), ("notify_answer", "103", "applied"),
        ("notify_end", "103", "applied"), ("call_record", "103", "applied"),
        ("notify_end", "103", "repeat"), ("call_record", "103", "repeat")]
    assert await m.notes("a") == [("ringing", "Ivan"), ("answered", "Ivan"), ("ended", "Ivan")]
    assert await m.notes("b") == [("ringing", "Ivan"), ("ended", "Ivan")]
    assert await m.notes("c") == [("ringing", "Ivan"), ("answered", "Ivan"), ("ended", "Ivan")]
    [entry] = (await m.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert (entry["data"]["duration"], entry["data"]["missed"]) == (60, False)
    assert entry["data"]["call"] == {"recording_id": "R1"}
    played = await m.service.client.get(
        f"/api/v1/calls/{call['id']}/recording?token={m.tokens['c']}", allow_redirects=False)
    assert (played.status, played.headers["Location"]) == (302, f"{PLAYER}/recording/R1/play")


async def test_a_recording_after_the_summary_updates_the_one_activity_entry(
        backend_service: Service) -> None:
    m = await mango(backend_service)
    await m.ok("call", call_state("Appeared", "102", entry="E2"))
    await m.ok("call", call_state("Connected", "102", entry="E2"))
    await m.ok("summary", summary("102", answered=True, talk=42, entry="E2"))
    before = await m.call("E2")
    assert (before["has_record"], before["activity"]["data"]["has_record"]) == (False, False)
    await m.ok("recording", recording("E2", "R2"))
    await m.ok("recording", recording("E2", "R2"))  # delivered twice
    call = await m.call("E2")
    assert call["record_call"] == {"recording_id": "R2"} and call["has_record"] is True
    assert call["activity"]["id"] == before["activity"]["id"]
    assert call["activity"]["data"]["call"] == {"recording_id": "R2"}
    assert [e[2] for e in await m.history("E2") if e[0] == "call_record"] == [
        "applied", "applied", "repeat"]
    assert await m.notes("b") == [("ringing", None), ("answered", None), ("ended", None)]
    played = await m.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == f"{PLAYER}/recording/R2/play"


async def test_missed_calls_from_a_new_number_make_one_contact(
        backend_service: Service) -> None:
    m = await mango(backend_service)
    caller = "+7 (903) 555-00-11"
    await m.ok("call", call_state("Appeared", "101", entry="M1", caller=caller))
    await m.ok("call", call_state("Appeared", "102", entry="M1", caller=caller))
    await m.ok("summary", summary("101", answered=False, entry="M1", caller=caller))
    [contact] = await m.contacts()
    assert contact["name"] == caller
    assert contact["phones"] == [{"raw": caller, "normalized": "+79035550011"}]
    # The ended notifications carry the contact the same result created (contract §5.3).
    assert await m.notes("a") == [("ringing", None), ("ended", caller)]
    assert await m.notes("b") == [("ringing", None), ("ended", caller)]
    # The same client calls again, written the provider's other way: the same contact.
    await m.ok("call", call_state("Appeared", "103", entry="M2", caller="89035550011"))
    await m.ok("summary", summary("103", answered=False, entry="M2", caller="89035550011"))
    assert [c["id"] for c in await m.contacts()] == [contact["id"]]
    activity = (await m.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert sorted((a["data"]["call_id"], a["data"]["missed"]) for a in activity) == [
        ("M1", True), ("M2", True)]
    assert await m.notes("c") == [("ringing", caller), ("ended", caller)]


async def test_a_summary_before_the_call_events_and_a_forged_sign(
        backend_service: Service) -> None:
    m = await mango(backend_service)
    assert await m.post("summary", summary("101", answered=True, talk=5, entry="X1"),
                        salt="guess") == (403, '{"error": "bad signature"}')
    assert await m.calls() == []
    await m.ok("summary", summary("101", answered=True, talk=5, entry="X1"))
    await m.ok("call", call_state("Appeared", "101", entry="X1"))  # delivered late
    await m.ok("call", call_state("Connected", "101", entry="X1"))
    call = await m.call("X1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 5)
    # Who answered comes from the answered record, as no answer event had come.
    assert (call["answered_phone"], call["answered_user_id"]) == ("101", m.users["a"]["id"])
    assert await m.history("X1") == [
        ("notify_end", "101", "applied"), ("call_record", "101", "applied"),
        ("notify_internal", "101", "late"), ("notify_answer", "101", "late")]
    assert await m.notes("a") == []  # late events tell no one
    assert await m.contacts() == []  # an answered call is not a missed one
