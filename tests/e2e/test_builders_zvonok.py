"""A made-up cloud PBX that sends only GET requests with no call id ("Zvonok",
tests/e2e/builder_modules/zvonok/script.py), written by a builder from the contract alone:
handlers registered by a decorator into a dict, a class of typed readers with properties,
`match` with OR patterns and guards, the walrus, times with milliseconds in the caller's time
zone or as epoch milliseconds, base64url-encoded JSON without padding, an MD5 signature over the
sorted parameters. The runtime tells its calls apart by their numbers (contract §5.2): one
client calling twice makes two calls, and an internal and an outgoing call keep their
directions. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from tests.e2e.builders_support import backend_service, builder_script
from tests.e2e.conftest import Service
from tests.e2e.helpers import ProviderTenant, provider_tenant

__all__ = ["backend_service"]  # the fixture, imported for pytest
KEY = "zvonok-key"
ACCEPTED = '{"status": "accepted"}'
CLIENT = "+7 916 123-45-67"


def recording(**data: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class Zvonok(ProviderTenant):
    async def get(self, params: dict[str, str], *, key: str = KEY) -> tuple[int, str]:
        text = "&".join(f"{k}={params[k]}" for k in sorted(params))
        signed = {**params, "sig": hashlib.md5(f"{text}{key}".encode()).hexdigest()}
        response = await self.service.client.get(f"{self.hook_path}?{urlencode(signed)}")
        return response.status, await response.text()

    async def ok(self, ev: str, **params: str) -> None:
        assert await self.get({"ev": ev, **params}) == (200, ACCEPTED)

    async def by_disposition(self) -> dict[str, dict[str, Any]]:
        """Each call in detail, by its disposition (the tests' calls each end differently)."""
        calls = await self.calls()
        details = {c["disposition"]: await self.api.ok("GET", f"/api/v1/calls/{c['id']}")
                   for c in calls}
        assert len(details) == len(calls)
        return details


async def zvonok(service: Service) -> Zvonok:
    return await provider_tenant(Zvonok, service, {
        "name": "zvonok", "region": "RU", "settings": {"key": KEY, "utcOffset": 3},
        "secrets": ["key"],
    }, builder_script("zvonok"), {"o": "olga", "p": "petr"}, {"101": "o", "102": "p"})


async def test_one_client_calling_twice_without_call_ids_makes_two_calls(
        backend_service: Service) -> None:
    z = await zvonok(backend_service)
    ivan = await z.api.ok("POST", "/api/v1/contacts",
                          {"name": "Ivan", "phones": ["89161234567"]}, status=201)
    first = {"from": CLIENT, "to": "101"}
    await z.ok("ring", **first, ts="2025-03-04T13:15:02.123+05:00")
    await z.ok("pickup", **first)
    await z.ok("hangup", **first, ts="2025-03-04T13:15:02.123+05:00", status="OK",
               billsec="42", rec=recording(id="r/77 ü", host="https://files.zvonok.example"))
    await z.ok("ring", **first, ts="1741083000000")
    await z.ok("hangup", **first, ts="1741083000000", status="timeout", billsec="0")

    calls = await z.by_disposition()
    answered, missed = calls["answered"], calls["no_answer"]
    assert (answered["state"], answered["disposition"], answered["duration"]) == (
        "ended", "answered", 42)
    assert answered["answered_phone"] == "101" and answered["has_record"] is True
    assert (missed["state"], missed["disposition"], missed["duration"]) == (
        "ended", "no_answer", 0)
    assert answered["contact_id"] == missed["contact_id"] == ivan["id"]
    assert await z.notifications("o") == ["ringing", "answered", "ended", "ringing", "ended"]
    played = await z.api.ok("GET", f"/api/v1/calls/{answered['id']}/recording?format=json")
    assert played["url"] == "https://files.zvonok.example/play?id=r%2F77+%C3%BC&day=2025-03-04"
    activity = (await z.api.ok("GET", f"/api/v1/contacts/{ivan['id']}/activity"))["activity"]
    assert sorted((a["data"]["duration"], a["data"]["missed"]) for a in activity) == [
        (0, True), (42, False)]
    runs = await z.api.ok("GET", "/api/v1/executions?function=VoipParseWebhookRequest")
    logs = [(await z.api.ok("GET", f"/api/v1/executions/{r['id']}"))["logs"]
            for r in runs["executions"]]
    assert sorted(line for line in logs if line) == [
        "04.03 11:15:02        ok   42s rec\n", "04.03 13:10:00   timeout    0s -\n"]


async def test_an_internal_call_and_an_outgoing_one_keep_their_directions(
        backend_service: Service) -> None:
    z = await zvonok(backend_service)
    inside = {"from": "101", "to": "102", "internal": "1"}
    await z.ok("ring", **inside, ts="2025-03-04T10:00:00+03:00")
    await z.ok("answer", **inside)
    await z.ok("hangup", **inside, ts="2025-03-04T10:00:00+03:00", status="answered",
               billsec="5")
    out = {"from": "102", "to": "8 903 555-00-11", "dir": "out"}
    await z.ok("ring", **out, ts="2025-03-04T10:05:00+03:00")
    await z.ok("hangup", **out, ts="2025-03-04T10:05:00+03:00", status="BUSY", billsec="0")

    calls = await z.by_disposition()
    internal, outgoing = calls["answered"], calls["busy"]
    assert (internal["direction"], internal["state"], internal["disposition"]) == (
        "internal", "ended", "answered")
    assert (internal["answered_phone"], internal["duration"]) == ("102", 5)
    assert (outgoing["direction"], outgoing["state"], outgoing["disposition"]) == (
        "out", "ended", "busy")
    assert outgoing["src_phone"] == "102" and outgoing["has_record"] is False
    assert await z.notifications("p") == ["ringing", "answered", "ended", "ringing", "ended"]


async def test_forged_posted_and_unknown_requests(backend_service: Service) -> None:
    z = await zvonok(backend_service)
    assert await z.get({"ev": "ring", "from": CLIENT, "to": "101"}, key="guess") == (
        401, '{"error": "bad sig"}')
    response = await z.service.client.post(z.hook_path, data="ev=ring")
    assert (response.status, await response.text()) == (405, "GET only")
    assert await z.get({"ev": "rating", "from": CLIENT, "to": "101", "stars": "5"}) == (
        200, '{"status": "accepted", "ignored": "rating"}')
    assert await z.calls() == []
