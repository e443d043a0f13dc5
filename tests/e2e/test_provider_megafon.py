"""The MegaFon sample module end to end: crm_token form posts as the virtual PBX sends them.

MegaFon hands the recording's link over with cmd=history, so the fake PBX on loopback only
serves the recording files those links point at; the test plays one through the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse, ClientSession, web

from tests.e2e.conftest import ROOT, Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving

SCRIPT = (ROOT / "scripts" / "megafon" / "script.py").read_text(encoding="utf-8")
TOKEN = "mf-crm-token-6b1f0e"
CLIENT = "79031234567"
COMPANY = "74951112233"


@pytest.fixture
async def pbx() -> AsyncIterator[str]:
    """MegaFon's recording storage: the base URL of the links its history sends."""

    async def recording(request: web.Request) -> web.Response:
        return web.Response(body=b"ID3-" + request.match_info["name"].encode(),
                            content_type="audio/mpeg")

    app = web.Application()
    app.router.add_get("/rec/{name}", recording)
    async with serving(app) as base:
        yield base


class Tenant(ProviderTenant):
    async def post(self, fields: dict[str, str], token: str | None = TOKEN) -> ClientResponse:
        body = dict(fields)
        if token is not None:
            body["crm_token"] = token
        return await self.service.client.post(
            self.hook_path, data=urlencode(body),
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    async def post_ok(self, fields: dict[str, str]) -> None:
        response = await self.post(fields)
        text = await response.text()
        assert response.status == 200, text
        assert text == ""


@pytest.fixture
async def mf(service: Service) -> Tenant:
    return await provider_tenant(Tenant, service, {
        "name": "megafon", "region": "RU",
        "settings": {"crmToken": TOKEN, "memberField": "user", "defaultResponsible": ""},
        "secrets": ["crmToken"],
    }, SCRIPT, {"ivanov": "ivanov", "petrova": "petrova"},
        {"ivanov": "ivanov", "petrova": "petrova"})


EXTENSIONS = {"ivanov": "201", "petrova": "202", "": ""}


def event(kind: str, user: str, callid: str = "8844120031", phone: str = CLIENT,
          direction: str = "in") -> dict[str, str]:
    return {"cmd": "event", "type": kind, "user": user, "ext": EXTENSIONS[user],
            "telnum": COMPANY, "phone": phone, "diversion": COMPANY, "direction": direction,
            "callid": callid}


def history(status: str, user: str = "ivanov", callid: str = "8844120031", phone: str = CLIENT,
            kind: str = "in", duration: str = "93", link: str = "") -> dict[str, str]:
    fields = {"cmd": "history", "type": kind, "user": user, "ext": EXTENSIONS[user],
              "phone": phone, "diversion": COMPANY, "start": "20250304T101502Z",
              "duration": duration, "callid": callid, "status": status}
    if link:
        fields["link"] = link
    return fields


async def test_wrong_token_is_403_and_nothing_is_stored(mf: Tenant) -> None:
    attempts = [
        await mf.post(event("INCOMING", "ivanov"), token="not-the-token"),
        await mf.post(event("ACCEPTED", "ivanov"), token=None),
        await mf.post(history("Success"), token=TOKEN.upper()),
        await mf.post({"cmd": "contact", "phone": CLIENT}, token="ключ"),
    ]
    for response in attempts:
        assert response.status == 403
        assert await response.text() == "invalid crm_token"
    assert await mf.calls() == []
    assert await mf.notifications("ivanov") == []
    runs = (await mf.api.ok("GET", "/api/v1/executions"))["executions"]
    assert len(runs) == 4 and {r["outcome"] for r in runs} == {"ok"}
    for run in runs:
        execution = await mf.api.ok("GET", f"/api/v1/executions/{run['id']}")
        assert execution["result"]["response"]["status"] == 403
        assert "crm_token does not match" in execution["logs"]
        assert execution["effects"]["call"] is None
        assert execution["effects"]["storage"] == []


async def test_group_call_answered_with_recording(mf: Tenant, pbx: str) -> None:
    contact = await mf.api.ok("POST", "/api/v1/contacts",
                              {"name": "Olga Client", "phones": ["8 903 123-45-67"]}, status=201)
    await mf.post_ok(event("INCOMING", "ivanov"))
    await mf.post_ok(event("INCOMING", "petrova"))
    assert await mf.notifications("ivanov") == ["ringing"]
    assert await mf.notifications("petrova") == ["ringing"]
    await mf.post_ok(event("ACCEPTED", "ivanov"))
    # Petrova's phone stops ringing because Ivanov answered: the call goes on.
    await mf.post_ok(event("CANCELLED", "petrova"))
    assert (await mf.call())["state"] == "answered"
    # One phone hung up: the call ends with the history MegaFon sends once it is over.
    await mf.post_ok(event("COMPLETED", "ivanov"))
    assert (await mf.call())["state"] == "answered"
    link = f"{pbx}/rec/8844120031.mp3"
    await mf.post_ok(history("Success", link=link))

    call = await mf.call()
    assert (call["state"], call["disposition"], call["duration"], call["has_record"]) == (
        "ended", "answered", 93, True)
    assert call["contact_id"] == contact["id"]
    assert [(e["kind"], e["effect"]) for e in call["events"]] == [
        ("notify_start", "applied"), ("notify_start", "applied"), ("notify_answer", "applied"),
        ("notify_end", "applied"), ("call_record", "applied")]
    assert await mf.notifications("ivanov") == ["ringing", "answered", "ended"]
    assert await mf.notifications("petrova") == ["ringing", "ended"]
    activity = (await mf.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity"))["activity"]
    assert [a["data"]["call"] for a in activity] == [{"link": link}]

    played = await mf.service.client.get(
        f"/api/v1/calls/{call['id']}/recording?token={mf.tokens['ivanov']}",
        allow_redirects=False)
    assert played.status == 302
    assert played.headers["Location"] == link
    async with ClientSession() as browser, browser.get(played.headers["Location"]) as audio:
        assert audio.content_type == "audio/mpeg"
        assert await audio.read() == b"ID3-8844120031.mp3"


async def test_phones_ringing_in_turn_do_not_end_the_call(mf: Tenant) -> None:
    await mf.post_ok(event("INCOMING", "ivanov"))
    await mf.post_ok(event("CANCELLED", "ivanov"))  # nobody answered; the group moves on
    await mf.post_ok(event("INCOMING", "petrova"))
    assert (await mf.call())["state"] == "ringing"
    assert await mf.notifications("petrova") == ["ringing"]
    await mf.post_ok(event("ACCEPTED", "petrova"))
    await mf.post_ok(event("COMPLETED", "petrova"))
    await mf.post_ok(history("Success", user="petrova"))
    call = await mf.call()
    assert (call["state"], call["disposition"]) == ("ended", "answered")
    assert await mf.notifications("petrova") == ["ringing", "answered", "ended"]
    assert await mf.notifications("ivanov") == ["ringing", "ended"]


async def test_transferred_call_ends_with_the_operator_who_holds_it(mf: Tenant) -> None:
    await mf.post_ok(event("INCOMING", "ivanov"))
    await mf.post_ok(event("ACCEPTED", "ivanov"))
    await mf.post_ok(event("TRANSFERRED", "petrova"))
    # A transfer rings at Petrova's phone: she is told, the call stays answered.
    assert await mf.notifications("petrova") == ["ringing"]
    assert (await mf.call())["state"] == "answered"
    await mf.post_ok(event("COMPLETED", "ivanov"))  # Ivanov hung up after transferring
    assert (await mf.call())["state"] == "answered"
    await mf.post_ok(event("ACCEPTED", "petrova"))
    await mf.post_ok(event("COMPLETED", "petrova"))
    assert (await mf.call())["state"] == "answered"
    await mf.post_ok(history("Success", user="petrova"))
    call = await mf.call()
    assert (call["state"], call["answered_phone"]) == ("ended", "petrova")
    assert [(e["kind"], e["effect"]) for e in call["events"]] == [
        ("notify_start", "applied"), ("notify_answer", "applied"),
        ("notify_internal", "applied"), ("notify_answer", "applied"),
        ("notify_end", "applied"), ("call_record", "applied")]
    assert await mf.notifications("petrova") == ["ringing", "answered", "ended"]
    assert await mf.notifications("ivanov") == ["ringing", "answered", "ended"]


async def test_missed_call_history_creates_a_contact(mf: Tenant) -> None:
    caller = "79035550011"
    await mf.post_ok(event("INCOMING", "ivanov", "8844120040", caller))
    await mf.post_ok(event("CANCELLED", "ivanov", "8844120040", caller))
    assert (await mf.call("8844120040"))["state"] == "ringing"
    await mf.post_ok(history("missed", user="", callid="8844120040", phone=caller,
                             duration="0"))
    call = await mf.call("8844120040")
    assert (call["state"], call["disposition"], call["has_record"]) == (
        "ended", "no_answer", False)
    assert await mf.notifications("ivanov") == ["ringing", "ended"]
    found = (await mf.api.ok("GET", f"/api/v1/contacts?phone={caller}"))["contacts"]
    assert [c["name"] for c in found] == [caller]
    assert call["activity"]["data"]["missed"] is True


async def test_outgoing_call(mf: Tenant) -> None:
    out = {"user": "ivanov", "callid": "8844120099", "phone": "79161234567", "direction": "out"}
    await mf.post_ok(event("OUTGOING", **out))
    call = await mf.call("8844120099")
    assert (call["direction"], call["src_phone"], call["dst_phone"]) == (
        "out", "ivanov", "79161234567")
    await mf.post_ok(event("CANCELLED", **out))
    assert (await mf.call("8844120099"))["disposition"] == "cancel"
    await mf.post_ok(history("Busy", callid="8844120099", phone="79161234567", kind="out",
                             duration="0"))
    call = await mf.call("8844120099")
    assert (call["state"], call["disposition"], call["duration"]) == ("ended", "busy", 0)
    assert await mf.notifications("ivanov") == ["ringing", "ended"]
    assert (await mf.api.ok("GET", "/api/v1/contacts"))["contacts"] == []


async def test_every_history_status_is_mapped(mf: Tenant) -> None:
    expected = {"Success": "answered", "missed": "no_answer", "Cancel": "cancel",
                "Busy": "busy", "NotAvailable": "failed", "NotAllowed": "failed",
                "NotFound": "unallocated_number", "Odd": "unknown"}
    seen = {}
    for status in expected:
        body = urlencode({**history(status), "crm_token": TOKEN})
        report = await mf.api.ok("POST", f"/api/v1/modules/{mf.module['id']}/dry-run", {
            "request": {"method": "POST", "body": body,
                        "headers": {"Content-Type": "application/x-www-form-urlencoded"}}})
        assert report["ok"], report
        record = report["result"]["callRecord"]
        seen[status] = record["disposition"]
        assert record["duration"] == (93 if status == "Success" else 0)
        assert "call" not in record  # no link, no recording
    assert seen == expected
    assert await mf.calls() == []


async def test_contact_lookup_names_the_responsible_operator(mf: Tenant) -> None:
    async def ask(phone: str) -> Any:
        response = await mf.post({"cmd": "contact", "phone": phone, "callid": "1"})
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        return await response.json()

    assert await ask(CLIENT) == {"contact_name": ""}
    await mf.post_ok(history("Success", user="petrova"))
    assert await ask("8 903 123-45-67") == {"contact_name": "", "responsible": "petrova"}
    await mf.api.ok("PATCH", f"/api/v1/modules/{mf.module['id']}", {"settings": {
        "crmToken": TOKEN, "memberField": "user", "defaultResponsible": "ivanov"}})
    assert await ask("79990000000") == {"contact_name": "", "responsible": "ivanov"}
    assert await ask(CLIENT) == {"contact_name": "", "responsible": "petrova"}


async def test_rating_and_unknown_commands_are_acknowledged(mf: Tenant) -> None:
    await mf.post_ok({"cmd": "rating", "callid": "8844120031", "rating": "5", "phone": CLIENT})
    await mf.post_ok({"cmd": "something_new"})
    assert await mf.calls() == []


async def test_members_by_extension_and_unsupported_actions(mf: Tenant) -> None:
    module_id = mf.module["id"]
    await mf.api.ok("PATCH", f"/api/v1/modules/{module_id}", {"settings": {
        "crmToken": TOKEN, "memberField": "ext", "defaultResponsible": ""}})
    body = urlencode({**event("INCOMING", "petrova"), "crm_token": TOKEN})
    report = await mf.api.ok("POST", f"/api/v1/modules/{module_id}/dry-run", {
        "request": {"method": "POST", "body": body,
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"}}})
    assert report["result"]["event"]["dstPhone"] == "202"

    for path in ("test-connection", "load-members"):
        response = await mf.api.post(f"/api/v1/modules/{module_id}/{path}")
        assert response.status == 501
    response = await mf.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": CLIENT},
        headers={"Authorization": f"Bearer {mf.tokens['ivanov']}"})
    assert response.status == 501
    assert "VoipGenerateCall" in (await response.json())["message"]


async def history_ends_petrovas_call(mf: Tenant) -> None:
    """MegaFon's history ends the transferred call: answered by Petrova, each of the two
    operators told of each state once."""
    await mf.post_ok(history("Success", user="petrova"))
    call = await mf.call()
    assert (call["state"], call["disposition"], call["answered_phone"]) == (
        "ended", "answered", "petrova")
    assert await mf.notifications("petrova") == ["ringing", "answered", "ended"]
    assert await mf.notifications("ivanov") == ["ringing", "answered", "ended"]


async def test_hangup_delivered_before_the_transfer_does_not_end_the_call(mf: Tenant) -> None:
    """Ivanov transfers the call to Petrova and hangs up: MegaFon sends TRANSFERRED and Ivanov's
    COMPLETED at the same moment, so either may be run first (and two webhooks running at once do
    not see each other's storage). Ivanov's COMPLETED must not end the call Petrova now holds."""
    await mf.post_ok(event("INCOMING", "ivanov"))
    await mf.post_ok(event("ACCEPTED", "ivanov"))
    await mf.post_ok(event("COMPLETED", "ivanov"))  # delivered ahead of the transfer
    await mf.post_ok(event("TRANSFERRED", "petrova"))
    assert (await mf.call())["state"] == "answered"
    assert await mf.notifications("petrova") == ["ringing"]
    await mf.post_ok(event("ACCEPTED", "petrova"))
    call = await mf.call()
    assert (call["state"], call["answered_phone"]) == ("answered", "petrova")
    await mf.post_ok(event("COMPLETED", "petrova"))
    await history_ends_petrovas_call(mf)


async def test_transfer_and_hangup_sent_at_once(mf: Tenant) -> None:
    """The same transfer with TRANSFERRED and Ivanov's COMPLETED posted concurrently."""
    await mf.post_ok(event("INCOMING", "ivanov"))
    await mf.post_ok(event("ACCEPTED", "ivanov"))
    await asyncio.gather(mf.post_ok(event("TRANSFERRED", "petrova")),
                         mf.post_ok(event("COMPLETED", "ivanov")))
    assert (await mf.call())["state"] == "answered"
    assert await mf.notifications("petrova") == ["ringing"]
    await asyncio.gather(mf.post_ok(event("ACCEPTED", "petrova")),
                         mf.post_ok(event("COMPLETED", "petrova")))
    await history_ends_petrovas_call(mf)
