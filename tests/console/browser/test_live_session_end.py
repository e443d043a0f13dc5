"""In real Chromium: signing out in another tab ends the live page's socket (close code 4401),
and the page says so instead of reconnecting forever, with a link to sign in again that comes
back to the live page."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


async def test_signing_out_in_another_tab_ends_the_live_page(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await tab.sign_in(seed.user_token)
    status = tab.page.locator("#live-status")
    await expect(status).to_have_attribute("data-state", "live")

    other = await tab.page.context.new_page()
    await other.goto(tab.base + "/console/calls")
    await other.get_by_role("button", name="Sign out").click()
    await expect(other.get_by_role("button", name="Sign in")).to_be_visible()

    await expect(status).to_contain_text("signed out", timeout=10_000)
    await expect(status).to_have_attribute("data-state", "offline")
    await tab.page.wait_for_timeout(3000)  # a reconnect would have said "Reconnecting…"
    await expect(status).to_contain_text("Sign in again")

    # The way back is at hand: the status line links the sign-in page, which returns here.
    await status.get_by_role("link", name="Sign in again").click()
    await tab.page.get_by_label("API key or user token").fill(seed.user_token)
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page.get_by_role("heading", name="Live calls")).to_be_visible()
    await expect(status).to_have_attribute("data-state", "live")
    assert tab.errors == []
