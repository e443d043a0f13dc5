"""Calls over HTTP: made by posting webhooks to the seed module, then listed and filtered."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.e2e.conftest import SEED_SCRIPT, Api, Service
from tests.e2e.helpers import RECORD_BASE, record, seed_setup

CLIENT = "+79161234567"


async def seed_module(api: Api, name: str = "pbx") -> Any:
    module = await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": SEED_SCRIPT, "activate": True}, status=201)
    return module


async def hook(service: Service, module: dict[str, Any], **payload: Any) -> None:
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json=payload)
    assert response.status == 200, await response.text()


async def calls(api: Api, query: str = "") -> list[Any]:
    result: list[Any] = (await api.ok("GET", f"/api/v1/calls{query}"))["calls"]
    return result


async def three_calls(service: Service, api: Api) -> tuple[Any, Any]:
    """c-1: incoming, answered and ended; c-2: outgoing, ringing (module pbx);
    c-3: incoming, ringing (module other)."""
    pbx = await seed_module(api)
    other = await seed_module(api, "other")
    await hook(service, pbx, type="start", callId="c-1", srcPhone=CLIENT, dstPhone="101")
    await hook(service, pbx, type="answer", callId="c-1", srcPhone=CLIENT, dstPhone="101")
    await hook(service, pbx, type="end", callId="c-1", srcPhone=CLIENT, dstPhone="101",
               disposition="answered")
    await hook(service, pbx, type="out_start", callId="c-2", srcPhone="102",
               dstPhone="+79031112233")
    await hook(service, other, type="start", callId="c-3", srcPhone="+79035550000",
               dstPhone="201")
    return pbx, other


async def test_calls_are_listed_newest_first(service: Service) -> None:
    _, api = await service.new_tenant()
    await three_calls(service, api)
    listed = await calls(api)
    assert [c["provider_call_id"] for c in listed] == ["c-3", "c-2", "c-1"]
    first = listed[2]
    assert first["state"] == "ended" and first["disposition"] == "answered"
    assert first["client_phone_normalized"] == CLIENT
    assert [c["provider_call_id"] for c in await calls(api, "?limit=1&offset=1")] == ["c-2"]


@pytest.mark.parametrize(("query", "expected"), [
    ("?state=ended", ["c-1"]),
    ("?state=ringing", ["c-3", "c-2"]),
    ("?direction=out", ["c-2"]),
    ("?direction=in&state=ringing", ["c-3"]),
    (f"?phone={quote('8 916 123-45-67')}", ["c-1"]),
    ("?phone=79031112233", ["c-2"]),
    ("?phone=201", ["c-3"]),
    ("?since=2000-01-01T00:00:00Z", ["c-3", "c-2", "c-1"]),
    ("?since=2999-01-01T00:00:00%2B03:00", []),
    ("?since=2999-01-01T00:00:00+03:00", []),  # the "+" left unencoded
    ("?since=2000-01-01T00:00:00.000+03:00", ["c-3", "c-2", "c-1"]),
])
async def test_call_filters(service: Service, query: str, expected: list[str]) -> None:
    _, api = await service.new_tenant()
    await three_calls(service, api)
    assert [c["provider_call_id"] for c in await calls(api, query)] == expected


async def test_module_filter(service: Service) -> None:
    _, api = await service.new_tenant()
    pbx, other = await three_calls(service, api)
    assert [c["provider_call_id"] for c in await calls(api, f"?module_id={other['id']}")] == [
        "c-3"]
    assert len(await calls(api, f"?module_id={pbx['id']}")) == 2
    body = await api.ok("GET", "/api/v1/calls?module_id=mod_unknown", status=404)
    assert body["error"] == "not_found"


@pytest.mark.parametrize(("query", "named"), [
    ("?state=busy", "state"),
    ("?direction=sideways", "direction"),
    ("?since=yesterday", "since"),
    ("?since=2025-13-01", "since"),
    ("?phone=%20", "phone"),
    ("?phone=101&region=XX", "region"),
    ("?limit=-1", "limit"),
])
async def test_bad_filters_are_400(service: Service, query: str, named: str) -> None:
    _, api = await service.new_tenant()
    body = await api.ok("GET", f"/api/v1/calls{query}", status=400)
    assert body["error"] == "bad_request"
    assert named in body["message"]


async def test_one_call_with_history_and_activity(service: Service) -> None:
    _, api = await service.new_tenant()
    pbx, _ = await three_calls(service, api)
    [ended] = await calls(api, "?state=ended")
    call = await api.ok("GET", f"/api/v1/calls/{ended['id']}")
    assert {k: v for k, v in call.items() if k not in ("events", "activity")} == ended
    assert [e["kind"] for e in call["events"]] == ["notify_start", "notify_answer",
                                                   "notify_end"]
    assert all(e["effect"] == "applied" for e in call["events"])
    assert call["activity"] is None
    await hook(service, pbx, type="record", callId="c-1", disposition="answered",
               srcPhone=CLIENT, dstPhone="101", duration=30, recordId="r-1")
    call = await api.ok("GET", f"/api/v1/calls/{ended['id']}")
    assert call["events"][-1]["kind"] == "call_record"
    assert call["activity"]["call_id"] == ended["id"]
    assert call["has_record"] is True
    await api.ok("GET", "/api/v1/calls/call_unknown", status=404)


async def test_bound_operator_is_notified(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await seed_module(api)
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{anna['id']}/tokens", status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {"101": anna["id"]}})
    await hook(service, module, type="start", callId="c-1", srcPhone=CLIENT, dstPhone="101")
    await hook(service, module, type="start", callId="c-2", srcPhone=CLIENT, dstPhone="102")
    notes = await service.api(token["token"]).ok("GET", "/api/v1/notifications")
    assert [n["kind"] for n in notes["notifications"]] == ["ringing"]


async def test_a_transfer_and_who_answered(service: Service) -> None:
    """Contract §5: answered at 101, then the provider starts the call at 102 (a transfer):
    Boris is told it rings for him, the call stays answered; his answer makes him who
    answered, which the API shows in the list and the call."""
    _, api = await service.new_tenant()
    module = await seed_module(api)
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    boris = await api.ok("POST", "/api/v1/users", {"name": "Boris"}, status=201)
    boris_token = await api.ok("POST", f"/api/v1/users/{boris['id']}/tokens", status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {"101": anna["id"], "102": boris["id"]}})
    await hook(service, module, type="start", callId="c-1", srcPhone=CLIENT, dstPhone="101")
    await hook(service, module, type="answer", callId="c-1", srcPhone=CLIENT, dstPhone="101")
    [call] = await calls(api)
    assert (call["answered_phone"], call["answered_user_id"]) == ("101", anna["id"])

    await hook(service, module, type="start", callId="c-1", srcPhone=CLIENT, dstPhone="102")
    detail = await api.ok("GET", f"/api/v1/calls/{call['id']}")
    assert detail["state"] == "answered"
    assert detail["events"][-1]["kind"] == "notify_start"
    assert detail["events"][-1]["effect"] == "applied"
    notes = await service.api(boris_token["token"]).ok("GET", "/api/v1/notifications")
    assert [n["kind"] for n in notes["notifications"]] == ["ringing"]

    await hook(service, module, type="answer", callId="c-1", srcPhone=CLIENT, dstPhone="102")
    [call] = await calls(api)
    assert call["state"] == "answered"
    assert (call["answered_phone"], call["answered_user_id"]) == ("102", boris["id"])
    detail = await api.ok("GET", f"/api/v1/calls/{call['id']}")
    assert (detail["answered_phone"], detail["answered_user_id"]) == ("102", boris["id"])


async def test_an_answered_record_without_an_answer_event_says_who_answered(
    service: Service,
) -> None:
    _, api = await service.new_tenant()
    module = await seed_module(api)
    anna = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {"101": anna["id"]}})
    await hook(service, module, type="record", callId="c-1", disposition="answered",
               srcPhone=CLIENT, dstPhone="101", duration=30)
    await hook(service, module, type="record", callId="c-2", disposition="no_answer",
               srcPhone=CLIENT, dstPhone="101", duration=0)
    listed = {c["provider_call_id"]: c for c in await calls(api)}
    assert (listed["c-1"]["answered_phone"], listed["c-1"]["answered_user_id"]) == (
        "101", anna["id"])
    assert (listed["c-2"]["answered_phone"], listed["c-2"]["answered_user_id"]) == (None, None)


async def test_the_user_who_answered_plays_the_call_after_the_binding_moves(
    service: Service,
) -> None:
    """A call known only from its Answered record notified nobody; once 101 is bound to
    someone else, its recording still plays for the user who answered it (call_access.py)."""
    seed = await seed_setup(service)
    await seed.hook_ok(record("c-1", record_id="r-1"))
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert call["answered_user_id"] == seed.user["id"]
    ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
    ivan_token = (await seed.api.ok("POST", f"/api/v1/users/{ivan['id']}/tokens",
                                    status=201))["token"]
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": ivan["id"]}})
    path = f"/api/v1/calls/{call['id']}/recording"
    played = await service.client.get(f"{path}?token={seed.user_token}", allow_redirects=False)
    assert played.status == 302
    assert played.headers["Location"] == f"{RECORD_BASE}/r-1"
    # Ivan plays it too, by the extension bound to him now (unchanged rule).
    ivan_played = await service.client.get(f"{path}?token={ivan_token}", allow_redirects=False)
    assert ivan_played.status == 302
