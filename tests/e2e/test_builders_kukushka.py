"""A SIP-trunk PBX written by a builder (tests/e2e/builder_modules/kukushka/): GET webhooks
whose caller is what the trunk gives, a SIP URI (`sip:+7 (916) 123-45-67@trunk.example`) or a
foreign-style `00 7 ...` number, passed on unchanged as the contract allows. Contract §5.3:
numbers compare after normalisation, so such a caller finds the client's contact, and missed
calls from one client written these ways make one contact. They were no number at all: each
made no contact, and a known client rang as a stranger."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant

__all__ = ["backend_service"]  # the fixture, imported for pytest
KEY = "kukushka-key"
PLAYER = "https://rec.kukushka.example"


class Kukushka(ProviderTenant):
    async def get(self, params: dict[str, str]) -> tuple[int, str]:
        text = "&".join(f"{k}={params[k]}" for k in sorted(params))
        signed = {**params, "sign": hashlib.md5((text + KEY).encode()).hexdigest()}
        response = await self.service.client.get(f"{self.hook_path}?{urlencode(signed)}")
        return response.status, await response.text()

    async def ok(self, kind: str, call: str, client: str, **extra: str) -> None:
        params = {"type": kind, "call": call, "client": client, "operator": "sip:201@pbx.local",
                  "start": "1765100000000", **extra}
        assert await self.get(params) == (200, '{"result": "ok"}')

    async def notes(self) -> list[tuple[str, str | None]]:
        """(kind, contact name) of each notification the operator got, oldest first."""
        response = await self.service.client.get(
            f"/api/v1/notifications?token={self.tokens['o']}")
        assert response.status == 200
        return [(n["kind"], (n["payload"]["contact"] or {}).get("name"))
                for n in (await response.json())["notifications"]]

    async def contacts(self) -> list[dict[str, Any]]:
        return list((await self.api.ok("GET", "/api/v1/contacts"))["contacts"])


async def kukushka(service: Service) -> Kukushka:
    return await provider_tenant(Kukushka, service, {
        "name": "kukushka", "region": "RU", "settings": {"key": KEY, "player": PLAYER},
        "secrets": ["key"],
    }, builder_script("kukushka"), {"o": "olga"}, {"201": "o"})


async def test_a_caller_given_as_a_sip_uri_finds_the_clients_contact(
        backend_service: Service) -> None:
    k = await kukushka(backend_service)
    ivan = await k.api.ok("POST", "/api/v1/contacts",
                          {"name": "Ivan", "phones": ["8 (916) 123-45-67"]}, status=201)
    caller = "sip:+7 (916) 123-45-67@trunk.example"
    await k.ok("ringing", "K1", caller)
    await k.ok("answered", "K1", caller, start="2026-12-07T10:00:00Z")
    await k.ok("hangup", "K1", caller, result="ok", talk="42", rec="K1 запись")

    call = await k.call("K1")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "answered", 42)
    assert (call["client_phone"], call["client_phone_normalized"]) == (caller, "+79161234567")
    assert call["contact_id"] == ivan["id"]
    assert await k.notes() == [("ringing", "Ivan"), ("answered", "Ivan"), ("ended", "Ivan")]
    assert [c["id"] for c in await k.contacts()] == [ivan["id"]]
    [entry] = (await k.api.ok("GET", f"/api/v1/contacts/{ivan['id']}/activity"))["activity"]
    assert (entry["data"]["call_id"], entry["data"]["src_phone"]) == ("K1", caller)
    token = hmac.new(KEY.encode(), "K1 запись".encode(), hashlib.sha256).hexdigest()[:16]
    played = await k.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert played["url"] == f"{PLAYER}/rec/K1%20%D0%B7%D0%B0%D0%BF%D0%B8%D1%81%D1%8C.mp3?t={token}"


async def test_missed_calls_from_one_client_written_the_trunks_ways_make_one_contact(
        backend_service: Service) -> None:
    k = await kukushka(backend_service)
    spellings = ["00 7 903 555-00-11", "sip:89035550011@trunk.example",
                 "<sip:79035550011@10.0.0.1:5060>"]
    for n, caller in enumerate(spellings):
        await k.ok("ringing", f"M{n}", caller)
        await k.ok("hangup", f"M{n}", caller, result="noanswer")
    [contact] = await k.contacts()
    assert contact["phones"] == [{"raw": spellings[0], "normalized": "+79035550011"}]
    activity = (await k.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert sorted((a["data"]["call_id"], a["data"]["missed"]) for a in activity) == [
        ("M0", True), ("M1", True), ("M2", True)]
    name = contact["name"]
    assert await k.notes() == [("ringing", None), ("ended", name),
                               ("ringing", name), ("ended", name),
                               ("ringing", name), ("ended", name)]


async def test_a_forged_sign_is_refused(backend_service: Service) -> None:
    k = await kukushka(backend_service)
    response = await k.service.client.get(
        f"{k.hook_path}?type=ringing&call=F1&client=79161234567&operator=sip:201@pbx&sign=x")
    assert (response.status, await response.text()) == (403, "bad sign")
    assert await k.calls() == []
