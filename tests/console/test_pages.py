"""Every console page and form over HTTP, without a browser: a real service on loopback."""

from __future__ import annotations

import gzip
import json
import re
from html import unescape

import aiohttp

from runtime.console.modules_views import USER_MENU_OPTIONS
from tests.console.conftest import Browser
from tests.console.scripts import (
    BROKEN_LINES,
    BROKEN_SCRIPT,
    CHANGED_SCRIPT,
    FORM_BODY,
    FORM_SCRIPT,
)
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SeedSetup, answer, end, record, seed_setup, start, upload


async def builder(console: tuple[Service, str], browser: Browser) -> SeedSetup:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    return seed


def hook_path_of(html: str) -> str:
    url = unescape(re.search(r'id="webhook-url" readonly value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    return "/hooks/" + url.split("/hooks/", 1)[1]


# --- pages and headers ------------------------------------------------------------------------


async def test_sign_in_page_and_security_headers(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    response = await browser.get("/console/sign-in")
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "'self'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert "'unsafe-inline'" not in policy
    assert re.search(r"script-src 'nonce-[\w-]+'; style-src 'nonce-[\w-]+';", policy)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    html = await response.text()
    assert '<label for="credential">' in html and "<script" not in html
    home = await browser.get("/console/", allow_redirects=False)
    assert home.headers["Location"] == "/console/sign-in"
    private = await browser.get("/console/modules", allow_redirects=False)
    assert private.headers["Location"].startswith("/console/sign-in?next=")


async def test_modules_list_and_create(console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    html = await browser.page("/console/modules")
    assert "seed-json" in html and "v1" in html
    bad = await browser.post_form("/console/modules", {"name": "   ", "region": "XX"})
    assert bad.status == 422
    assert "region" in await bad.text()
    taken = await browser.post_form("/console/modules", {"name": "seed-json"})
    assert taken.status == 422 and "seed-json" in await taken.text()
    controlled = await browser.post_form("/console/modules", {"name": "pbx\x1b[2J"})
    assert controlled.status == 422
    assert ("name: a name must not hold control characters (it holds U+001B at character 4)"
            in await controlled.text())
    created = await browser.post_form("/console/modules", {"name": "second", "region": "de"})
    assert created.status == 303
    page = await browser.page(created.headers["Location"])
    assert "Module second" in page and 'value="DE"' in page
    names = [m["name"] for m in (await seed.api.ok("GET", "/api/v1/modules"))["modules"]]
    assert sorted(names) == ["second", "seed-json"]


async def test_module_page_masks_secrets_and_replaces_them(console: tuple[Service, str],
                                                           browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    html = await browser.page(f"/console/modules/{module}")
    assert hook_path_of(html) in seed.hook_path
    assert "demo-api-key-123456" not in html  # the secret is never shown back
    assert "records.example.com" in html
    fields = re.findall(r'name="(s\d+-original)" value="([^"]+)"', html)
    rows = {name: i for i, (_, name) in enumerate(fields)}
    form: list[tuple[str, str]] = [("rows", str(len(fields) + 1))]
    for name, i in rows.items():
        form += [(f"s{i}-original", name), (f"s{i}-name", name), (f"s{i}-type", "text")]
        if name == "apiKey":
            form += [(f"s{i}-value", ""), (f"s{i}-secret", "1")]  # blank: keep it
        elif name == "members":
            form += [(f"s{i}-value", "x"), (f"s{i}-remove", "1")]
        else:
            form += [(f"s{i}-value", "https://rec.example.net")]
    n = len(fields)
    form += [(f"s{n}-name", "retries"), (f"s{n}-type", "number"), (f"s{n}-value", "3")]
    saved = await browser.post_form(f"/console/modules/{module}/settings", form)
    assert saved.status == 303, await saved.text()
    api = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert api["settings"]["recordBaseUrl"] == "https://rec.example.net"
    assert api["settings"]["retries"] == 3 and "members" not in api["settings"]
    assert api["secrets"] == ["apiKey"] and api["settings"]["apiKey"] != ""
    test = await browser.post_form(f"/console/modules/{module}/test-connection", {},
                                   headers={"HX-Request": "true"})
    assert "Connection works" in await test.text()  # the kept secret still works
    # A replaced secret: the new value is stored, and still never shown.
    replaced = await browser.post_form(f"/console/modules/{module}/settings", [
        ("rows", "1"), ("s0-original", "apiKey"), ("s0-name", "apiKey"), ("s0-type", "text"),
        ("s0-value", "new-secret-value-987"), ("s0-secret", "1")])
    assert replaced.status == 303
    assert (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["settings"]["apiKey"] \
        .endswith("87")
    assert "new-secret-value-987" not in await browser.page(f"/console/modules/{module}")
    failing = await browser.post_form(f"/console/modules/{module}/settings", [
        ("rows", "1"), ("s0-name", "n"), ("s0-type", "number"), ("s0-value", "many")])
    assert failing.status == 422 and "not a number" in await failing.text()


async def test_general_form_allowlist_and_region(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    ok = await browser.post_form(f"/console/modules/{module}/general", {
        "name": "seed-json", "description": "d", "region": "de",
        "allowlist": "api.example.com\n*.example.org\n"})
    assert ok.status == 303
    api = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert api["allowlist"] == ["api.example.com", "*.example.org"] and api["region"] == "DE"
    bad = await browser.post_form(f"/console/modules/{module}/general", {
        "name": "seed-json", "region": "RU", "allowlist": "https://x.example.com/"})
    assert bad.status == 422 and "without a scheme" in await bad.text()


async def test_members_bindings_and_unbound_extensions(console: tuple[Service, str],
                                                       browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    await seed.hook_ok(start("u-1", dst="105"))
    html = await browser.page(f"/console/modules/{module}")
    unbound = html.split("Extensions seen in webhooks", 1)[1]
    assert "105" in unbound and "101" not in unbound.split("</table>")[0]
    fragment = await browser.post_form(f"/console/modules/{module}/load-members", {},
                                       headers={"HX-Request": "true"})
    text = await fragment.text()
    assert "<html" not in text and "Anna Petrova" in text and "Save all bindings" in text
    full = await browser.post_form(f"/console/modules/{module}/load-members", {})
    assert "<html" in await full.text()
    saved = await browser.post_form(f"/console/modules/{module}/bindings", [
        ("rows", "2"), ("m0-id", "101"), ("m0-user", seed.user["id"]),
        ("m1-id", "102"), ("m1-user", anna["id"])])
    assert saved.status == 303
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert {b["member_id"]: b["user_name"] for b in bindings["bindings"]} == \
        {"101": "operator", "102": "Anna"}
    unbind = await browser.post_form(f"/console/modules/{module}/bindings", [
        ("rows", "1"), ("m0-id", "102"), ("m0-user", "")])
    assert unbind.status == 303
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert [b["member_id"] for b in bindings["bindings"]] == ["101"]


MANY_MEMBERS = """
def VoipParseWebhookRequest(request):
    return None

def VoipGetMembers():
    return [{"id": str(2000 + n), "name": "Member " + str(n)} for n in range(3000)]
"""


async def test_user_menus_are_bounded_however_many_members_and_users(
        console: tuple[Service, str], browser: Browser) -> None:
    # Every row of the bindings and loaded-members tables carries a menu of every user: with
    # 500 users and 50,000 bindings (or a VoipGetMembers naming 100,000 members) the module page
    # was gigabytes, built in the service's event loop. Rows past USER_MENU_OPTIONS show no menu.
    seed = await builder(console, browser)
    module = seed.module["id"]
    users = [seed.user] + [
        await seed.api.ok("POST", "/api/v1/users", {"name": f"user {i}"}, status=201)
        for i in range(99)]
    bound = {str(1000 + i): users[i % 100]["id"] for i in range(2000)}
    await seed.api.ok("PUT", f"/api/v1/modules/{module}/bindings", {"bindings": bound})
    rows = USER_MENU_OPTIONS // 101
    html = await browser.page(f"/console/modules/{module}")
    assert html.count("<option") <= USER_MENU_OPTIONS + 200  # and bind-by-hand's, the settings'
    assert f'name="rows" value="{rows}"' in html
    assert f"The first {rows} rows can be changed here" in html
    assert "<tr><td>2999</td><td>user 98</td></tr>" in html  # shown, without a menu

    await upload(seed.api, module, MANY_MEMBERS)
    fragment = await browser.post_form(f"/console/modules/{module}/load-members", {},
                                       headers={"HX-Request": "true"})
    text = await fragment.text()
    assert fragment.status == 200, text
    assert text.count("<option") <= USER_MENU_OPTIONS
    assert "Members the provider reports (3000)" in text
    assert "<tr><td>4999</td><td>Member 2999</td><td></td></tr>" in text


async def test_test_connection_shows_the_reason(console: tuple[Service, str],
                                                browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module}",
                      {"settings": {"apiKey": ""}, "secrets": []})
    result = await browser.post_form(f"/console/modules/{module}/test-connection", {},
                                     headers={"HX-Request": "true"})
    assert "Connection failed: the module setting apiKey is empty" in await result.text()


# --- the editor's endpoints -------------------------------------------------------------------


async def test_editor_page_and_check(console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    html = await browser.page(f"/console/modules/{module}/editor")
    assert "VoipParseWebhookRequest" in html and 'id="editor-config"' in html
    assert "vendor/codemirror.js" in html and "&#34;&#34;&#34;Seed module" in html
    ok = await browser.post_json(f"/console/modules/{module}/check", {"source": FORM_SCRIPT})
    assert ok.status == 200
    bad = await browser.post_json(f"/console/modules/{module}/check", {"source": BROKEN_SCRIPT})
    assert bad.status == 422
    body = await bad.json()
    assert [p["line"] for p in body["problems"]] == list(BROKEN_LINES)


async def test_save_versions_and_confirm_overwrite(console: tuple[Service, str],
                                                   browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    v1 = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"][0]
    saved = await browser.post_json(f"/console/modules/{module}/versions", {
        "source": FORM_SCRIPT, "activate": False, "base_version_id": v1["id"]})
    assert saved.status == 201 and (await saved.json())["active"] is False
    # Someone else activates a version meanwhile.
    other = await upload(seed.api, module, CHANGED_SCRIPT)
    conflict = await browser.post_json(f"/console/modules/{module}/versions", {
        "source": FORM_SCRIPT, "activate": True, "base_version_id": v1["id"]})
    assert conflict.status == 409
    details = (await conflict.json())["details"]["active_version"]
    assert details["id"] == other["id"] and details["number"] == 3
    forced = await browser.post_json(f"/console/modules/{module}/versions", {
        "source": FORM_SCRIPT, "activate": True, "base_version_id": v1["id"],
        "overwrite": True})
    assert forced.status == 201
    new = await forced.json()
    assert new["active"] and new["number"] == 4 and new["base_version_id"] == v1["id"]
    refused = await browser.post_json(f"/console/modules/{module}/versions", {
        "source": BROKEN_SCRIPT, "activate": True, "base_version_id": new["id"]})
    assert refused.status == 422
    versions = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"]
    assert len(versions) == 4


async def test_dry_runs_of_draft_version_and_stored_request(console: tuple[Service, str],
                                                            browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    form = await browser.post_json(f"/console/modules/{module}/dry-run", {
        "source": FORM_SCRIPT, "request": {
            "method": "POST", "headers": [["Content-Type",
                                           "application/x-www-form-urlencoded"]],
            "body": FORM_BODY}})
    report = await form.json()
    assert report["outcome"] == "ok", report
    assert report["effects"]["call"]["state_after"] == "ringing"
    assert report["logs"].startswith("got start")
    assert (await seed.api.ok("GET", "/api/v1/calls"))["calls"] == []  # nothing stored
    failing = await browser.post_json(f"/console/modules/{module}/dry-run", {
        "source": "def VoipParseWebhookRequest(request):\n    x = 1\n    return 1 / 0\n"})
    error = (await failing.json())["error"]
    assert error["type"] == "ZeroDivisionError" and error["line"] == 3
    await seed.hook_ok(start("c-9"))
    execution = (await seed.api.ok("GET", "/api/v1/executions"))["executions"][0]
    replay = await browser.post_json(f"/console/modules/{module}/dry-run", {
        "source": (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions/"
                                     f"{execution['version_id']}"))["source"].replace(
            'srcPhone=required_text(data, "srcPhone")', 'srcPhone="+70000000000"'),
        "execution_id": execution["id"]})
    body = await replay.json()
    comparison = body["comparison"]
    assert comparison["changed"] and not comparison["outcome_changed"]
    assert [d["path"] for d in comparison["result_diff"]] == ["event.srcPhone"]
    version = await browser.post_json(f"/console/modules/{module}/dry-run", {
        "version_id": execution["version_id"], "execution_id": execution["id"]})
    assert (await version.json())["comparison"]["result_diff"] == []
    masked = await browser.get(f"/console/executions/{execution['id']}/request")
    assert (await masked.json())["request"]["method"] == "POST"


# --- versions, diff, rollback -----------------------------------------------------------------


async def test_versions_diff_activate_rollback(console: tuple[Service, str],
                                               browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    boom = "def VoipParseWebhookRequest(request):\n    raise ValueError('no')\n"
    v2 = await upload(seed.api, module, boom)
    assert (await seed.post_hook(start())).status == 500
    html = await browser.page(f"/console/modules/{module}/versions")
    row = html.split(">v2", 1)[1].split("</tr>", 1)[0]
    assert "active" in row and "<td>1</td>" in row  # one failed execution while active
    assert "vrk_" in row or "key_" in row
    v1 = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"][1]
    diff = await browser.page(f"/console/modules/{module}/diff?a={v1['id']}&b={v2['id']}")
    assert "raise ValueError(&#39;no&#39;)" in diff and 'class="code added"' in diff
    back = await browser.post_form(f"/console/modules/{module}/rollback", {})
    assert back.status == 303
    assert (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["active_version"]["number"] == 1
    again = await browser.post_form(f"/console/modules/{module}/rollback", {})
    assert again.status == 409 and "error" in await again.text()
    activate = await browser.post_form(f"/console/modules/{module}/versions/{v2['id']}/activate",
                                       {})
    assert activate.status == 303
    assert (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["active_version"]["number"] == 2


# --- the execution log ------------------------------------------------------------------------


async def test_execution_log_filters_detail_and_masking(console: tuple[Service, str],
                                                        browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    await seed.hook_ok(start())
    bad = await seed.service.client.post(
        seed.hook_path + "?token=query-secret-1&x=1", data="not json",
        headers={"Authorization": "Bearer provider-secret-2", "X-Signature": "sig-3"})
    assert bad.status == 400
    html = await browser.page(f"/console/modules/{module}/executions")
    assert html.count('name="execution_id"') == 2
    only_ok = await browser.page(f"/console/modules/{module}/executions?outcome=ok")
    assert only_ok.count('name="execution_id"') == 2  # a 400 reply is still an ok run
    none = await browser.page(f"/console/modules/{module}/executions?outcome=error")
    assert "No executions match" in none
    later = await browser.page(f"/console/modules/{module}/executions?since=2999-01-01T00:00")
    assert "No executions match" in later
    wrong = await browser.get(f"/console/modules/{module}/executions?outcome=nope")
    assert wrong.status == 400
    ids = re.findall(r'name="execution_id" value="([^"]+)"', html)
    detail = await browser.page(f"/console/executions/{ids[0]}")
    for secret in ("query-secret-1", "provider-secret-2", "sig-3"):
        assert secret not in detail
    assert "X-Signature" in detail and "refused:" in detail


async def test_replay_a_selection_against_draft_and_version(console: tuple[Service, str],
                                                            browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(answer("c-1"))
    executions = (await seed.api.ok("GET", "/api/v1/executions"))["executions"]
    boom = "def VoipParseWebhookRequest(request):\n    raise ValueError('draft')\n"
    fields = [("execution_id", e["id"]) for e in executions]
    draft = await browser.post_form(f"/console/modules/{module}/replay",
                                    [*fields, ("against", "draft"), ("source", boom)])
    html = await draft.text()
    assert draft.status == 200, html
    assert 'data-count="newly_failing">2<' in html and "ValueError" in html
    version = executions[0]["version_id"]
    same = await browser.post_form(f"/console/modules/{module}/replay",
                                   [*fields, ("against", version)])
    html = await same.text()
    assert 'data-count="outcome_changed">0<' in html and 'data-count="total">2<' in html
    empty = await browser.post_form(f"/console/modules/{module}/replay", [("against", version)])
    assert empty.status == 422
    assert (await seed.api.ok("GET", "/api/v1/calls"))["calls"][0]["state"] == "answered"


# --- operators: live, calls, contacts, recordings --------------------------------------------


async def test_live_page_and_socket_with_catch_up(console: tuple[Service, str],
                                                  browser: Browser) -> None:
    service, base = console
    seed = await seed_setup(service)
    await seed.hook_ok(start("c-1"))
    await browser.sign_in(seed.user_token)
    html = await browser.page("/console/live")
    assert "ringing" in html and CLIENT in html and "Create contact" in html
    last = re.search(r'data-last-id="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    origin = {"Origin": base}
    async with browser.session.ws_connect(base + f"/console/live/socket?after={last}",
                                          headers=origin) as socket:
        assert (await socket.receive_json())["type"] == "hello"
        assert (await socket.receive_json())["type"] == "caught_up"
        await seed.hook_ok(answer("c-1"))
        message = await socket.receive_json(timeout=5)
        assert message["kind"] == "answered" and message["payload"]["call"]["state"] == "answered"
        seen = message["id"]
    await seed.hook_ok(end("c-1"))
    async with browser.session.ws_connect(base + f"/console/live/socket?after={seen}",
                                          headers=origin) as socket:
        await socket.receive_json()
        missed = await socket.receive_json()
        assert missed["missed"] is True and missed["kind"] == "ended"
    evil = await browser.session.get(base + "/console/live/socket",
                                     headers={"Origin": "https://evil.example",
                                              "Upgrade": "websocket", "Connection": "Upgrade",
                                              "Sec-WebSocket-Version": "13",
                                              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert evil.status == 403
    async with aiohttp.ClientSession() as stranger:
        refused = await stranger.get(base + "/console/live/socket", allow_redirects=False)
        assert refused.status == 302


async def test_contacts_calls_and_recording(console: tuple[Service, str],
                                            browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    for payload in (start(), answer(), end(), record()):
        await seed.hook_ok(payload)
    await seed.hook_ok(start("c-2", src="+79165550000", dst="102"))  # not this user's call
    await browser.sign_in(seed.user_token)
    calls = await browser.page("/console/calls")
    assert calls.count("<tr>") == 2  # header + the one call this operator was notified of
    assert "+79165550000" not in calls and "<audio" in calls
    refused = await browser.post_form("/console/contacts", {"name": "X",
                                                            "phone": "+79165550000"})
    assert refused.status == 403
    created = await browser.post_form("/console/contacts", {"name": "Ivan", "phone": CLIENT,
                                                            "region": "RU"})
    assert created.status == 303
    contact_page = await browser.page(created.headers["Location"])
    assert "Contact: Ivan" in contact_page and "Contact created" in contact_page
    contact_id = created.headers["Location"].split("/")[3].split("?")[0]
    # The record came before the contact: the activity entry has no contact yet.
    await seed.hook_ok(record(duration=80))
    contact_page = await browser.page(f"/console/contacts/{contact_id}")
    assert "<audio" in contact_page and "1 min 20 s" in contact_page
    call_id = re.search(r'/console/calls/([^/]+)/recording', contact_page).group(1)  # type: ignore[union-attr]
    link = await browser.get(f"/console/calls/{call_id}/recording", allow_redirects=False)
    assert link.status == 302
    assert link.headers["Location"] == "https://records.example.com/rec/rec-1001"
    other = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Other",
                                                           "phones": ["+79990001122"]},
                              status=201)
    assert (await browser.get(f"/console/contacts/{other['id']}")).status == 404


async def test_an_operator_keeps_the_calls_they_answered(console: tuple[Service, str],
                                                         browser: Browser) -> None:
    """A call known only from its Answered record names who answered; after 101 is bound to
    someone else, the operator still lists and plays the call they answered."""
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    await seed.hook_ok(record("c-9"))
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "anna"}, status=201)
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": anna["id"]}})
    await seed.hook_ok(record("c-10", src="+79165550000"))  # answered at 101 by anna now
    await browser.sign_in(seed.user_token)
    calls = await browser.page("/console/calls")
    assert calls.count("<tr>") == 2  # header + the call this operator answered
    assert "answered by <bdi>operator</bdi> (101)" in calls and "+79165550000" not in calls
    call_id = re.search(r'/console/calls/([^/]+)/recording', calls).group(1)  # type: ignore[union-attr]
    link = await browser.get(f"/console/calls/{call_id}/recording", allow_redirects=False)
    assert link.status == 302
    contact_page = await browser.page(f"/console/contacts/{contact['id']}")
    assert "answered by <bdi>operator</bdi> (101)" in contact_page


async def test_builder_sees_all_calls(console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(start("c-2", src="+79165550000", dst="102"))
    html = await browser.page("/console/calls?state=ringing")
    assert html.count("<tr>") == 3
    assert (await browser.get("/console/calls?state=nope")).status == 400


# --- static files -----------------------------------------------------------------------------


async def test_static_files_gzip_etag_and_no_escape(console: tuple[Service, str],
                                                    browser: Browser) -> None:
    response = await browser.session.get(browser.base + "/console/static/vendor/htmx.min.js",
                                         headers={"Accept-Encoding": "gzip"},
                                         auto_decompress=False)
    assert response.status == 200 and response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"].startswith("text/javascript")
    body = gzip.decompress(await response.read())
    assert b"htmx" in body
    etag = response.headers["ETag"]
    cached = await browser.get("/console/static/vendor/htmx.min.js",
                               headers={"If-None-Match": etag})
    assert cached.status == 304
    for path in ("/console/static/../session.py", "/console/static/js/../../web.py",
                 "/console/static/nope.js", "/console/static/templates/base.html"):
        assert (await browser.get(path)).status == 404, path


async def test_json_errors_of_console_endpoints_are_json(console: tuple[Service, str],
                                                         browser: Browser) -> None:
    seed = await builder(console, browser)
    module = seed.module["id"]
    response = await browser.post_json(f"/console/modules/{module}/dry-run",
                                       {"source": "x", "version_id": "y"})
    assert response.status == 400
    assert json.loads(await response.text())["error"] == "bad_request"


async def test_a_webhook_body_nested_deeply_is_shown_as_sent(console: tuple[Service, str],
                                                             browser: Browser) -> None:
    # Anyone who has the webhook URL can send a body like this (it is 2 KB): masking it for the
    # console recursed until Python stopped it, and the execution's page, its request in the
    # test panel and the module's editor (filled from the last webhook) answered 500.
    seed = await builder(console, browser)
    module = seed.module["id"]
    body = "[" * 1000 + "]" * 1000
    await seed.post_hook(body)
    html = await browser.page(f"/console/modules/{module}/executions")
    [execution_id] = re.findall(r'name="execution_id" value="([^"]+)"', html)
    detail = await browser.page(f"/console/executions/{execution_id}")
    assert body in detail
    request = await browser.get(f"/console/executions/{execution_id}/request")
    assert request.status == 200, await request.text()
    assert (await request.json())["request"]["body"] == body
    await browser.page(f"/console/modules/{module}/editor")
    # One that may hold a credential is not shown at all: it cannot be masked.
    secret = "[" * 1000 + '{"token": "provider-secret-4"}' + "]" * 1000
    await seed.post_hook(secret)
    html = await browser.page(f"/console/modules/{module}/executions")
    newest = re.findall(r'name="execution_id" value="([^"]+)"', html)[0]
    detail = await browser.page(f"/console/executions/{newest}")
    assert "provider-secret-4" not in detail
    assert "nested too deeply to mask its credentials: not shown" in detail


def duplicate_ids(html: str) -> list[str]:
    ids = re.findall(r'\sid="([^"]+)"', html)
    return sorted({i for i in ids if ids.count(i) > 1})


async def test_the_module_page_gives_every_menu_its_own_id(
        console: tuple[Service, str], browser: Browser) -> None:
    """The bindings table, the unbound extensions table and the loaded members each drew
    their rows' user menus as m0-user, m1-user...: two elements of one id, so the label "User
    to bind to 105" named the bindings table's first menu, and the unbound extension's menu
    had no name for a screen reader (clicking its label focused another menu)."""
    seed = await builder(console, browser)
    module = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module}/bindings",
                      {"bindings": {"101": seed.user["id"]}})
    await seed.hook_ok(start("u-1", dst="105"))
    html = await browser.page(f"/console/modules/{module}")
    assert "User to bind to 105" in html and "User bound to member 101" in html
    assert duplicate_ids(html) == []
    with_members = await browser.post_form(f"/console/modules/{module}/load-members", {})
    html = await with_members.text()
    assert "Members the provider reports" in html
    assert duplicate_ids(html) == []
