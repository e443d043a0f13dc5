"""The tenant admin's console over HTTP, without a browser: users and their tokens, bindings of
extensions typed by hand, a new webhook URL, deleting a module or a user after a confirmation,
click-to-call from a call and a contact, and every refusal (role, CSRF, another tenant)."""

from __future__ import annotations

import re
from html import unescape

from runtime.console.dialing import MENU_LINES
from tests.console.conftest import Browser
from tests.e2e.conftest import SEED_SCRIPT, Service
from tests.e2e.helpers import CLIENT, SeedSetup, end, seed_setup, start, upload

# The seed module's script, able to place calls (it logs what it was asked).
CALLING_SCRIPT = SEED_SCRIPT + """

def VoipGenerateCall(src_phone, dst_phone):
    log("calling", src_phone, "->", dst_phone)
"""


async def signed_in_builder(console: tuple[Service, str], browser: Browser) -> SeedSetup:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    return seed


def token_on(html: str) -> str:
    found = re.search(r'id="new-token" readonly value="([^"]+)"', html)
    assert found, "the new token is not on the page"
    return unescape(found.group(1))


def dial_nonce_on(html: str) -> str:
    """The one-time nonce of the page's call forms (runtime/console/dial_once.py)."""
    found = re.search(r'name="dial_nonce" value="([^"]+)"', html)
    assert found, "no call form on the page"
    return unescape(found.group(1))


async def user_id_named(seed: SeedSetup, name: str) -> str:
    users = (await seed.api.ok("GET", "/api/v1/users"))["users"]
    return str(next(u["id"] for u in users if u["name"] == name))


