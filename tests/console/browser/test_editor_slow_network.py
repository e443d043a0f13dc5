"""The editor on a slow network: an answer that takes a while is never mistaken for someone
else's work, never counted twice, and never drawn over a newer one. The requests are held by
the test (Playwright routes) until the builder has done what a person waiting would do: click
again, or change the text and ask again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from playwright.async_api import Dialog, Page, Request, Route, expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import BROKEN_SCRIPT, CHANGED_SCRIPT, FORM_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup


class Held:
    """Requests to one console endpoint held until `release` (with `first_only`, the first one
    only: the rest go at once); `count` of them arrived."""

    def __init__(self, *, first_only: bool = False) -> None:
        self.count = 0
        self.first_only = first_only
        self.gate = asyncio.Event()

    async def route(self, route: Route) -> None:
        self.count += 1
        if self.count == 1 or not self.first_only:
            await self.gate.wait()
        await route.continue_()

    def release(self) -> None:
        self.gate.set()


async def open_editor(tab: Tab, service: Service) -> SeedSetup:
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await expect(tab.page.locator(".cm-editor")).to_be_visible()
    return seed


async def answered(page: Page, request: Request) -> None:
    """The page has had the answer to `request` and whatever its script does with it."""
    response = await request.response()
    assert response is not None
    await response.finished()
    await page.wait_for_timeout(300)  # the page's script reads the body and draws


async def first_request(page: Page, path: str, act: Callable[[], Awaitable[None]]) -> Request:
    async with page.expect_request(f"**{path}") as info:
        await act()
    return await info.value


async def test_a_second_click_while_saving_saves_once_and_asks_nothing(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await open_editor(tab, service)
    versions = f"/api/v1/modules/{seed.module['id']}/versions"
    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    held = Held()
    await page.route("**/console/modules/*/versions", held.route)
    status = page.locator("#editor-status")

    # A double click on "Save and activate": the second click comes while the first save is
    # on its way.
    await type_script(tab, FORM_SCRIPT)
    await page.get_by_role("button", name="Save and activate").dblclick()
    await expect(status).to_have_text("Saving and activating…")
    held.release()
    await expect(status).to_have_text("Saved version 2 (now active).")
    await page.wait_for_timeout(500)  # a second request, had one gone, would be answered now
    # One version; the builder's own save was never called someone else's activation.
    assert dialogs == []
    await expect(status).to_have_text("Saved version 2 (now active).")
    assert held.count == 1
    listed = (await seed.api.ok("GET", versions))["versions"]
    assert [v["number"] for v in listed] == [2, 1]

    # "Save as new version", a double click over a slow answer: one version, not two alike.
    held.gate.clear()
    await type_script(tab, CHANGED_SCRIPT)
    await page.get_by_role("button", name="Save as new version").dblclick()
    held.release()
    await expect(status).to_have_text("Saved version 3.")
    await page.wait_for_timeout(500)
    assert held.count == 2
    listed = (await seed.api.ok("GET", versions))["versions"]
    assert [v["number"] for v in listed] == [3, 2, 1]
    # While saving, the buttons said they were busy; now they take clicks again.
    await expect(page.locator("#btn-save")).not_to_have_attribute("aria-disabled", "true")
    assert tab.errors == []


async def test_an_older_answer_never_replaces_a_newer_one(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    await open_editor(tab, service)
    status = page.locator("#editor-status")
    problems = page.locator("#problems li")

    # Check the broken text; the answer is slow. The builder fixes the script and checks again:
    # that answer comes first. The slow one, about text no longer there, must not win.
    held = Held(first_only=True)
    await page.route("**/console/modules/*/check", held.route)
    await type_script(tab, BROKEN_SCRIPT)
    slow = await first_request(page, "/check", page.get_by_role(
        "button", name="Check", exact=True).click)
    await type_script(tab, FORM_SCRIPT)
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(status).to_have_text("Check passed: no problems found.")
    held.release()
    await answered(page, slow)
    await expect(status).to_have_text("Check passed: no problems found.")
    await expect(problems).to_have_count(0)
    await expect(page.locator(".cm-lintRange-error")).to_have_count(0)

    # A dry run of one request, slow; then another request, answered first: its report stays.
    held = Held(first_only=True)
    await page.route("**/console/modules/*/dry-run", held.route)
    await page.get_by_role("button", name="Form body preset").click()
    body = page.get_by_label("Body", exact=True)
    await body.fill("type=start&callId=c-old&from=%2B79161234567&to=101")
    slow = await first_request(page, "/dry-run", page.get_by_role(
        "button", name="Run dry run").click)
    await body.fill("type=start&callId=c-new&from=%2B79161234567&to=102")
    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result).to_contain_text('"dstPhone": "102"')
    held.release()
    await answered(page, slow)
    await expect(result).to_contain_text('"dstPhone": "102"')
    await expect(result).not_to_contain_text("c-old")
    assert tab.errors == []
