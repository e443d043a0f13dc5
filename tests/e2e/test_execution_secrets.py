"""What the execution log, dry runs and replays show of a provider's secrets and the module's
secret settings over the API: masked, with a list of what was, while a replay still runs the
request as it really came."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.e2e.conftest import ROOT, Service
from tests.e2e.helpers import seed_setup, upload

MEGAFON = (ROOT / "scripts" / "megafon" / "script.py").read_text(encoding="utf-8")
CRM_TOKEN = "mf-crm-token-6b1f0e"
API_KEY = "sk-live-7d1c9a55e0"

CHATTY = """
def VoipParseWebhookRequest(request):
    key = settings["apiKey"]
    print("calling with", key)
    if request.query.get("fail"):
        raise ValueError("refused key " + key)
    return {"response": {"status": 200, "body": "key=" + key}}
"""


async def megafon(service: Service) -> tuple[Any, dict[str, Any]]:
    _, api = await service.new_tenant("megafon-co")
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "megafon", "region": "RU",
        "settings": {"crmToken": CRM_TOKEN, "memberField": "user", "defaultResponsible": ""},
        "secrets": ["crmToken"],
    }, status=201)
    await upload(api, module["id"], MEGAFON)
    return api, module


async def test_megafon_crm_token_is_masked_in_the_execution_and_its_replay_runs_unmasked(
        service: Service) -> None:
    api, module = await megafon(service)
    form = urlencode({"cmd": "rating", "callid": "88", "rating": "5", "crm_token": CRM_TOKEN})
    answered = await service.client.post(
        urlsplit(module["webhook_url"]).path, data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic cGJ4OnMzY3JldA=="})
    assert answered.status == 200, await answered.text()
    [run] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    execution = await api.ok("GET", f"/api/v1/executions/{run['id']}")
    shown = json.dumps(execution)
    assert CRM_TOKEN not in shown and "cGJ4OnMzY3JldA" not in shown
    assert "crm_token=••••••" in execution["request"]["body"]  # the field is there, masked
    assert "cmd=rating" in execution["request"]["body"]
    assert "request body field crm_token" in execution["masked"]
    assert "request header Authorization" in execution["masked"]

    # The replay runs the stored request, token and all: masked, the script would refuse it.
    replay = await api.ok("POST", f"/api/v1/executions/{run['id']}/replay")
    assert replay["reply"]["status"] == 200 and replay["changed"] is False
    assert CRM_TOKEN not in json.dumps(replay)
    assert "request body field crm_token" in replay["masked"]
    dry = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                       {"execution_id": run["id"]})
    assert dry["reply"]["status"] == 200 and CRM_TOKEN not in json.dumps(dry)


async def test_a_secret_setting_is_masked_in_logs_error_result_and_reply(
        service: Service) -> None:
    _, api = await service.new_tenant("chatty-co")
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "chatty", "settings": {"apiKey": API_KEY, "region": "eu"},
        "secrets": ["apiKey"]}, status=201)
    await upload(api, module["id"], CHATTY)
    path = urlsplit(module["webhook_url"]).path
    assert (await service.client.post(path, data="{}")).status == 200
    assert (await service.client.post(path + "?fail=1", data="{}")).status == 500
    runs = (await api.ok("GET", "/api/v1/executions"))["executions"]
    assert API_KEY not in json.dumps(runs)
    failed, ok = [await api.ok("GET", f"/api/v1/executions/{r['id']}") for r in runs]
    for execution in (failed, ok):
        assert API_KEY not in json.dumps(execution)
        assert "calling with ••••••" in execution["logs"]
        assert "secret setting apiKey in logs" in execution["masked"]
    assert failed["error"]["message"].endswith("refused key ••••••")
    assert "secret setting apiKey in error" in failed["masked"]
    assert ok["result"]["response"]["body"] == "key=••••••"
    health = (await api.ok("GET", f"/api/v1/modules/{module['id']}"))["health"]
    assert health["last_error"]["message"].endswith("refused key ••••••")
    listed = await api.ok("GET", "/api/v1/modules")
    assert API_KEY not in json.dumps(listed)

    dry = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run", {})
    assert API_KEY not in json.dumps(dry)
    assert dry["reply"]["body"] == "key=••••••" and "calling with ••••••" in dry["logs"]
    assert "secret setting apiKey in reply" in dry["masked"]


async def test_nothing_secret_leaves_the_request_as_it_came(service: Service) -> None:
    _, api = await service.new_tenant("plain-co")
    module = await api.ok("POST", "/api/v1/modules", {"name": "plain"}, status=201)
    await upload(api, module["id"], CHATTY.replace('settings["apiKey"]', '"none"'))
    path = urlsplit(module["webhook_url"]).path
    body = '{"a":1,  "b": [2]}'
    assert (await service.client.post(path + "?x=1&y=2", data=body)).status == 200
    [run] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    execution = await api.ok("GET", f"/api/v1/executions/{run['id']}")
    assert execution["request"]["body"] == body
    assert execution["request"]["url"].endswith("?x=1&y=2")
    assert execution["masked"] == []


FETCHING = """
def VoipParseWebhookRequest(request):
    token = "t" + str(20261207) + "x"  # made by the script: no setting holds it
    try:
        fetch("https://api.example.com/v1/calls?access_token=" + token, method="POST")
    except FetchError as error:
        log("fetch:", error)
    return None
