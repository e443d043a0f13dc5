"""A live page left open all day keeps what a reload would show, not every call since it was
opened."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import answer, end, seed_setup, start


async def test_a_tab_open_all_day_keeps_the_ended_calls_a_reload_shows(
        tab: Tab, console: tuple[Service, str]) -> None:
    """Ended calls on a page left open: the newest 20 (as the page is drawn), and every missed
    call nobody marked handled, however old. The page kept every call that ended since it was
    opened."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.user_token)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await seed.hook_ok(start("missed", src="+79035550011"))
    await seed.hook_ok(end("missed", src="+79035550011", disposition="no_answer"))
    for n in range(22):
        number = f"+7916{n:07d}"
        await seed.hook_ok(start(f"c-{n}", src=number))
        await seed.hook_ok(answer(f"c-{n}", src=number))
        await seed.hook_ok(end(f"c-{n}", src=number))
    ended = page.locator("#ended-calls li.call-card")
    await expect(page.locator("li.call-card", has_text="+79160000021")).to_be_visible()
    await expect(ended).to_have_count(21)
    await expect(ended.last).to_contain_text("+79035550011")  # missed, not handled: stays
    await expect(page.locator("li.call-card", has_text="+79160000001")).to_have_count(0)
    live = {await card.get_attribute("data-call-id") for card in await ended.all()}
    await page.reload()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert {await card.get_attribute("data-call-id") for card in await ended.all()} == live
    assert tab.errors == []
