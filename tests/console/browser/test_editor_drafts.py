"""The editor's draft, kept in this browser as the builder types: it is there the moment the
builder leaves the page, however quickly (the execution log replays against it)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import CHANGED_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start


async def test_a_draft_typed_just_before_leaving_is_kept(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await seed.hook_ok(start())
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await expect(page.locator(".cm-editor")).to_be_visible()

    # Paste the new script and go straight to the execution log, as a builder who wants to
    # replay yesterday's webhooks against it does.
    await type_script(tab, CHANGED_SCRIPT)
    await page.get_by_role("link", name="Execution log").click()
    await expect(page.get_by_role("heading", name="Execution log: seed-json")).to_be_visible()
    await expect(page.locator("#replay-help")).to_contain_text("Draft from")
    stored = await page.evaluate(
        f"JSON.parse(localStorage.getItem('vr-draft:{seed.module['id']}')).source")
    assert stored == CHANGED_SCRIPT

    # Back in the editor, it is offered whole.
    await page.go_back()
    await expect(page.locator(".cm-editor")).to_be_visible()
    await page.get_by_role("button", name="Restore draft").click()
    assert await page.evaluate("window.consoleEditor.state.doc.toString()") == CHANGED_SCRIPT
    assert tab.errors == []