"""


async def test_a_dry_runs_fetch_urls_show_their_credentials_masked(service: Service) -> None:
    _, api = await service.new_tenant("fetching-co")
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "fetching", "allowlist": ["api.example.com"]}, status=201)
    await upload(api, module["id"], FETCHING)
    dry = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run", {})
    [fetch] = dry["fetches"]
    assert fetch["not_sent"] is True
    assert fetch["url"] == "https://api.example.com/v1/calls?access_token=••••••"
    assert fetch["error"] == f"not sent in a dry run: POST {fetch['url']}"
    assert "a fetch URL query parameter access_token" in dry["masked"]


FUNCTIONS = """
def VoipParseWebhookRequest(request):
    return None

def VoipTestConnection():
    return {"success": False, "failReason": "the PBX refused key " + settings["apiKey"]}

def VoipGetCallLink(call):
    raise ValueError("no recording for key " + settings["apiKey"])
"""


async def test_other_functions_answer_with_the_secret_settings_masked(service: Service) -> None:
    _, api = await service.new_tenant("functions-co")
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "functions", "settings": {"apiKey": API_KEY}, "secrets": ["apiKey"]},
        status=201)
    await upload(api, module["id"], FUNCTIONS)
    tested = await api.ok("POST", f"/api/v1/modules/{module['id']}/test-connection")
    assert tested["failReason"] == "the PBX refused key ••••••"
    # A call record with recording data, then its playback: the script fails.
    await upload(api, module["id"], FUNCTIONS.replace("    return None", """    return {
        "callRecord": {"direction": "in", "disposition": "answered", "srcPhone": "79161234567",
                       "dstPhone": "101", "duration": 5, "call": {"id": "r-1"}}}"""))
    assert (await service.client.post(urlsplit(module["webhook_url"]).path)).status == 200
    [call] = (await api.ok("GET", "/api/v1/calls"))["calls"]
    response = await api.request("GET", f"/api/v1/calls/{call['id']}/recording?format=json")
    failed = await response.json()
    assert response.status == 502, failed
    assert API_KEY not in json.dumps(failed)
    assert failed["message"].endswith("no recording for key ••••••")


END_WITH_RECORD = """
def VoipParseWebhookRequest(request):
    data = request.json()
    call = {"direction": "in", "srcPhone": "79161234567", "dstPhone": "101", "callId": "c-9"}
    if data.get("end"):
        return {"event": {**call, "event": "notify_end", "disposition": "answered"},
                "callRecord": {**call, "disposition": "answered", "duration": 7,
                               "call": {"url": "https://rec.example/r/9?sig=rec-sig-4e1b"}}}
    return {"event": {**call, "event": "notify_start", "disposition": "unknown"}}
"""


async def test_a_users_live_notifications_carry_no_recording_data(service: Service) -> None:
    seed = await seed_setup(service, "live-co")
    await upload(seed.api, seed.module["id"], END_WITH_RECORD)
    await seed.hook_ok({"start": True})
    await seed.hook_ok({"end": True})
    response = await service.client.get(f"/api/v1/notifications?token={seed.user_token}")
    notifications = (await response.json())["notifications"]
    assert [n["kind"] for n in notifications] == ["ringing", "ended"]
    ended = notifications[-1]["payload"]["call"]
    assert ended["has_record"] is True and "record_call" not in ended
    assert "rec-sig-4e1b" not in json.dumps(notifications)
    # The builder's API still has it, for VoipGetCallLink's sake.
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert call["record_call"] == {"url": "https://rec.example/r/9?sig=rec-sig-4e1b"}
