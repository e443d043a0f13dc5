"""What a builder's upload is refused for, as the service answers it: the line and the reason
(contract §2, §3: "refused at upload when the code shows it")."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.builders_support import MODULES
from tests.e2e.conftest import Service
from tests.e2e.test_deploy import deploy

GENERATOR_CALL = '''def VoipParseWebhookRequest(request):
    return {}


def VoipGenerateCall(src_phone, dst_phone):
    for number in (dst_phone, "8" + dst_phone[1:]):
        yield fetch("https://api.example.com/call?from=" + src_phone + "&to=" + number)
'''

LISTED_MEMBERS = '''def listed(function):
    def wrapper(*args):
        return list(function(*args))
    return wrapper


def VoipParseWebhookRequest(request):
    return {}


@listed
def VoipGetMembers():
    for extension in ("101", "102"):
        yield {"id": extension}
'''


async def test_a_contract_function_that_yields_is_refused_at_upload(service: Service) -> None:
    # Called, a generator function runs none of its body: this click-to-call answered 202
    # "placed" and rang no one, with nothing in the log.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                        {"source": GENERATOR_CALL, "activate": True}, status=422)
    assert body["error"] == "invalid_script"
    assert body["problems"] == [{"line": 7, "message": (
        "VoipGenerateCall is a generator function because of this yield, so the platform "
        "would get a generator and none of its body would run; return the result instead")}]
    listed = await api.ok("GET", f"/api/v1/modules/{module['id']}/versions")
    assert listed["versions"] == []

    # A decorator that consumes the generator makes an ordinary function of it.
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": LISTED_MEMBERS, "activate": True}, status=201)
    members = await api.ok("POST", f"/api/v1/modules/{module['id']}/load-members")
    assert [m["id"] for m in members["members"]] == ["101", "102"]


BIG_HEADER = '''def VoipParseWebhookRequest(request):
    data = request.json()
    return {
        "event": {"event": VoipWebhookEvent.NotifyStart, "direction": "in",
                  "disposition": "unknown", "srcPhone": "+79161234567", "dstPhone": "101",
                  "callId": data["id"]},
        "response": HttpResponse().header("X-Trace", "t" * data["size"]).content({"ok": True}),
    }
'''


async def test_a_reply_header_block_no_client_would_read_is_an_invalid_result(
        service: Service) -> None:
    # A 20 KB header went out after the call was stored; the provider's client (aiohttp here:
    # 8 KiB a line; a proxy's 4 KiB buffer) could not read the reply, and would retry.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": BIG_HEADER, "activate": True}, status=201)
    hook = "/hooks/" + module["webhook_url"].rsplit("/hooks/", 1)[1]
    response = await service.client.post(hook, json={"id": "c-1", "size": 20000})
    assert response.status == 500
    failed = await response.json()
    execution = await api.ok("GET", f"/api/v1/executions/{failed['execution_id']}")
    assert execution["error"]["type"] == "InvalidResult"
    assert execution["error"]["message"] == (
        "VoipParseWebhookRequest returned an invalid result: response.headers: are too large: "
        "at most 4096 bytes together as sent (got 20043); an HTTP client or a proxy may "
        "refuse a reply with more")
    assert (await api.ok("GET", "/api/v1/calls"))["calls"] == []

    # Up to the limit, as sent: X-Trace's and the Content-Type .content() set.
    fits = 4096 - len("X-Trace: \r\nContent-Type: application/json\r\n")
    response = await service.client.post(hook, json={"id": "c-2", "size": fits})
    assert response.status == 200
    assert response.headers["X-Trace"] == "t" * fits
    assert [c["provider_call_id"] for c in (await api.ok("GET", "/api/v1/calls"))["calls"]] == [
        "c-2"]


async def test_a_nested_setting_in_module_yaml_is_named_as_the_api_names_it(
        service: Service, tmp_path: Path) -> None:
    # The folder's check said "settings.apiBase.str: Input should be a valid string;
    # settings.apiBase.int: ...", a line for each type pydantic tried; then "settings: Value
    # error, ... not dict": pydantic's prefix and Python's type name, not the API's words.
    _, api = await service.new_tenant()
    folder = tmp_path / "zadarma"
    shutil.copytree(MODULES / "zadarma", folder)
    (folder / "module.yaml").write_text("name: zadarma\nsettings:\n  apiBase:\n"
                                        "    url: https://api.zadarma.com\n", encoding="utf-8")
    code, output = await deploy(service, folder, api.secret)
    assert code == 2
    assert output.strip() == (
        f"voip-runtime: {folder / 'module.yaml'}: settings: setting 'apiBase' "
        "must be a string, number or boolean (settings are a flat object), not an object")
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []


REGISTRY = '''HANDLERS = {}


def handler(function):
    HANDLERS["parse"] = function


@handler
def VoipParseWebhookRequest(request):
    return {}
'''


async def test_a_contract_function_its_decorator_dropped_is_named_at_its_def(
        service: Service) -> None:
    # A registry decorator that returns nothing leaves the name None: the execution log said
    # "the script does not define VoipParseWebhookRequest()" of a script that does.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": REGISTRY, "activate": True}, status=201)
    hook = "/hooks/" + module["webhook_url"].rsplit("/hooks/", 1)[1]
    response = await service.client.post(hook, data="{}")
    assert response.status == 500
    failed = await response.json()
    execution = await api.ok("GET", f"/api/v1/executions/{failed['execution_id']}")
    assert execution["error"] == {
        "type": "TypeError", "line": 9,
        "message": "line 9: VoipParseWebhookRequest is None once the script's top level has "
                   "run, not the function defined here: a decorator must return the function "
                   "it wraps, and nothing may assign to the name"}

    # An optional function so replaced fails as a script does (502), not as one left out (501).
    source = REGISTRY.replace("    return {}\n", "    return {}\n\n\n@handler\n"
                              "def VoipTestConnection():\n    return {'success': True}\n")
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": source, "activate": True}, status=201)
    response = await api.post(f"/api/v1/modules/{module['id']}/test-connection")
    body = await response.json()
    assert response.status == 502, body
    assert body["message"].endswith(
        "line 14: VoipTestConnection is None once the script's top level has run, not the "
        "function defined here: a decorator must return the function it wraps, and nothing "
        "may assign to the name")


BARE_EVENT = '''def VoipParseWebhookRequest(request):
    return VoipWebhookRequest(event=VoipWebhookEvent.NotifyStart, direction="in",
                              disposition="unknown", srcPhone="+79161234567", dstPhone="101")
'''


async def test_an_event_returned_itself_is_told_how_to_return_it(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    ran = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                       {"request": {"method": "POST"}, "source": BARE_EVENT})
    assert ran["ok"] is False
    assert ran["error"]["message"] == (
        "VoipParseWebhookRequest returned an invalid result: is an event (what "
        "VoipWebhookRequest builds), not a parse result: return it as "
        '{"event": VoipWebhookRequest(...)}')
