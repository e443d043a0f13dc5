"""An operator's journey in real Chromium: the live page follows a call through the webhook URL
(ringing → answered → ended) without reloading, catches up after a reconnect (and says at once
when the network is gone, reconnecting as soon as it is back), creates a contact
for the caller, and the contact page plays the recording resolved by VoipGetCallLink. A
recording that cannot play says why beside its player (it was a greyed-out player, no word)."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.recordings import recording_server
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, answer, end, record, seed_setup, start

CARD = "li.call-card"


async def test_operator_journey(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    async with recording_server() as storage:
        await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}",
                          {"settings": {"apiKey": "••••56", "recordBaseUrl": storage.base,
                                        "members": "101:Operator"}})

        await tab.sign_in(seed.user_token)
        await expect(page.get_by_role("heading", name="Live calls")).to_be_visible()
        status = page.locator("#live-status")
        await expect(status).to_have_attribute("data-state", "live")
        await page.evaluate("window.__loaded = 'same page'")

        await seed.hook_ok(start("c-1"))
        card = page.locator(f"#active-calls {CARD}")
        await expect(card).to_have_count(1)
        await expect(card.locator('[data-field="state"]')).to_have_text("Ringing")
        await expect(card).to_contain_text(CLIENT)
        await tab.shot("live-ringing")

        await seed.hook_ok(answer("c-1"))
        await expect(card.locator('[data-field="state"]')).to_have_text("Talking")

        # The end's card cannot be fetched (the connection blinks): the page says so in words.
        cards = "**/console/live/cards/**"
        await page.route(cards, lambda route: route.abort())
        shown = len(tab.errors)
        await seed.hook_ok(end("c-1"))
        problem = page.locator("#live-problem")
        await expect(problem).to_contain_text("could not show call")
        await expect(problem).to_contain_text("the service could not be reached")
        await page.unroute(cards)
        assert all("Failed to load resource" in e for e in tab.errors[shown:]), tab.errors
        del tab.errors[shown:]

        # Disconnected, a call rings; after the reconnect the page shows what was missed, and
        # draws the cards again: the ended call's too, and its problem line goes.
        await page.evaluate("window.consoleLiveSocket.close()")
        await expect(status).to_have_attribute("data-state", "offline")
        await seed.hook_ok(start("c-2", src="+79169998877"))
        await expect(status).to_have_attribute("data-state", "live", timeout=15_000)
        await expect(page.locator("#missed-section")).to_be_visible()
        await expect(page.locator("#missed")).to_contain_text("+79169998877")
        await expect(page.locator(f"#active-calls {CARD}")).to_have_count(1)
        ended = page.locator(f"#ended-calls {CARD}")
        await expect(ended.first.locator('[data-field="state"]')).to_have_text("Answered")
        await expect(problem).to_be_hidden()
        assert await page.evaluate("window.__loaded") == "same page"  # never reloaded
        await tab.shot("live")

        # The network goes (wifi lost): the page says so at once, not "Live" while no call can
        # reach it; back online it reconnects at once and brings what rang meanwhile.
        await page.context.set_offline(True)
        await expect(status).to_have_attribute("data-state", "offline")
        await expect(status).to_contain_text("no network connection")
        await seed.hook_ok(start("c-3", src="+79165554433"))
        await page.context.set_offline(False)
        # At once: the page reconnects on the online event (no backoff's "reconnecting in
        # N s"); the round trip to the service then takes what a loaded machine takes.
        await expect(status).to_have_attribute("data-state", re.compile(r"^(connecting|live)$"),
                                               timeout=4_000)
        await expect(status).to_have_attribute("data-state", "live", timeout=15_000)
        await expect(page.locator("#missed")).to_contain_text("+79165554433")
        await expect(page.locator(f"#active-calls {CARD}")).to_have_count(2)

        # The first caller has no contact: create one from the ended call's card.
        first = page.locator(f"#ended-calls {CARD}").first
        await first.get_by_label(f"Name for a new contact with {CLIENT}").fill("Ivan Petrov")
        await first.get_by_role("button", name="Create contact").click()
        # The operator stays on the live page: the card names the contact, linked.
        await first.get_by_role("link", name="Ivan Petrov").click()
        await expect(page.get_by_role("heading", name="Contact: Ivan Petrov")).to_be_visible()

        # The call's recording arrives; the contact page plays it through VoipGetCallLink.
        await seed.hook_ok(record("c-1", record_id="rec-1001"))
        await page.reload()
        audio = page.locator("audio")
        await expect(audio).to_have_count(1)
        await page.evaluate("document.querySelector('audio').play().catch(() => {})")
        await page.wait_for_function(
            "document.querySelector('audio').readyState >= 2", timeout=15_000)
        assert storage.hits == ["/rec/rec-1001"]
        await tab.shot("contact")
        links = await seed.api.ok(
            "GET", f"/api/v1/executions?module_id={seed.module['id']}&function=VoipGetCallLink")
        assert [e["outcome"] for e in links["executions"]] == ["ok"]

        await page.get_by_role("link", name="Calls", exact=True).click()
        await expect(page.locator("table.calls-table tbody tr")).to_have_count(3)
        await tab.shot("calls")

        # A recording that cannot play: the module's VoipGetCallLink fails, then its link
        # leads nowhere. Each time the player's line says so, in words.
        shown = len(tab.errors)
        for base, said in (("", "could not be loaded: the module's VoipGetCallLink failed"),
                           (storage.base + "/gone", "gave nothing this browser can play")):
            await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}",
                              {"settings": {"apiKey": "••••56", "recordBaseUrl": base,
                                            "members": "101:Operator"}})
            await page.reload()
            await page.evaluate("document.querySelector('audio').play().catch(() => {})")
            await expect(page.locator(".recording-problem").get_by_role("alert")).to_contain_text(
                said)
        await expect(page.locator(".recording-problem").get_by_role(
            "link", name="Open the link")).to_have_attribute("target", "_blank")
        # (The browser logs each failed load of the player's source.)
        assert all("Failed to load resource" in e for e in tab.errors[shown:]), tab.errors
        del tab.errors[shown:]
    assert tab.errors == []
