"""A tenant admin's journey in real Chromium: create a user, give them a token (shown once,
with a copy button), bind an extension typed by hand, revoke the token, give the module a new
webhook URL, call a client back from the calls page, delete the module and the user after
typing their names. axe runs on every new page (no serious or critical violation), each page
is kept as a screenshot (test-artifacts/console/admin-*.png; with CONSOLE_SCREENSHOTS=update
also copied over the ones kept beside this file, screenshots/), and any browser console error
or page error fails the test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.console.browser.conftest import ARTIFACTS, Tab
from tests.console.browser.test_accessibility import BLOCKING, audit
from tests.e2e.conftest import SEED_SCRIPT, Service
from tests.e2e.helpers import CLIENT, end, seed_setup, start, upload

CALLING_SCRIPT = SEED_SCRIPT + """

def VoipGenerateCall(src_phone, dst_phone):
    log("calling", src_phone, "->", dst_phone)
"""
KEPT = Path(__file__).parent / "screenshots"


async def axe_here(tab: Tab, name: str) -> list[str]:
    """axe on the page as it is now (after a form's answer), and its screenshot."""
    await tab.shot(f"admin-{name}")
    results = await Axe().run(tab.page)
    return [f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"] if v.get("impact") in BLOCKING]


async def test_admin_journey(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await upload(seed.api, module, CALLING_SCRIPT)
    page = tab.page
    problems: list[str] = []

    async def user_token_status(token: str) -> int:
        response = await service.client.get(
            "/api/v1/notifications", headers={"Authorization": f"Bearer {token}"})
        return response.status

    await tab.sign_in(seed.api.secret or "")

    # Users: create Anna.
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    problems += await audit(tab, "/console/users", "admin-users")
    await tab.shot("admin-users")
    await page.get_by_label("Name").fill("Anna Petrova")
    await page.get_by_label("Email (optional)").fill("anna@example.com")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("heading", name="User Anna Petrova")).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text("User created")
    problems += await axe_here(tab, "user")

    # A token, shown once, with a copy button.
    await page.get_by_role("button", name="Create a token").click()
    new_token = page.get_by_role("textbox", name="The new token")
    await expect(new_token).to_be_visible()
    secret = await new_token.input_value()
    assert secret.startswith("vut_")
    await page.get_by_role("button", name="Copy").click()
    await expect(page.locator(".new-token .copy-status")).not_to_be_empty()
    problems += await axe_here(tab, "new-token")
    assert await user_token_status(secret) == 200

    # Bind an extension nobody has seen yet, typed by hand.
    await page.get_by_role("textbox", name="Extension").fill("205")
    await page.get_by_role("button", name="Bind").click()
    await expect(page.get_by_role("status").first).to_contain_text("Extension bound")
    await expect(page.locator("#extensions li")).to_contain_text("205 in seed-json")
    await expect(new_token).to_have_count(0)  # shown once: not after the next page
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert {b["member_id"]: b["user_name"] for b in bindings["bindings"]} == \
        {"101": "operator", "205": "Anna Petrova"}

    # Revoke the token: it stops working at once.
    await page.get_by_role("button", name="Revoke token").click()
    await expect(page.get_by_role("status").first).to_contain_text("Token revoked")
    await expect(page.locator(".tokens-table")).to_contain_text("revoked")
    assert await user_token_status(secret) == 401
    problems += await axe_here(tab, "user-revoked")

    # The module page: bind by hand there too, then a new webhook URL.
    await page.get_by_role("link", name="Modules").click()
    await page.get_by_role("link", name="seed-json").click()
    problems += await axe_here(tab, "module")
    await page.locator("#bh-member").fill("206")
    await page.locator("#bh-user").select_option(label="Anna Petrova")
    await page.get_by_role("button", name="Bind", exact=True).click()
    await expect(page.locator("#bindings table").first).to_contain_text("206")
    old_url = await page.get_by_role("textbox", name="Webhook URL").input_value()
    await page.get_by_text("Give the module a new webhook URL").click()
    await page.get_by_label("The old URL stops working").check()
    await page.get_by_role("button", name="New webhook URL").click()
    await expect(page.locator("p.notice")).to_contain_text("New webhook URL")
    new_url = await page.get_by_role("textbox", name="Webhook URL").input_value()
    assert new_url != old_url
    problems += await axe_here(tab, "module-new-webhook")
    assert (await seed.post_hook(start("c-1"))).status == 404
    new_path = "/hooks/" + new_url.split("/hooks/", 1)[1]
    for payload in (start("c-1"), end("c-1", disposition="no_answer")):
        assert (await service.client.post(new_path, json=payload)).status == 200

    # Calls: human words, and call the client back from the operator's extension.
    await page.get_by_role("link", name="Calls").click()
    row = page.locator(".calls-table tbody tr").first
    await expect(row).to_contain_text("incoming")
    await expect(row).to_contain_text("no answer")
    problems += await axe_here(tab, "calls")
    await row.get_by_label(f"Call {CLIENT} from").select_option(label="seed-json: operator (101)")
    await row.get_by_role("button", name=f"Call {CLIENT}").click()
    await expect(page.get_by_role("heading", name=f"Calling {CLIENT}")).to_be_visible()
    await expect(page.get_by_role("status").first).to_contain_text("extension 101")
    problems += await axe_here(tab, "call-placed")
    executions = (await seed.api.ok("GET", f"/api/v1/executions?module_id={module}"))
    assert [e["function"] for e in executions["executions"]].count("VoipGenerateCall") == 1

    # Delete the module, after typing its name (a wrong name first).
    await page.goto(f"{tab.base}/console/modules/{module}")
    await page.get_by_role("link", name="Delete module seed-json…").click()
    await expect(page.get_by_role("heading", name="Delete module seed-json?")).to_be_visible()
    problems += await axe_here(tab, "confirm-delete-module")
    await page.get_by_label("Type seed-json to confirm").fill("seed")
    await page.get_by_role("button", name="Delete module").click()
    await expect(page.get_by_role("alert")).to_contain_text("exactly as shown")
    problems += await axe_here(tab, "confirm-delete-module-wrong")
    await page.get_by_label("Type seed-json to confirm").fill("seed-json")
    await page.get_by_role("button", name="Delete module").click()
    await expect(page.get_by_role("status").first).to_contain_text("Module deleted")
    assert (await seed.api.get(f"/api/v1/modules/{module}")).status == 404
    assert (await service.client.post(new_path, json=start("c-2"))).status == 404

    # Delete the user.
    await page.get_by_role("link", name="Users").click()
    await page.get_by_role("link", name="Anna Petrova").click()
    await page.get_by_role("link", name="Delete Anna Petrova…").click()
    problems += await axe_here(tab, "confirm-delete-user")
    await page.get_by_label("Type Anna Petrova to confirm").fill("Anna Petrova")
    await page.get_by_role("button", name="Delete user").click()
    await expect(page.get_by_role("status").first).to_contain_text("User deleted")
    await expect(page.locator(".users-table")).not_to_contain_text("Anna Petrova")

    print("\n".join(problems))
    assert problems == []
    assert tab.errors == []
    if os.environ.get("CONSOLE_SCREENSHOTS") == "update":
        for shot in KEPT.glob("admin-*.png"):
            shutil.copyfile(ARTIFACTS / shot.name, shot)


async def test_console_errors_fail_the_check(tab: Tab, console: tuple[Service, str]) -> None:
    """The check above can fail: a page that logs an error is caught by the same fixture."""
    service, _ = console
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto("/console/users")
    await tab.page.evaluate("console.error('broken on purpose')")
    await expect(tab.page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    assert any("broken on purpose" in error for error in tab.errors)
