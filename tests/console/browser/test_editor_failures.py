"""The editor when the service does not do what was asked for a reason that is not the
script's: the session ended, or no answer came at all (the network, a restart). The page says
so; it never files "sign in again" as a problem of the script, nor says "Saving…" for ever."""

from __future__ import annotations

import json

from playwright.async_api import Dialog, Route, expect

from runtime.operations.caps import source_quota_reached
from tests.console.browser.conftest import Tab, open_editor, signed_in_builder
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import BROKEN_SCRIPT, FORM_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import start

UNREACHABLE = "the service could not be reached"


async def test_an_ended_session_is_not_a_problem_of_the_script(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service)
    await open_editor(tab, seed)
    await type_script(tab, BROKEN_SCRIPT)
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(page.locator("#problems li")).to_have_count(2)

    await page.context.clear_cookies()  # the session is gone (expired, signed out elsewhere)
    await page.get_by_role("button", name="Check", exact=True).click()
    status = page.locator("#editor-status")
    await expect(status).to_contain_text("Check did not run: sign in to the console again")
    await expect(page.locator("#problems li")).to_have_count(2)  # the script's, as before
    await expect(page.locator("#problems")).not_to_contain_text("sign in")

    # Save fails the same way; the way back is at hand, and the text is not lost on it.
    await type_script(tab, FORM_SCRIPT)
    await page.locator("#btn-save").click()
    await expect(status).to_contain_text("Not saved: sign in to the console again")
    await status.get_by_role("link", name="Sign in again").click()
    await page.get_by_label("API key or user token").fill(seed.api.secret or "")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".cm-editor")).to_be_visible()
    assert page.url == tab.base + f"/console/modules/{seed.module['id']}/editor"
    await page.get_by_role("button", name="Restore draft").click()
    assert await page.evaluate("window.consoleEditor.state.doc.toString()") == FORM_SCRIPT
    await page.locator("#btn-save").click()
    await expect(status).to_have_text("Saved version 2.")
    tab.errors[:] = [e for e in tab.errors if "status of 401" not in e]
    assert tab.errors == []


async def test_no_answer_is_said_and_leaves_nothing_waiting(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service)
    await open_editor(tab, seed)

    async def no_answer(route: Route) -> None:
        await route.abort("connectionrefused")

    for path in ("check", "versions", "dry-run"):
        await page.route(f"**/console/modules/*/{path}", no_answer)
    status = page.locator("#editor-status")
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(status).to_have_text(f"Check did not run: {UNREACHABLE}; check the "
                                      "connection and try again")
    await page.locator("#btn-save").click()
    await expect(status).to_contain_text(f"Not saved: {UNREACHABLE}")
    await page.locator("#btn-activate").click()
    await expect(status).to_contain_text(f"Not saved: {UNREACHABLE}")
    await page.locator("#btn-run").click()
    await expect(page.locator("#run-result")).to_contain_text(f"Dry run did not run: {UNREACHABLE}")
    # The refused requests are the browser's own console lines; nothing was left uncaught.
    assert [e for e in tab.errors if "net::ERR_" not in e] == []


async def test_a_stored_request_that_cannot_be_shown_says_why(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service, start())
    await open_editor(tab, seed)
    await page.get_by_label("a stored execution's request").check()
    stored = page.locator("#stored-request")
    await page.get_by_label("Stored execution", exact=True).select_option(index=1)
    await expect(stored).to_contain_text("POST ")

    await page.context.clear_cookies()  # the session is gone (expired, signed out elsewhere)
    await page.get_by_label("Stored execution", exact=True).select_option(index=0)
    await page.get_by_label("Stored execution", exact=True).select_option(index=1)
    await expect(stored).to_have_text(
        "Could not show the request: sign in to the console again")
    tab.errors[:] = [e for e in tab.errors if "status of 401" not in e]
    assert tab.errors == []


async def test_save_and_activate_past_a_limit_says_so_and_asks_nothing(
        tab: Tab, console: tuple[Service, str]) -> None:
    # A 409 that is a limit (the tenant's source quota, the versions' cap), not someone else's
    # activation: "Save and activate" asked whether to replace "their change", then said the
    # limit only after the second try.
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service)
    await open_editor(tab, seed)
    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    refusal = source_quota_reached(65_536, 60_000, 20_000)

    async def over_quota(route: Route) -> None:
        await route.fulfill(status=409, content_type="application/json", body=json.dumps(
            {"error": refusal.code, "message": refusal.message, "details": refusal.details}))

    await page.route("**/console/modules/*/versions", over_quota)
    await type_script(tab, FORM_SCRIPT)
    await page.locator("#btn-activate").click()
    status = page.locator("#editor-status")
    await expect(status).to_contain_text(
        "Not saved: the tenant's script versions hold 60000 bytes of source")
    await expect(status).to_contain_text("delete modules you no longer use")
    assert dialogs == []
    tab.errors[:] = [e for e in tab.errors if "status of 409" not in e]
    assert tab.errors == []
