"""The live page keeps its calls in the order their notifications came, whatever order their
cards are answered in: the order a reload draws."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_editor_slow_network import Held
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start

FIRST, SECOND = "+79035550001", "+79035550002"


async def test_a_card_answered_late_goes_below_the_newer_call(
        tab: Tab, console: tuple[Service, str]) -> None:
    """Two calls ringing one after the other: the page asks for both cards at once, and the
    older call's card came back last (a busy service, a slow network). It was put on top, above
    the newer call, where a reload draws it below."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.user_token)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    held = Held(first_only=True)
    await page.route("**/console/live/cards/*", held.route)
    await seed.hook_ok(start("c-first", src=FIRST))
    await seed.hook_ok(start("c-second", src=SECOND))
    cards = page.locator("#active-calls li.call-card")
    await expect(cards).to_have_count(1)
    await expect(cards.first).to_contain_text(SECOND)
    held.release()
    await expect(cards).to_have_count(2)
    await expect(cards.nth(0)).to_contain_text(SECOND)
    await expect(cards.nth(1)).to_contain_text(FIRST)
    live = [await card.get_attribute("data-call-id") for card in await cards.all()]
    await page.unroute("**/console/live/cards/*")
    await page.reload()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert [await card.get_attribute("data-call-id") for card in await cards.all()] == live
    assert tab.errors == []
