"""What an operator's live page shows, without a reload, of a call that rings for them but is
answered by a colleague, in real Chromium: rung with a colleague (a group) and answered there,
their card turns from Ringing to Talking, answered by the colleague (it stayed Ringing, with
"(1 ringing)" in the title, until the call ended), also when the answer came while the page
was disconnected; transferred to them after a colleague
answered, their card rings at their extension, from whom (it said Talking at the colleague's),
until they answer.

Any error in the page's console fails the test (the `tab` fixture collects them).
"""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.test_live_actions import with_anna
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, answer, end, seed_setup, start

OTHER = "+79035550011"


def internal(call_id: str, src: str, dst: str) -> dict[str, str]:
    return {"type": "internal", "callId": call_id, "srcPhone": src, "dstPhone": dst}


async def test_a_call_answered_by_a_colleague_or_transferred_to_me(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    anna = await with_anna(seed)
    await tab.sign_in(anna)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    # --- rung at both phones; the colleague at 101 answers ----------------------------------
    await seed.hook_ok(start("g-1"))
    await seed.hook_ok(internal("g-1", CLIENT, "102"))
    group = page.locator("#active-calls li.call-card", has_text=CLIENT)
    await expect(group.locator('[data-field="state"]')).to_have_text("Ringing")
    await expect(page).to_have_title(re.compile(r"^\(1 ringing\) "))
    await seed.hook_ok(answer("g-1"))
    await expect(group.locator('[data-field="state"]')).to_have_text("Talking")
    await expect(group.locator('[data-field="answered-by"]')).to_have_text("operator (101)")
    await expect(page).to_have_title(re.compile(r"^Live calls"))
    await seed.hook_ok(end("g-1"))
    await expect(page.locator("#active-calls li.call-card")).to_have_count(0)

    # --- the same while anna's page is disconnected: after the reconnect it says Talking ----
    await seed.hook_ok(start("g-2"))
    await seed.hook_ok(internal("g-2", CLIENT, "102"))
    await expect(group.locator('[data-field="state"]')).to_have_text("Ringing")
    await page.evaluate("window.consoleLiveSocket.close()")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "offline")
    await seed.hook_ok(answer("g-2"))
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live",
                                                                 timeout=15_000)
    await expect(group.locator('[data-field="state"]')).to_have_text("Talking")
    await seed.hook_ok(end("g-2"))
    await expect(page.locator("#active-calls li.call-card")).to_have_count(0)

    # --- answered at 101, then transferred to anna at 102 -----------------------------------
    await seed.hook_ok(start("t-1", src=OTHER))
    await seed.hook_ok(answer("t-1", src=OTHER))
    await seed.hook_ok(internal("t-1", OTHER, "102"))  # the transfer
    moved = page.locator("#active-calls li.call-card", has_text=OTHER)
    await expect(moved.locator('[data-field="state"]')).to_have_text("Ringing")
    await expect(moved.locator('[data-field="extension"]')).to_have_text("102")
    await expect(moved.locator('[data-field="transferred-from"]')).to_have_text(
        "operator (101)")
    await expect(page).to_have_title(re.compile(r"^\(1 ringing\) "))
    await tab.shot("live-transferred")
    await seed.hook_ok(answer("t-1", src=OTHER, dst="102"))
    await expect(moved.locator('[data-field="state"]')).to_have_text("Talking")
    await expect(moved.locator('[data-field="answered-by"]')).to_have_text("anna (102)")
    await expect(page).to_have_title(re.compile(r"^Live calls"))
    assert tab.errors == []


async def test_marking_handled_from_the_keyboard_keeps_the_place(
        tab: Tab, console: tuple[Service, str]) -> None:
    """Keyboard only: "Mark handled" pressed with Enter redraws the card without its button;
    the focus stays on that card (it fell to the page's start: the next Tab began again at
    "Skip to content")."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.user_token)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await seed.hook_ok(start("m-1"))
    await seed.hook_ok(end("m-1", disposition="no_answer"))
    missed = page.locator("#ended-calls li.call-card", has_text=CLIENT)
    await expect(missed.locator('[data-field="state"]')).to_have_text("Missed")
    button = missed.get_by_role("button", name="Mark handled")
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(missed.locator('[data-field="handled"]')).to_contain_text("by operator")
    assert await page.evaluate(
        "document.activeElement.closest('li.call-card')?.dataset.callId ?? null"
    ) == await missed.get_attribute("data-call-id")
    assert tab.errors == []
