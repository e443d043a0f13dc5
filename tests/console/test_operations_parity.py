"""The API and the console run dry runs and replays through one layer (runtime/operations):
the same request reports the same thing in both, and fails with the same status, code and
message. Each case runs through `/api/v1` with the tenant key and through `/console` signed in
with it, and the two answers are compared."""

from __future__ import annotations

import json
from html import unescape
from typing import Any

from aiohttp import ClientResponse

from runtime.redaction import Redactor
from tests.console.conftest import Browser
from tests.console.scripts import FORM_BODY, FORM_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup, start, upload

# Everything a dry run reports but its duration (a fresh run takes its own time).
SAME = ("function", "ok", "outcome", "result", "raw_result", "error", "limit", "logs",
        "logs_truncated", "effects", "storage", "fetches", "version_id", "reply")

# Ids of what a dry run would create are new in each run (and rolled back).
NEW_IDS = {"id", "call_id", "contact_id"}

FORM_HEADERS = [["Content-Type", "application/x-www-form-urlencoded"]]
METHOD_SCRIPT = '''def VoipParseWebhookRequest(request):
    log("method", request.method)
    return {}
'''
FAILING_SCRIPT = "def VoipParseWebhookRequest(request):\n    x = 1\n    return 1 / 0\n"
INVALID_SCRIPT = ('def VoipParseWebhookRequest(request):\n'
                  '    return {"event": {"event": "NoSuchEvent"}}\n')


async def answer(response: ClientResponse) -> tuple[int, Any]:
    return response.status, json.loads(await response.text())