async def works(seed: SeedSetup, token: str) -> int:
    response = await seed.service.client.get(
        "/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
    return response.status


# --- users and tokens -------------------------------------------------------------------------


async def test_create_user_token_shown_once_and_revoked(console: tuple[Service, str],
                                                        browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    html = await browser.page("/console/users")
    assert ">operator</a>" in html and "101" in html  # the seed user and their extension

    blank = await browser.post_form("/console/users", {"name": "   ", "email": ""})
    assert blank.status == 422 and "name" in await blank.text()
    bad_email = await browser.post_form("/console/users", {"name": "Anna", "email": "no-at"})
    assert bad_email.status == 422 and "email" in await bad_email.text()
    taken = await browser.post_form("/console/users", {"name": "operator"})
    assert taken.status == 409 and "operator" in await taken.text()

    created = await browser.post_form("/console/users",
                                      {"name": "Anna", "email": "anna@example.com"})
    assert created.status == 303
    location = created.headers["Location"]
    page = await browser.page(location)
    assert "User Anna" in page and "User created" in page and "No token yet" in page
    anna = await user_id_named(seed, "Anna")
    assert location.startswith(f"/console/users/{anna}")

    made = await browser.post_form(f"/console/users/{anna}/tokens", {})
    assert made.status == 201
    assert made.headers["Cache-Control"] == "no-store"
    secret = token_on(await made.text())
    assert secret.startswith("vut_") and await works(seed, secret) == 200
    again = await browser.page(f"/console/users/{anna}")
    assert secret not in again and secret[:12] in again  # listed by its prefix only
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{anna}/tokens"))["tokens"]
    assert [t["revoked_at"] for t in tokens] == [None]

    revoked = await browser.post_form(f"/console/users/{anna}/tokens/{tokens[0]['id']}/revoke",
                                      {})
    assert revoked.status == 303
    assert "Token revoked" in await browser.page(revoked.headers["Location"])
    assert await works(seed, secret) == 401
    twice = await browser.post_form(f"/console/users/{anna}/tokens/{tokens[0]['id']}/revoke",
                                    {})
    assert twice.status == 404


async def test_delete_user_after_typing_the_name(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    user = seed.user["id"]
    confirm = await browser.page(f"/console/users/{user}/delete")
    assert "Delete user operator?" in confirm and "tokens stop working" in confirm
    wrong = await browser.post_form(f"/console/users/{user}/delete", {"confirm_name": "oper"})
    assert wrong.status == 422 and "exactly" in await wrong.text()
    assert await works(seed, seed.user_token) == 200

    done = await browser.post_form(f"/console/users/{user}/delete",
                                   {"confirm_name": " operator "})
    assert done.status == 303 and done.headers["Location"] == "/console/users?deleted=1"
    assert "User deleted." in await browser.page(done.headers["Location"])
    assert (await seed.api.get(f"/api/v1/users/{user}")).status == 404
    assert await works(seed, seed.user_token) == 401
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}/bindings")
    assert bindings["bindings"] == []


# --- bindings typed by hand -------------------------------------------------------------------


async def test_bind_an_extension_by_hand(console: tuple[Service, str],
                                         browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    page = await browser.page(f"/console/modules/{module}")
    assert "Bind an extension by hand" in page

    blank = await browser.post_form(f"/console/modules/{module}/bind",
                                    {"member_id": "   ", "user_id": anna["id"]})
    assert blank.status == 422 and "extension:" in await blank.text()
    too_long = await browser.post_form(f"/console/modules/{module}/bind",
                                       {"member_id": "7" * 65, "user_id": anna["id"]})
    text = await too_long.text()
    assert too_long.status == 422 and "at most 64 characters" in text
    assert 'value="' + "7" * 65 + '"' in text  # what was typed is kept
    nobody = await browser.post_form(f"/console/modules/{module}/bind",
                                     {"member_id": "205", "user_id": ""})
    assert nobody.status == 422 and "choose the user" in await nobody.text()
    stranger = await browser.post_form(f"/console/modules/{module}/bind",
                                       {"member_id": "205", "user_id": "usr_nope"})
    assert stranger.status == 422 and "user:" in await stranger.text()

    bound = await browser.post_form(f"/console/modules/{module}/bind",
                                    {"member_id": " 205 ", "user_id": anna["id"]})
    assert bound.status == 303
    # From the user's page too, in a module chosen from the list.
    by_user = await browser.post_form(f"/console/users/{anna['id']}/bindings",
                                      {"module_id": module, "member_id": "206"})
    assert by_user.status == 303
    assert "Extension bound" in await browser.page(by_user.headers["Location"])
    no_module = await browser.post_form(f"/console/users/{anna['id']}/bindings",
                                        {"module_id": "mod_nope", "member_id": "207"})
    assert no_module.status == 422
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert {b["member_id"]: b["user_name"] for b in bindings["bindings"]} == \
        {"101": "operator", "205": "Anna", "206": "Anna"}

    # The webhook path sees the binding at once: a call to 205 reaches Anna.
    token = await seed.api.ok("POST", f"/api/v1/users/{anna['id']}/tokens", status=201)
    await seed.hook_ok(start("c-205", dst="205"))
    notified = await seed.service.client.get(
        "/api/v1/notifications", headers={"Authorization": f"Bearer {token['token']}"})
    assert notified.status == 200
    assert [n["payload"]["call"]["dst_phone"]
            for n in (await notified.json())["notifications"]] == \
        ["205"]


# --- the webhook URL and deleting a module ----------------------------------------------------


async def test_new_webhook_url_ends_the_old_one(console: tuple[Service, str],
                                                browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    unconfirmed = await browser.post_form(f"/console/modules/{module}/webhook-url", {})
    assert unconfirmed.status == 422 and "Tick the box" in await unconfirmed.text()
    await seed.hook_ok(start("c-1"))  # unchanged

    rotated = await browser.post_form(f"/console/modules/{module}/webhook-url",
                                      {"confirm": "1"})
    assert rotated.status == 303
    page = await browser.page(rotated.headers["Location"])
    assert "New webhook URL: give it to your provider" in page
    new_url = unescape(re.search(r'id="webhook-url" readonly value="([^"]+)"',  # type: ignore[union-attr]
                                 page).group(1))
    new_path = "/hooks/" + new_url.split("/hooks/", 1)[1]
    assert new_path != seed.hook_path
    assert (await seed.post_hook(start("c-2"))).status == 404
    response = await seed.service.client.post(new_path, json=start("c-3"))
    assert response.status == 200
    module_json = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert module_json["webhook_url"] == new_url


async def test_delete_module_after_typing_its_name(console: tuple[Service, str],
                                                   browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    assert f'href="/console/modules/{module}/delete"' in await browser.page(
        f"/console/modules/{module}")
    confirm = await browser.page(f"/console/modules/{module}/delete")
    assert "Delete module seed-json?" in confirm and "cannot be undone" in confirm
    wrong = await browser.post_form(f"/console/modules/{module}/delete",
                                    {"confirm_name": "seed"})
    assert wrong.status == 422
    await seed.hook_ok(start("c-1"))  # still there

    done = await browser.post_form(f"/console/modules/{module}/delete",
                                   {"confirm_name": "seed-json"})
    assert done.status == 303 and done.headers["Location"] == "/console/modules?deleted=1"
    listing = await browser.page(done.headers["Location"])
    assert "Module deleted." in listing and "seed-json" not in listing
    assert (await seed.api.get(f"/api/v1/modules/{module}")).status == 404
    assert (await seed.post_hook(start("c-2"))).status == 404
    assert (await browser.get(f"/console/modules/{module}/delete")).status == 404


# --- click-to-call ----------------------------------------------------------------------------


async def test_click_to_call_from_calls_and_contact(console: tuple[Service, str],
                                                    browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    await upload(seed.api, module, CALLING_SCRIPT)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(end("c-1", disposition="no_answer"))

    calls = await browser.page("/console/calls")
    assert "incoming" in calls and "no answer" in calls  # words, not the contract's values
    line = f"{module}/{seed.user['id']}"
    assert f'name="line" value="{line}"' in calls and f"Call {CLIENT}" in calls
    nonce = dial_nonce_on(calls)
    placed = await browser.post_form("/console/calls/originate", {
        "line": line, "number": CLIENT, "back": "/console/calls", "dial_nonce": nonce})
    text = await placed.text()
    assert placed.status == 202, text
    assert "ring extension <strong>101</strong>" in text and 'href="/console/calls"' in text
    executions = (await seed.api.ok(
        "GET", f"/api/v1/executions?module_id={module}"))["executions"]
    generated = [e for e in executions if e["function"] == "VoipGenerateCall"]
    assert len(generated) == 1

    contact_page = await browser.page(f"/console/contacts/{contact['id']}")
    assert f'name="line" value="{line}"' in contact_page

    # A user with no extension in the module cannot be called from.
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    refused = await browser.post_form("/console/calls/originate",
                                      {"line": f"{module}/{anna['id']}", "number": CLIENT,
                                       "dial_nonce": nonce})
    assert refused.status == 409 and "no extension" in await refused.text()
    no_number = await browser.post_form("/console/calls/originate",
                                        {"line": line, "number": ""})
    assert no_number.status == 422 and "number" in await no_number.text()
    nobody = await browser.post_form("/console/calls/originate",
                                     {"line": module, "number": CLIENT})
    assert nobody.status == 422 and "whose extension" in await nobody.text()

    # An operator calls from their own extension, and only from it.
    await browser.post_form("/console/sign-out", {})
    await browser.sign_in(seed.user_token)
    calls = await browser.page("/console/calls")
    assert f'name="line" value="{line}"' in calls
    as_self = await browser.post_form("/console/calls/originate",
                                      {"line": line, "number": CLIENT,
                                       "dial_nonce": dial_nonce_on(calls)})
    assert as_self.status == 202
    as_other = await browser.post_form("/console/calls/originate",
                                       {"line": f"{module}/{anna['id']}", "number": CLIENT})
    assert as_other.status == 403
    # The contact of their call offers only their own line too.
    contact_page = await browser.page(f"/console/contacts/{contact['id']}")
    assert f'name="line" value="{line}"' in contact_page and anna["id"] not in contact_page
    executions = (await seed.api.ok(
        "GET", f"/api/v1/executions?module_id={module}"))["executions"]
    assert [e["function"] for e in executions].count("VoipGenerateCall") == 2


# --- refusals -------------------------------------------------------------------------------


async def test_operators_get_403_and_nothing_changes(console: tuple[Service, str],
                                                     browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    user, module = seed.user["id"], seed.module["id"]
    assert 'href="/console/users"' not in await browser.page("/console/calls")
    for path in ("/console/users", f"/console/users/{user}", f"/console/users/{user}/delete",
                 f"/console/modules/{module}/delete"):
        response = await browser.get(path)
        assert response.status == 403, path
        assert "needs a tenant API key" in await response.text()
    posts = [("/console/users", {"name": "Mallory"}),
             (f"/console/users/{user}/tokens", {}),
             (f"/console/users/{user}/delete", {"confirm_name": "operator"}),
             (f"/console/users/{user}/bindings", {"module_id": module, "member_id": "9"}),
             (f"/console/modules/{module}/bind", {"member_id": "9", "user_id": user}),
             (f"/console/modules/{module}/webhook-url", {"confirm": "1"}),
             (f"/console/modules/{module}/delete", {"confirm_name": "seed-json"})]
    for path, form in posts:
        assert (await browser.post_form(path, form)).status == 403, path
    await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert [u["name"] for u in (await seed.api.ok("GET", "/api/v1/users"))["users"]] == \
        ["operator"]
    assert (await seed.api.ok("GET", f"/api/v1/users/{user}/tokens"))["tokens"][0][
        "revoked_at"] is None
    await seed.hook_ok(start("c-1"))


async def test_without_the_csrf_token_nothing_changes(console: tuple[Service, str],
                                                      browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    user, module = seed.user["id"], seed.module["id"]
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{user}/tokens"))["tokens"]
    posts = [("/console/users", {"name": "Mallory"}),
             (f"/console/users/{user}/tokens", {}),
             (f"/console/users/{user}/tokens/{tokens[0]['id']}/revoke", {}),
             (f"/console/users/{user}/delete", {"confirm_name": "operator"}),
             (f"/console/modules/{module}/bind", {"member_id": "9", "user_id": user}),
             (f"/console/modules/{module}/webhook-url", {"confirm": "1"}),
             (f"/console/modules/{module}/delete", {"confirm_name": "seed-json"}),
             ("/console/calls/originate", {"line": f"{module}/{user}", "number": CLIENT})]
    for path, form in posts:
        response = await browser.post_form(path, form, csrf=False)
        assert response.status == 403, path
        assert "did not come from this console" in await response.text()
        forged = await browser.post_form(path, form, headers={"Origin": "https://evil.test"})
        assert forged.status == 403, path
    assert await works(seed, seed.user_token) == 200
    assert [u["name"] for u in (await seed.api.ok("GET", "/api/v1/users"))["users"]] == \
        ["operator"]
    assert (await seed.api.ok("GET", f"/api/v1/users/{user}/tokens"))["tokens"] == tokens
    await seed.hook_ok(start("c-1"))


async def test_another_tenants_ids_answer_404(console: tuple[Service, str],
                                              browser: Browser) -> None:
    service, _ = console
    other = await seed_setup(service, name="other")
    await signed_in_builder(console, browser)
    user, module = other.user["id"], other.module["id"]
    tokens = (await other.api.ok("GET", f"/api/v1/users/{user}/tokens"))["tokens"]
    for path in (f"/console/users/{user}", f"/console/users/{user}/delete",
                 f"/console/modules/{module}/delete"):
        assert (await browser.get(path)).status == 404, path
    posts = [(f"/console/users/{user}/tokens", {}),
             (f"/console/users/{user}/tokens/{tokens[0]['id']}/revoke", {}),
             (f"/console/users/{user}/delete", {"confirm_name": "operator"}),
             (f"/console/users/{user}/bindings", {"module_id": module, "member_id": "9"}),
             (f"/console/modules/{module}/bind", {"member_id": "9", "user_id": user}),
             (f"/console/modules/{module}/webhook-url", {"confirm": "1"}),
             (f"/console/modules/{module}/delete", {"confirm_name": "seed-json"}),
             ("/console/calls/originate", {"line": f"{module}/{user}", "number": CLIENT})]
    for path, form in posts:
        assert (await browser.post_form(path, form)).status == 404, path
    assert await works(other, other.user_token) == 200
    await other.hook_ok(start("c-1"))
    assert (await other.api.ok("GET", f"/api/v1/users/{user}/tokens"))["tokens"] == tokens


async def test_a_call_menu_offers_a_bounded_number_of_lines(console: tuple[Service, str],
                                                            browser: Browser) -> None:
    # An admin's "Call" menu offers every user bound in the module, on every row of the calls
    # page: a tenant that bound thousands of users made that page millions of menu entries.
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    users = [await seed.api.ok("POST", "/api/v1/users", {"name": f"user {i}"}, status=201)
             for i in range(MENU_LINES + 20)]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module}/bindings",
                      {"bindings": {str(5000 + i): u["id"] for i, u in enumerate(users)}})
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    await seed.hook_ok(start("c-1"))
    for page in ("/console/calls", f"/console/contacts/{contact['id']}"):
        html = await browser.page(page)
        menu = html.split('name="line">', 1)[1].split("</select>", 1)[0]
        assert menu.count("<option") == MENU_LINES, page
        # The first by extension: the operator's 101, then 5000, 5001, ...
        assert f'value="{module}/{seed.user["id"]}"' in menu
        assert f'value="{module}/{users[MENU_LINES - 2]["id"]}"' in menu
        assert f'value="{module}/{users[MENU_LINES - 1]["id"]}"' not in menu


# --- forms of too many fields ----------------------------------------------------------------


async def test_a_form_of_more_fields_than_any_console_form_is_refused_before_it_is_read(
        console: tuple[Service, str], browser: Browser) -> None:
    # 2 MiB of "k=&" is 690,000 fields, read one by one in the event loop every tenant's
    # webhooks share (a second a post, for any session posting it in a loop).
    seed = await signed_in_builder(console, browser)
    module = seed.module["id"]
    await browser.page(f"/console/modules/{module}")
    flood = [("k", "")] * 300_000
    refused = await browser.post_form(f"/console/modules/{module}/settings", flood)
    assert refused.status == 413
    assert "the form has more than 25,000 fields" in await refused.text()
    settings = (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["settings"]
    assert settings == seed.module["settings"]

    # The largest console form: a module's bindings, two fields for each of 10,000 rows.
    rows = [("rows", "10000")] + [
        field for i in range(10_000)
        for field in ((f"m{i}-id", str(20_000 + i)), (f"m{i}-user", seed.user["id"]))]
    saved = await browser.post_form(f"/console/modules/{module}/bindings", rows)
    assert saved.status == 303, await saved.text()
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert len(bindings["bindings"]) >= 10_000
