"""The editor's draft, kept in this browser as the builder types: it is there the moment the
builder leaves the page, however quickly (the execution log replays against it)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from tests.console.browser.conftest import Tab, signed_in_builder
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import CHANGED_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import start


async def test_a_draft_typed_just_before_leaving_is_kept(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service, start())
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


async def kept(page: Page, draft: str, text: str) -> None:
    """The browser's draft is `text` (it is written a moment after the typing)."""
    for _ in range(50):
        stored = await page.evaluate(draft)
        if stored and stored["source"] == text:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the draft kept is {stored!r}")


async def test_a_save_in_one_tab_keeps_the_draft_of_another(
        tab: Tab, console: tuple[Service, str]) -> None:
    """Two tabs of the editor share the browser's draft. Saving in one removed it even when the
    other had written its own since: closed, that tab's unsaved text was gone."""
    service, _ = console
    seed = await signed_in_builder(tab, service)
    editor = f"/console/modules/{seed.module['id']}/editor"
    draft = f"JSON.parse(localStorage.getItem('vr-draft:{seed.module['id']}') || 'null')"
    first = tab.page
    second = Tab(await first.context.new_page(), tab.base)
    for each in (first, second.page):
        await each.goto(tab.base + editor)
        await expect(each.locator(".cm-editor")).to_be_visible()

    await type_script(tab, CHANGED_SCRIPT)
    await kept(first, draft, CHANGED_SCRIPT)
    other_text = CHANGED_SCRIPT.replace('"102"', '"103"')
    await type_script(second, other_text)
    await kept(second.page, draft, other_text)

    await first.get_by_role("button", name="Save as new version").click()
    await expect(first.locator("#editor-status")).to_have_text("Saved version 2.")
    assert (await first.evaluate(draft))["source"] == other_text
    await second.page.close()
    await first.goto(tab.base + editor)
    await first.get_by_role("button", name="Restore draft").click()
    assert await first.evaluate("window.consoleEditor.state.doc.toString()") == other_text
    assert tab.errors == []
