"""The execution log's replay form, asked to replay nothing: it says so beside the button and
the page stays as it was (it sent the form, and the answer was an error page)."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab, signed_in_builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import start


async def test_replaying_nothing_is_said_on_the_page(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await signed_in_builder(tab, service, start())
    log = f"/console/modules/{seed.module['id']}/executions"
    await tab.goto(log)
    versions = (await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}/versions"))
    await page.get_by_label("Against").select_option(versions["versions"][0]["id"])

    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.locator("#replay-help")).to_have_text(
        "Select at least one execution to replay (the boxes in the table's first column).")
    assert page.url == tab.base + log
    await expect(page.get_by_label("Against")).to_have_value(versions["versions"][0]["id"])

    # Ticked, it replays.
    await page.get_by_label("Select all shown webhook executions").check()
    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.locator('[data-count="total"]')).to_have_text("1")
    assert tab.errors == []
