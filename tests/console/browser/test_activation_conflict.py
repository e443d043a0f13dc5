"""Activating a draft whose base is no longer the active version asks first: no silent
overwrite of someone else's change."""

from __future__ import annotations

from playwright.async_api import Dialog, expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import CHANGED_SCRIPT, FORM_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, upload


async def test_activation_over_someone_elses_change_asks(tab: Tab,
                                                         console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{module}/editor")
    page = tab.page
    await expect(page.locator(".cm-editor")).to_be_visible()
    await type_script(tab, FORM_SCRIPT)
    await upload(seed.api, module, CHANGED_SCRIPT)  # a colleague activates v2 meanwhile

    questions: list[str] = []

    async def decline(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Not activated: version 2")
    assert "version 2" in questions[0] and "version 1" in questions[0]
    active = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert active["active_version"]["number"] == 2

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Saved version 3 (now active)")
    active = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert active["active_version"]["number"] == 3
    assert tab.errors == []


async def test_a_draft_written_on_an_older_version_is_offered_and_asks_before_activating(
        tab: Tab, console: tuple[Service, str]) -> None:
    """The builder leaves a draft on version 1 unsaved; a colleague activates version 2. The
    editor, opened again, offers the draft (it was silently ignored, then overwritten at the
    next keystroke), says which version it was written on, and activating it asks first."""
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    page = tab.page
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{module}/editor")
    await expect(page.locator(".cm-editor")).to_be_visible()
    await type_script(tab, FORM_SCRIPT)
    # The editor keeps the draft a moment after the last keystroke (the page's CSP allows no
    # wait_for_function: it evaluates a string).
    for _ in range(50):
        if await page.evaluate(f"localStorage.getItem('vr-draft:{module}')"):
            break
        await page.wait_for_timeout(100)
    await upload(seed.api, module, CHANGED_SCRIPT)  # a colleague activates v2 meanwhile

    await tab.goto(f"/console/modules/{module}/editor")
    notice = page.locator("#draft-notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("written on version 1, not on version 2")
    await page.get_by_role("button", name="Restore draft").click()
    text = await page.evaluate("window.consoleEditor.state.doc.toString()")
    assert text == FORM_SCRIPT

    questions: list[str] = []

    async def decline(dialog: Dialog) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Not activated: version 2")
    assert "version 2" in questions[0] and "version 1" in questions[0]
    active = await seed.api.ok("GET", f"/api/v1/modules/{module}")
    assert active["active_version"]["number"] == 2
    assert tab.errors == []
