"""A made-up provider whose webhooks are XML-ish text ("Vesna PBX",
tests/e2e/builder_modules/vesna/script.py), written by a builder from the contract alone: tags
read with `re`, a signature over a timestamp header and the body (HMAC-SHA1, hex, `sha1=`),
times in RFC 2822 and ISO 8601 with `Z` and milliseconds, talk time as `h:mm:ss`, custom
exception classes with class attributes, `match` on a list of tuples, properties and
classmethods, XML replies. Driven through the real service on SQLite and PostgreSQL: a routed
call with a recording, an outgoing call, refusals, a dry run and a replay."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant

__all__ = ["backend_service"]  # the fixture, imported for pytest
SECRET = "vesna-secret-7"
OK_XML = '<?xml version="1.0"?><result status="ok"/>'
CLIENT = "+7 (916) 123-45-67"


def xml(kind: str, call: dict[str, str], *parties: dict[str, str]) -> str:
    def attrs(values: dict[str, str]) -> str:
        return " ".join(f'{k}="{v}"' for k, v in values.items())
    inner = "".join(f"\n  <party {attrs(p)}/>" for p in parties)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<event type="{kind}" version="2">\n'
            f"  <call {attrs(call)}/>{inner}\n</event>")


def signed(body: str, *, secret: str = SECRET) -> dict[str, str]:
    # The provider's clock, as its newest firmware writes it: ISO 8601, milliseconds, "Z".
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha1).hexdigest()
    return {"Content-Type": "text/xml; charset=utf-8", "X-Vesna-Timestamp": stamp,
            "X-Vesna-Signature": f"sha1={mac}"}


class Vesna(ProviderTenant):
    async def post(self, body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        response = await self.service.client.post(
            self.hook_path + "/notify", data=body.encode(), headers=headers or signed(body))
        return response.status, await response.text()

    async def ok(self, kind: str, call: dict[str, str], *parties: dict[str, str]) -> None:
        assert await self.post(xml(kind, call, *parties)) == (200, OK_XML)


async def vesna(service: Service) -> Vesna:
    return await provider_tenant(Vesna, service, {
        "name": "vesna", "region": "RU",
        "settings": {"secret": SECRET, "recordsUrl": "https://rec.vesna.example/"},
        "secrets": ["secret"],
    }, builder_script("vesna"), {"olga": "Olga", "petr": "Petr"}, {"101": "olga", "102": "petr"})


CLIENT_PARTY = {"role": "client", "number": CLIENT}
TRUNK = {"role": "trunk", "number": "74951112233"}


def agent(ext: str) -> dict[str, str]:
    return {"role": "agent", "ext": ext, "name": "Olga &amp; Co" if ext == "101" else "Petr"}


async def test_a_routed_call_answered_and_recorded(backend_service: Service) -> None:
    v = await vesna(backend_service)
    ivan = await v.api.ok("POST", "/api/v1/contacts",
                          {"name": "Ivan", "phones": ["89161234567"]}, status=201)
    call = {"id": "V-1", "dir": "in", "started": "Tue, 04 Mar 2025 10:15:02 +0300"}
    await v.ok("start", call, CLIENT_PARTY, TRUNK)
    await v.ok("ring", call, CLIENT_PARTY, agent("101"))
    await v.ok("ring", call, CLIENT_PARTY, agent("102"))
    await v.ok("answer", call, CLIENT_PARTY, agent("102"))
    await v.ok("hangup", {**call, "talk": "1:02:05", "result": "ok",
                          "recording": "V-1 запись.wav"}, CLIENT_PARTY, agent("102"))

    stored = await v.call("V-1")
    assert (stored["state"], stored["disposition"], stored["duration"]) == (
        "ended", "answered", 3725)
    assert (stored["answered_phone"], stored["answered_user_id"]) == ("102", v.users["petr"]["id"])
    assert stored["contact_id"] == ivan["id"] and stored["has_record"] is True
    assert await v.notifications("olga") == ["ringing", "ended"]
    assert await v.notifications("petr") == ["ringing", "answered", "ended"]
    [entry] = (await v.api.ok("GET", f"/api/v1/contacts/{ivan['id']}/activity"))["activity"]
    assert entry["data"]["call"] == {"file": "V-1 запись.wav", "day": "2025/03/04"}
    played = await v.api.ok("GET", f"/api/v1/calls/{stored['id']}/recording?format=json")
    expires = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    path = "/2025/03/04/" + quote("V-1 запись.wav")
    token = hmac.new(SECRET.encode(), f"{path}{expires}".encode(), hashlib.sha256).hexdigest()
    assert played["url"] == f"https://rec.vesna.example{path}?e={expires}&t={token[:20]}"
    runs = await v.api.ok("GET", "/api/v1/executions?limit=1&function=VoipParseWebhookRequest")
    [run] = runs["executions"]
    shown = await v.api.ok("GET", f"/api/v1/executions/{run['id']}")
    assert shown["logs"] == "hangup  |       V-1|2 parties\n"


async def test_an_outgoing_call_that_got_busy(backend_service: Service) -> None:
    v = await vesna(backend_service)
    call = {"id": "O-1", "dir": "out", "started": "2025-03-04T07:15:02Z"}
    await v.ok("dial", call, agent("101"), {"role": "client", "number": "8 903 555 00 11"})
    await v.ok("dial_end", {**call, "result": "busy", "talk": "0:00"}, agent("101"),
               {"role": "client", "number": "8 903 555 00 11"})
    stored = await v.call("O-1")
    assert (stored["direction"], stored["state"], stored["disposition"], stored["duration"]) == (
        "out", "ended", "busy", 0)
    assert (stored["src_phone"], stored["dst_phone"]) == ("101", "8 903 555 00 11")
    assert stored["has_record"] is False
    assert await v.notifications("olga") == ["ringing", "ended"]


async def test_what_the_module_refuses_stores_nothing(backend_service: Service) -> None:
    v = await vesna(backend_service)
    body = xml("start", {"id": "F-1", "dir": "in"}, CLIENT_PARTY, TRUNK)
    assert await v.post(body, signed(body, secret="guess")) == (
        403, '<result status="error">signature mismatch</result>')
    assert await v.post("not xml at all") == (
        400, '<result status="error">not a Vesna event</result>')
    no_start = xml("hangup", {"id": "F-2", "dir": "in", "result": "ok"}, CLIENT_PARTY)
    assert await v.post(no_start) == (
        400, "<result status=\"error\">missing attribute 'started'</result>")
    bad_time = xml("hangup", {"id": "F-3", "dir": "in", "started": "yesterday"}, CLIENT_PARTY)
    assert await v.post(bad_time) == (
        400, "<result status=\"error\">unreadable time 'yesterday'</result>")
    response = await v.service.client.get(v.hook_path + "?check=a+b%20%3C")
    assert (response.status, await response.text()) == (200, "<check>a b <</check>")
    assert response.headers["Content-Type"] == "application/xml"
    assert await v.calls() == []


async def test_a_dry_run_and_a_replay_report_the_call_and_store_nothing(
        backend_service: Service) -> None:
    v = await vesna(backend_service)
    module_id = v.module["id"]
    body = xml("start", {"id": "D-1", "dir": "in"}, CLIENT_PARTY, agent("101"))
    ran = await v.api.ok("POST", f"/api/v1/modules/{module_id}/dry-run", {
        "request": {"method": "POST", "url": "/notify", "headers": signed(body), "body": body}})
    assert ran["ok"], ran["error"]
    assert ran["effects"]["call"]["created"] is True
    assert [(n["user_id"], n["kind"]) for n in ran["effects"]["notifications"]] == [
        (v.users["olga"]["id"], "ringing")]
    assert (ran["reply"]["status"], ran["reply"]["body"]) == (200, OK_XML)
    assert await v.calls() == []

    await v.ok("start", {"id": "D-2", "dir": "in"}, CLIENT_PARTY, agent("101"))
    [run] = (await v.api.ok("GET", "/api/v1/executions"))["executions"]
    replay = await v.api.ok("POST", f"/api/v1/executions/{run['id']}/replay", {})
    assert replay["changed"] is False, replay
    assert replay["reply"]["body"] == OK_XML
    assert len(await v.calls()) == 1
