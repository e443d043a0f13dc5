"""Webhooks end to end: the seed module through whole calls, over real HTTP and workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse

from tests.e2e.conftest import Service
from tests.e2e.helpers import (
    CLIENT,
    RECORD_BASE,
    SeedSetup,
    answer,
    end,
    record,
    seed_setup,
    start,
    upload,
)


@pytest.fixture
async def seed(service: Service) -> SeedSetup:
    return await seed_setup(service)


async def next_notification(socket: ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await asyncio.wait_for(socket.receive_json(), 10)
        if message["type"] == "notification":
            return message


async def calls(seed: SeedSetup) -> list[dict[str, Any]]:
    body = await seed.api.ok("GET", "/api/v1/calls")
    return list(body["calls"] if isinstance(body, dict) else body)


async def test_full_call_start_answer_end_record_playback(seed: SeedSetup) -> None:
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan Client", "phones": ["8 916 123-45-67"]},
                                status=201)
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    hello = await socket.receive_json()
    assert hello["type"] == "hello" and hello["user_id"] == seed.user["id"]

    response = await seed.hook_ok(start())
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == b""
    ringing = await next_notification(socket)
    assert ringing["kind"] == "ringing"
    assert ringing["payload"]["contact"]["id"] == contact["id"]

    await seed.hook_ok(answer())
    assert (await next_notification(socket))["kind"] == "answered"
    await seed.hook_ok(end())
    assert (await next_notification(socket))["kind"] == "ended"
    await seed.hook_ok(record())

    [call] = await calls(seed)
    assert call["state"] == "ended"
    assert call["disposition"] == "answered"
    assert call["duration"] == 74
    assert call["contact_id"] == contact["id"]
    detail = await seed.api.ok("GET", f"/api/v1/calls/{call['id']}")
    assert [e["kind"] for e in detail["events"]] == [
        "notify_start", "notify_answer", "notify_end", "call_record"]

    activity = await seed.api.ok("GET", f"/api/v1/contacts/{contact['id']}/activity")
    entries = activity["activity"] if isinstance(activity, dict) else activity
    assert len(entries) == 1 and entries[0]["call_id"] == call["id"]

    played = await seed.service.client.get(
        f"/api/v1/calls/{call['id']}/recording?token={seed.user_token}", allow_redirects=False)
    assert played.status == 302
    assert played.headers["Location"] == f"{RECORD_BASE}/rec-1001"
    as_json = await seed.api.ok("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    assert as_json["url"] == f"{RECORD_BASE}/rec-1001"
    await socket.close()


async def test_missed_call_creates_a_contact(seed: SeedSetup) -> None:
    await seed.hook_ok(start("c-9", src="+7 903 555-00-11"))
    await seed.hook_ok(end("c-9", "no_answer", src="+7 903 555-00-11"))
    await seed.hook_ok(record("c-9", "no_answer", 0, src="+7 903 555-00-11", record_id=None))
    found = await seed.api.ok("GET", "/api/v1/contacts?phone=89035550011")
    contacts = found["contacts"] if isinstance(found, dict) else found
    assert len(contacts) == 1
    assert contacts[0]["name"] == "+7 903 555-00-11"
    [call] = await calls(seed)
    assert call["has_record"] is False
    assert call["contact_id"] == contacts[0]["id"]


async def test_anonymous_caller_creates_no_contact(seed: SeedSetup) -> None:
    await seed.hook_ok(record("c-anon", "no_answer", 0, src="anonymous", record_id=None))
    listed = await seed.api.ok("GET", "/api/v1/contacts")
    assert (listed["contacts"] if isinstance(listed, dict) else listed) == []
    [call] = await calls(seed)
    assert call["src_phone"] == "anonymous"


async def test_retried_webhooks_change_nothing(seed: SeedSetup) -> None:
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    await socket.receive_json()
    for payload in (start(), start(), answer(), answer(), record(), record()):
        await seed.hook_ok(payload)
    assert len(await calls(seed)) == 1
    notes = await seed.service.client.get(f"/api/v1/notifications?token={seed.user_token}")
    kinds = [n["kind"] for n in (await notes.json())["notifications"]]
    assert kinds == ["ringing", "answered"]
    contacts = await seed.api.ok("GET", "/api/v1/contacts")
    assert len(contacts["contacts"] if isinstance(contacts, dict) else contacts) == 0
    await socket.close()


async def test_late_event_does_not_move_the_call_back(seed: SeedSetup) -> None:
    await seed.hook_ok(start())
    await seed.hook_ok(end())
    await seed.hook_ok(answer())
    [call] = await calls(seed)
    assert call["state"] == "ended"


async def test_script_response_is_sent_with_security_headers(seed: SeedSetup) -> None:
    response = await seed.post_hook({"type": "nonsense"})
    assert response.status == 400
    assert "unknown type 'nonsense'" in await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert await calls(seed) == []


async def test_path_below_the_token_reaches_the_script(seed: SeedSetup) -> None:
    source = (
        "def VoipParseWebhookRequest(request):\n"
        "    return {'response': HttpResponse().content({'url': request.url,"
        " 'q': request.query.get('a')})}\n"
    )
    await upload(seed.api, seed.module["id"], source)
    response = await seed.post_hook("{}", path_suffix="/events/call?a=b+c")
    assert response.status == 200
    body = await response.json()
    assert body["url"].endswith(seed.hook_path + "/events/call?a=b+c")
    assert body["q"] == "b c"


async def test_script_error_answers_500_and_stores_nothing(seed: SeedSetup) -> None:
    source = (
        "def VoipParseWebhookRequest(request):\n"
        "    print('about to fail')\n"
        "    storage.set('seen', 1)\n"
        "    return {'event': helper()}\n"
        "\n"
        "def helper():\n"
        "    raise ValueError('provider sent garbage')\n"
    )
    await upload(seed.api, seed.module["id"], source)
    response = await seed.post_hook(start())
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "script_failed"
    execution = await seed.api.ok("GET", f"/api/v1/executions/{body['execution_id']}")
    assert execution["outcome"] == "error"
    assert execution["error"]["type"] == "ValueError"
    assert execution["error"]["line"] == 7
    assert "provider sent garbage" in execution["error"]["message"]
    assert execution["logs"] == "about to fail\n"
    assert execution["request"]["body"] == json.dumps(start())
    assert await calls(seed) == []


async def test_invalid_result_names_the_key_and_stores_nothing(seed: SeedSetup) -> None:
    source = (
        "def VoipParseWebhookRequest(request):\n"
        "    return {'callrecord': {'duration': 1}}\n"
    )
    await upload(seed.api, seed.module["id"], source)
    response = await seed.post_hook(start())
    assert response.status == 500
    execution_id = (await response.json())["execution_id"]
    execution = await seed.api.ok("GET", f"/api/v1/executions/{execution_id}")
    assert execution["outcome"] == "invalid"
    assert "callrecord" in execution["error"]["message"]
    assert await calls(seed) == []


@pytest.mark.parametrize(("duration", "fragment"), [
    ("10**400", "callRecord.duration: must be a finite number (got an integer of 401 digits)"),
    # Refused by the worker, which cannot hand NaN over: an invalid result all the same
    # (the execution log's outcome `invalid`, not `error`: the script raised nothing).
    ("float('nan')", "the result holds nan, which JSON cannot carry"),
    ("{1, 2}", "the result cannot hold a value of type 'set'"),
])
async def test_a_duration_no_number_can_store_is_an_invalid_result(
        seed: SeedSetup, duration: str, fragment: str) -> None:
    # Values at the edge of what a number can be: refused with the key and why, as the
    # contract's other invalid results are, never a bare internal error.
    source = (
        "def VoipParseWebhookRequest(request):\n"
        "    return {'callRecord': {'direction': 'in', 'disposition': 'answered',\n"
        f"        'srcPhone': '79161234567', 'dstPhone': '101', 'duration': {duration}}}}}\n"
    )
    await upload(seed.api, seed.module["id"], source)
    response = await seed.post_hook(start())
    assert response.status == 500
    answer = await response.json()
    assert answer["error"] == "script_failed"
    execution = await seed.api.ok("GET", f"/api/v1/executions/{answer['execution_id']}")
    assert execution["outcome"] == "invalid"
    assert fragment in execution["error"]["message"]
    assert await calls(seed) == []


async def test_an_exception_a_script_names_invalid_result_is_an_error(seed: SeedSetup) -> None:
    # Only what the script returned is an invalid result; what it raised is an error, whatever
    # its class is called.
    source = (
        "class InvalidResult(Exception):\n"
        "    pass\n"
        "def VoipParseWebhookRequest(request):\n"
        "    raise InvalidResult('mine')\n"
    )
    await upload(seed.api, seed.module["id"], source)
    response = await seed.post_hook(start())
    execution_id = (await response.json())["execution_id"]
    execution = await seed.api.ok("GET", f"/api/v1/executions/{execution_id}")
    assert execution["outcome"] == "error"
    assert execution["error"]["message"] == "line 4: mine"


async def test_storage_is_committed_only_with_a_successful_webhook(seed: SeedSetup) -> None:
    source = (
        "def VoipParseWebhookRequest(request):\n"
        "    data = request.json()\n"
        "    count = storage.get('count', 0) + 1\n"
        "    storage.set('count', count)\n"
        "    if data.get('fail'):\n"
        "        raise RuntimeError('after writing')\n"
        "    return {'response': HttpResponse().content({'count': count})}\n"
    )
    await upload(seed.api, seed.module["id"], source)
    assert (await (await seed.hook_ok({})).json())["count"] == 1
    assert (await seed.post_hook({"fail": True})).status == 500
    assert (await (await seed.hook_ok({})).json())["count"] == 2


async def test_unknown_token_is_404_json(service: Service) -> None:
    response = await service.client.post("/hooks/not-a-real-token", data="{}")
    assert response.status == 404
    assert (await response.json())["error"] == "not_found"


async def test_oversized_body_is_413_and_not_run(seed: SeedSetup) -> None:
    big = "x" * (seed.service.config.max_webhook_body_kib * 1024 + 1)
    response = await seed.post_hook(big)
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"
    executions = await seed.api.ok("GET", "/api/v1/executions")
    assert (executions["executions"] if isinstance(executions, dict) else executions) == []


async def test_own_fetch_hop_is_refused(seed: SeedSetup) -> None:
    response = await seed.post_hook(start(), headers={"X-Voip-Runtime-Hop": "1"})
    assert response.status == 508
    assert await calls(seed) == []


async def test_dry_run_reports_effects_and_does_nothing(seed: SeedSetup) -> None:
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert [(await socket.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    report = await seed.api.ok("POST", f"/api/v1/modules/{seed.module['id']}/dry-run", {
        "request": {"method": "POST", "headers": {"Content-Type": "application/json"},
                    "body": json.dumps(start())},
    })
    assert report["ok"] is True
    assert report["effects"]["call"]["created"] is True
    assert report["effects"]["notifications"][0]["user_id"] == seed.user["id"]
    assert report["reply"]["status"] == 200
    assert await calls(seed) == []
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(socket.receive_json(), 0.5)
    await socket.close()


async def test_replay_compares_a_draft_with_what_happened(seed: SeedSetup) -> None:
    await seed.hook_ok(start())
    listed = await seed.api.ok("GET", "/api/v1/executions")
    [execution] = listed["executions"] if isinstance(listed, dict) else listed
    draft = (
        "def VoipParseWebhookRequest(request):\n"
        "    return {'response': HttpResponse().status(202)}\n"
    )
    report = await seed.api.ok("POST", f"/api/v1/executions/{execution['id']}/replay",
                               {"source": draft})
    assert report["changed"] is True
    assert report["reply"]["status"] == 202
    assert report["original"]["outcome"] == "ok"
    assert report["original"]["effects"]["call"]["created"] is True
    assert len(await calls(seed)) == 1


async def test_a_webhook_whose_body_the_log_cut_is_not_replayed_as_another_request(
        seed: SeedSetup) -> None:
    # The log keeps 64 KiB of a request; a larger body (a webhook may carry 1 MiB) is cut.
    # Replayed, the script ran on the cut body, and the report said the script had changed
    # its answer ("changed": true, a JSON error) where the request it was given had changed.
    await seed.hook_ok({**start(), "note": "x" * 100_000})
    listed = await seed.api.ok("GET", "/api/v1/executions")
    [execution] = listed["executions"]
    shown = await seed.api.ok("GET", f"/api/v1/executions/{execution['id']}")
    assert shown["request"]["body_truncated"] is True
    refused = await seed.api.ok("POST", f"/api/v1/executions/{execution['id']}/replay", {},
                                status=409)
    assert refused["error"] == "not_replayable"
    assert "64 KiB" in refused["message"]
    refused = await seed.api.ok("POST", f"/api/v1/modules/{seed.module['id']}/dry-run",
                                {"execution_id": execution["id"]}, status=409)
    assert refused["error"] == "not_replayable"
    # A webhook whose request the log kept whole replays as ever.
    await seed.hook_ok(start("c-2"))
    newest = (await seed.api.ok("GET", "/api/v1/executions"))["executions"][0]
    report = await seed.api.ok("POST", f"/api/v1/executions/{newest['id']}/replay", {})
    assert report["changed"] is False


async def test_test_connection_members_and_click_to_call(seed: SeedSetup) -> None:
    module_id = seed.module["id"]
    tested = await seed.api.ok("POST", f"/api/v1/modules/{module_id}/test-connection")
    assert tested["success"] is True
    members = await seed.api.ok("POST", f"/api/v1/modules/{module_id}/load-members")
    assert [m["id"] for m in members["members"]] == ["101", "102"]
    assert members["members"][0]["user_id"] == seed.user["id"]
    # The seed module defines no VoipGenerateCall: a clear 501, logged.
    response = await seed.service.client.post(
        "/api/v1/calls/originate", json={"module_id": module_id, "number": CLIENT},
        headers={"Authorization": f"Bearer {seed.user_token}"})
    assert response.status == 501
    assert "VoipGenerateCall" in (await response.json())["message"]


async def test_a_member_listed_twice_is_loaded_once_as_first_listed(seed: SeedSetup) -> None:
    module_id = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module_id}", {"settings": {
        "apiKey": "demo-api-key-123456", "recordBaseUrl": "https://records.example",
        "members": "101:Operator,102:Anna Petrova,101:Operator (queue),102:Anna"}})
    members = await seed.api.ok("POST", f"/api/v1/modules/{module_id}/load-members")
    assert [(m["id"], m["name"]) for m in members["members"]] == [
        ("101", "Operator"), ("102", "Anna Petrova")]
    assert members["members"][0]["user_id"] == seed.user["id"]


async def test_live_socket_catches_up_after_reconnect(seed: SeedSetup) -> None:
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    await socket.receive_json()
    await seed.hook_ok(start())
    first = await next_notification(socket)
    await socket.close()
    await seed.hook_ok(answer())
    socket = await seed.service.client.ws_connect(
        f"/api/v1/live?token={seed.user_token}&after={first['id']}")
    await socket.receive_json()
    missed = await next_notification(socket)
    assert missed["kind"] == "answered" and missed["missed"] is True
    assert (await socket.receive_json())["type"] == "caught_up"
    await socket.close()


async def test_a_call_ended_by_its_record_alone_is_redrawn_where_it_rang(
        seed: SeedSetup) -> None:
    """The platform's documented way: NotifyStart for the popup, then only the callRecord. The
    record ends the call, yet the contract's table notifies for events only: the operator's
    page showed it ringing until reloaded. Now the socket says the call changed (once: a
    retried record says nothing more)."""
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert [(await socket.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    await seed.hook_ok(start())
    assert (await next_notification(socket))["kind"] == "ringing"
    await seed.hook_ok(record(disposition="no_answer", duration=0, record_id=None))
    [call] = await calls(seed)
    assert call["state"] == "ended"
    changed = await asyncio.wait_for(socket.receive_json(), 10)
    assert changed == {"type": "call_changed", "call_id": call["id"]}
    await seed.hook_ok(record(disposition="no_answer", duration=0, record_id=None))  # a retry
    # The end event coming after it is the table's: "ended", the next message (the retried
    # record said nothing).
    await seed.hook_ok(end(disposition="no_answer"))
    following = await asyncio.wait_for(socket.receive_json(), 10)
    assert (following["type"], following["kind"]) == ("notification", "ended")
    await socket.close()


async def test_a_record_after_the_end_redraws_the_call_with_its_duration_and_outcome(
        seed: SeedSetup) -> None:
    """The end came first with no answer event (many providers send none): the live page's
    card said "answered" with no length, and the record's length (the provider's own) never
    reached it, nor did a recording that came later, until the page was reloaded. Each
    record that changes an ended call now says the call changed; a retry says nothing."""
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Ivan", "phones": [CLIENT]},
                      status=201)
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert [(await socket.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    await seed.hook_ok(start())
    assert (await next_notification(socket))["kind"] == "ringing"
    await seed.hook_ok(end(disposition="answered"))
    assert (await next_notification(socket))["kind"] == "ended"
    [call] = await calls(seed)
    assert call["duration"] is None
    await seed.hook_ok(record(duration=74, record_id=None))
    [call] = await calls(seed)
    assert call["duration"] == 74
    changed = await asyncio.wait_for(socket.receive_json(), 10)
    assert changed == {"type": "call_changed", "call_id": call["id"]}
    await seed.hook_ok(record(duration=74, record_id=None))  # a retry: nothing more
    await seed.hook_ok(record(duration=74, record_id="rec-late"))  # the recording, later
    assert (await calls(seed))[0]["has_record"] is True
    changed = await asyncio.wait_for(socket.receive_json(), 10)
    assert changed == {"type": "call_changed", "call_id": call["id"]}
    # A next call's ringing is the next message: the retry said nothing.
    await seed.hook_ok(start(call_id="c-2", src="+79160000002"))
    following = await asyncio.wait_for(socket.receive_json(), 10)
    assert (following["type"], following["kind"]) == ("notification", "ringing"), following
    await socket.close()


async def test_a_missed_calls_record_after_its_end_redraws_the_call_with_its_contact(
        seed: SeedSetup) -> None:
    """The end came first (its "ended" notification had no contact: none had the number);
    the record then created the contact. The page kept offering "Create contact" for a number
    a contact now has: the socket now says the call changed."""
    socket = await seed.service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert [(await socket.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    await seed.hook_ok(start())
    assert (await next_notification(socket))["kind"] == "ringing"
    await seed.hook_ok(end(disposition="no_answer"))
    ended = await next_notification(socket)
    assert ended["kind"] == "ended" and ended["payload"]["contact"] is None
    await seed.hook_ok(record(disposition="no_answer", duration=0, record_id=None))
    [call] = await calls(seed)
    assert call["contact_id"] is not None
    changed = await asyncio.wait_for(socket.receive_json(), 10)
    assert changed == {"type": "call_changed", "call_id": call["id"]}
    await socket.close()