class Both:
    """One tenant seen through the API (its key) and the console (signed in with that key)."""

    def __init__(self, seed: SeedSetup, browser: Browser) -> None:
        self.seed = seed
        self.browser = browser

    async def dry_run(self, module_id: str, body: dict[str, Any]
                      ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        api = await answer(await self.seed.api.post(f"/api/v1/modules/{module_id}/dry-run",
                                                    body))
        console = await answer(await self.browser.post_json(
            f"/console/modules/{module_id}/dry-run", body))
        return api, console

    async def replay(self, module_id: str, execution_id: str, body: dict[str, Any]
                     ) -> tuple[tuple[int, Any], tuple[int, Any]]:
        """The API's replay route, and the console's dry run of a stored execution (its
        editor's replay)."""
        api = await answer(await self.seed.api.post(
            f"/api/v1/executions/{execution_id}/replay", body))
        console = await answer(await self.browser.post_json(
            f"/console/modules/{module_id}/dry-run", {**body, "execution_id": execution_id}))
        return api, console


def comparable(value: Any) -> Any:
    """`value` with the ids a dry run makes up replaced by a mark."""
    if isinstance(value, dict):
        return {k: "<new id>" if k in NEW_IDS and isinstance(v, str) else comparable(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def same_report(api: tuple[int, Any], console: tuple[int, Any], *, replay: bool = False
                ) -> dict[str, Any]:
    """The report both gave; a replay's request is masked in the console (checked apart)."""
    (api_status, api_body), (console_status, console_body) = api, console
    assert api_status == console_status == 200, (api, console)
    keys = SAME if replay else (*SAME, "request")
    assert comparable({k: api_body[k] for k in keys}) \
        == comparable({k: console_body[k] for k in keys})
    return dict(api_body)


def same_failure(api: tuple[int, Any], console: tuple[int, Any], status: int, code: str
                 ) -> str:
    assert api == console, (api, console)
    assert api[0] == status and api[1]["error"] == code, api
    return str(api[1]["message"])


async def setup(console: tuple[Service, str], browser: Browser
                ) -> tuple[Both, str, str, SeedSetup]:
    """The seed tenant with a second module, a stored webhook execution, and another
    tenant; signed in to the console as the seed tenant."""
    service, _ = console
    seed = await seed_setup(service)
    other_module = await seed.api.ok("POST", "/api/v1/modules", {"name": "second"},
                                     status=201)
    await upload(seed.api, other_module["id"], FORM_SCRIPT)
    await seed.hook_ok(start("c-1"))
    execution = (await seed.api.ok("GET", "/api/v1/executions"))["executions"][0]
    stranger = await seed_setup(service, name="stranger")
    await stranger.hook_ok(start("c-2"))
    await browser.sign_in(seed.api.secret or "")
    return Both(seed, browser), other_module["id"], execution["id"], stranger


async def test_dry_runs_report_the_same_in_the_api_and_the_console(
        console: tuple[Service, str], browser: Browser) -> None:
    both, second, _, _ = await setup(console, browser)
    module = both.seed.module["id"]
    composed = {"method": "POST", "headers": [["Content-Type", "application/json"]],
                "body": json.dumps(start("c-7"))}
    ok = same_report(*await both.dry_run(module, {"request": composed}))
    assert ok["outcome"] == "ok" and ok["effects"]["call"]["state_after"] == "ringing", ok
    active = await both.seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert ok["version_id"] == active["active_version"]["id"]
    form = same_report(*await both.dry_run(second, {"source": FORM_SCRIPT, "request": {
        "headers": FORM_HEADERS, "body": FORM_BODY}}))
    assert form["version_id"] is None and form["logs"].startswith("got start"), form
    # The method as a request line carries it, in both (the console alone used to do this).
    method = same_report(*await both.dry_run(module, {"source": METHOD_SCRIPT,
                                                      "request": {"method": "post"}}))
    assert method["logs"] == "method POST\n" and method["request"]["method"] == "POST"
    failed = same_report(*await both.dry_run(module, {"source": FAILING_SCRIPT}))
    assert failed["outcome"] == "error" and failed["error"]["type"] == "ZeroDivisionError"
    assert failed["error"]["line"] == 3 and failed["reply"] is None
    invalid = same_report(*await both.dry_run(module, {"source": INVALID_SCRIPT}))
    assert invalid["outcome"] == "invalid" and invalid["error"]["type"] == "InvalidResult"
    assert invalid["raw_result"] == {"event": {"event": "NoSuchEvent"}}
    # Nothing of any of it was stored: the one call is the real webhook's.
    calls = (await both.seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert [call["provider_call_id"] for call in calls] == ["c-1"], calls


async def test_replays_report_the_same_in_the_api_and_the_console(
        console: tuple[Service, str], browser: Browser) -> None:
    both, _, execution, _ = await setup(console, browser)
    module = both.seed.module["id"]
    api, console_answer = await both.replay(module, execution, {})
    same = same_report(api, console_answer, replay=True)
    assert same["outcome"] == "ok" and not api[1]["changed"]
    replayed = console_answer[1]
    # Both masked alike (the API's was already; masking again changes nothing).
    assert replayed["request"] == api[1]["request"]
    assert replayed["request"] == Redactor().request(api[1]["request"])
    assert replayed["masked"] == api[1]["masked"]
    assert {k: v for k, v in replayed["original"].items() if k != "created_at"} \
        == api[1]["original"]
    assert replayed["comparison"]["changed"] is api[1]["changed"] is False
    broken = same_report(*await both.replay(module, execution, {"source": FAILING_SCRIPT}),
                         replay=True)
    assert broken["outcome"] == "error"
    api, console_answer = await both.replay(module, execution, {"source": INVALID_SCRIPT})
    assert same_report(api, console_answer, replay=True)["outcome"] == "invalid"
    assert api[1]["changed"] and console_answer[1]["comparison"]["newly_failing"]


async def test_dry_runs_and_replays_fail_the_same_way(console: tuple[Service, str],
                                                      browser: Browser) -> None:
    both, second, execution, stranger = await setup(console, browser)
    module = both.seed.module["id"]
    message = same_failure(*await both.dry_run(second, {"execution_id": execution}),
                           400, "bad_request")
    assert message == "that execution belongs to another module"
    same_failure(*await both.dry_run(module, {"execution_id": "ex_unknown"}), 404, "not_found")
    strangers = (await stranger.api.ok("GET", "/api/v1/executions"))["executions"][0]["id"]
    same_failure(*await both.dry_run(module, {"execution_id": strangers}), 404, "not_found")
    same_failure(*await both.dry_run(stranger.module["id"], {}), 404, "not_found")
    same_failure(*await both.dry_run(module, {"source": "x", "version_id": "y"}),
                 400, "bad_request")
    same_failure(*await both.dry_run(module, {"version_id": "v_unknown"}), 404, "not_found")
    same_failure(*await both.dry_run(module, {"source": "#" * (64 * 1024 + 1)}),
                 422, "invalid_script")
    same_failure(*await both.dry_run(module, {"request": {"method": ""}}), 422, "invalid")
    # A test connection stores no webhook request: nothing to replay.
    await both.seed.api.post(f"/api/v1/modules/{module}/test-connection")
    tested = (await both.seed.api.ok(
        "GET", "/api/v1/executions?function=VoipTestConnection"))["executions"][0]["id"]
    same_failure(*await both.dry_run(module, {"execution_id": tested}), 409, "not_replayable")
    same_failure(*await both.replay(module, tested, {}), 409, "not_replayable")
    # A module without an active script.
    empty = await both.seed.api.ok("POST", "/api/v1/modules", {"name": "empty"}, status=201)
    same_failure(*await both.dry_run(empty["id"], {}), 409, "no_active_script")


async def test_the_replay_selection_refuses_as_the_dry_run_does(
        console: tuple[Service, str], browser: Browser) -> None:
    both, second, execution, stranger = await setup(console, browser)
    version = (await both.seed.api.ok("GET", f"/api/v1/modules/{second}"))["active_version"]
    other = await browser.post_form(f"/console/modules/{second}/replay",
                                    [("against", version["id"]), ("execution_id", execution)])
    api_status, api_body = (await both.dry_run(second, {"execution_id": execution}))[0]
    assert other.status == api_status == 400
    assert api_body["message"] in (await other.text())
    strangers = (await stranger.api.ok("GET", "/api/v1/executions"))["executions"][0]["id"]
    unknown = await browser.post_form(f"/console/modules/{second}/replay",
                                      [("against", version["id"]), ("execution_id", strangers)])
    assert unknown.status == 404


async def test_test_connection_and_members_say_the_same(console: tuple[Service, str],
                                                        browser: Browser) -> None:
    both, _, _, _ = await setup(console, browser)
    module = both.seed.module["id"]
    api_members = await both.seed.api.ok("POST", f"/api/v1/modules/{module}/load-members")
    page = await browser.post_form(f"/console/modules/{module}/load-members", {})
    html = unescape(await page.text())
    assert page.status == 200
    for member in api_members["members"]:
        assert str(member["id"]) in html and member["name"] in html
    empty = await both.seed.api.ok("POST", "/api/v1/modules", {"name": "empty"}, status=201)
    refused = await both.seed.api.post(f"/api/v1/modules/{empty['id']}/test-connection")
    assert refused.status == 409
    message = (await refused.json())["message"]
    page = await browser.post_form(f"/console/modules/{empty['id']}/test-connection", {})
    assert message in unescape(await page.text())
