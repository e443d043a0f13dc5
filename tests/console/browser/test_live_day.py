"""An operator's day on the live page, in real Chromium, with the Zadarma sample module (signed
form webhooks, a fake Zadarma API for the callback): a known client rings (a sound, as this
operator chose), is answered and ends; a missed call rings two operators and ends with its
record in the same webhook, so the contact it creates is on both cards at once and nobody is
offered "Create contact"; one operator marks it handled and the colleague's page shows who did
without a reload; then a call back through VoipGenerateCall. Then the page at phone width, and
axe on every state of the page. Screenshots go to test-artifacts/console/ (live-day-*); those
kept beside this file (screenshots/live-day-*.png) are refreshed with CONSOLE_SCREENSHOTS=update,
and the README's runtime/console/screenshots/live.png and live-phone.png are copies of
live-day.png and live-day-phone.png.

Any error in a page's console fails the test (the `tab` fixture collects them).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser as PwBrowser
from playwright.async_api import Page, expect

from tests.console.browser.conftest import ARTIFACTS, Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import provider_tenant, serving
from tests.e2e.test_provider_zadarma import (
    API_KEY,
    API_SECRET,
    SCRIPT,
    FakeZadarma,
    Tenant,
    end,
    incoming,
)

BLOCKING = {"serious", "critical"}
CLIENT = "79161234567"
CALLER = "79035550011"  # unknown: the missed call makes a contact for this number
KEPT = Path(__file__).parent / "screenshots"


def keep_screenshots() -> None:
    """CONSOLE_SCREENSHOTS=update: the screenshots kept beside the tests, from this run."""
    if os.environ.get("CONSOLE_SCREENSHOTS") == "update":
        for shot in KEPT.glob("live-day*.png"):
            shutil.copyfile(ARTIFACTS / shot.name, shot)


@pytest.fixture
async def fake() -> AsyncIterator[FakeZadarma]:
    provider = FakeZadarma()
    async with serving(provider.app()) as provider.base:
        yield provider


@pytest.fixture
async def zd(console: tuple[Service, str], fake: FakeZadarma) -> Tenant:
    service, _ = console
    return await provider_tenant(Tenant, service, {
        "name": "zadarma", "region": "RU",
        "settings": {"apiBaseUrl": fake.base, "apiKey": API_KEY, "apiSecret": API_SECRET},
        "secrets": ["apiKey", "apiSecret"],
        "allowlist": ["127.0.0.1"],
    }, SCRIPT, {"operator": "operator", "anna": "anna"}, {"101": "operator", "102": "anna"})


async def axe_problems(page: Page, name: str) -> list[str]:
    results = await Axe().run(page)
    return [f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"] if v.get("impact") in BLOCKING]


async def signed_in_tab(chromium: PwBrowser, base: str, token: str, **options: Any) -> Tab:
    context = await chromium.new_context(**options)
    page = await context.new_page()
    tab = Tab(page, base)
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    await tab.sign_in(token)
    return tab


def card(page: Page, where: str, text: str) -> Any:
    return page.locator(f"#{where} li.call-card", has_text=text)


async def test_an_operators_day(tab: Tab, chromium: PwBrowser, console: tuple[Service, str],
                                zd: Tenant, fake: FakeZadarma) -> None:
    _, base = console
    page = tab.page
    # Every error in the page's console, none excepted (the `tab` fixture lets the editor's
    # expected 409/422 answers through; this page has none).
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    ivan = await zd.api.ok("POST", "/api/v1/contacts",
                           {"name": "Ivan Client", "phones": ["+7 916 123-45-67"]}, status=201)
    # Ivan called yesterday: his card lists that call.
    await zd.notify_ok(incoming("NOTIFY_START", "in_old"))
    await zd.notify_ok(end("in_old", disposition="busy", duration="0", internal=""))

    await tab.sign_in(zd.tokens["operator"])
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#no-active")).to_be_visible()
    await expect(page.locator("#no-active")).to_contain_text("No calls right now")
    await expect(page.locator("#no-ended")).to_contain_text("No calls ended")
    await tab.shot("live-day-empty")
    problems = await axe_problems(page, "live-empty")
    await page.evaluate("window.__loaded = 'same page'")

    # The operator wants a sound for incoming calls; the colleague a browser notification.
    await page.get_by_text("When a call rings").click()
    await page.get_by_label("A sound").check()
    await expect(page.locator("#alert-summary")).to_have_text("a sound")
    anna = await signed_in_tab(chromium, base, zd.tokens["anna"],
                               viewport={"width": 1200, "height": 900})
    await anna.page.context.grant_permissions(["notifications"], origin=base)
    await anna.page.get_by_text("When a call rings").click()
    await anna.page.get_by_label("A browser notification").check()
    await expect(anna.page.locator("#alert-summary")).to_have_text("a browser notification")
    await anna.page.reload()  # the choice stays in this browser
    await expect(anna.page.get_by_label("A browser notification")).to_be_checked()
    await expect(anna.page.locator("#live-status")).to_have_attribute("data-state", "live")

    # --- a known client rings, is answered, hangs up ------------------------------------------
    await zd.notify_ok(incoming("NOTIFY_START"))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", internal="101"))
    ringing = card(page, "active-calls", "Ivan Client")
    await expect(ringing.locator('[data-field="state"]')).to_have_text("Ringing")
    await expect(ringing.locator('[data-field="direction"]')).to_have_text("Incoming")
    # Zadarma rings the company's number first; the extension is known once it answers.
    await expect(ringing.locator('[data-field="extension"]')).to_have_text("74951112233")
    contact_card = ringing.locator('[data-field="contact"]')
    await expect(contact_card.get_by_role("link", name="Ivan Client")).to_have_attribute(
        "href", f"/console/contacts/{ivan['id']}")
    await expect(contact_card.locator(".last-calls li")).to_have_count(1)
    await expect(contact_card.locator(".last-calls")).to_contain_text("incoming · missed")
    await expect(ringing.get_by_role("button", name="Create contact")).to_have_count(0)
    await expect(page).to_have_title(re.compile(r"^\(1 ringing\) Live calls"))
    await page.wait_for_function("window.consoleLiveAlerts.length === 1")
    assert await page.evaluate("window.consoleLiveAlerts[0].kind") == "sound"
    await tab.shot("live-day-ringing")

    await zd.notify_ok(incoming("NOTIFY_ANSWER", destination="101", internal="101"))
    talking = card(page, "active-calls", "Ivan Client")
    await expect(talking.locator('[data-field="state"]')).to_have_text("Talking")
    await expect(talking.locator('[data-field="answered-by"]')).to_have_text("operator (101)")
    await expect(talking.locator('[data-field="extension"]')).to_have_text("101")
    clock = talking.locator('[data-field="duration"]')
    await expect(clock).to_have_text(re.compile(r"^0:0\d$"))
    first = await clock.text_content()
    await expect(clock).not_to_have_text(first or "", timeout=3_000)  # it ticks
    await tab.shot("live-day-talking")
    problems += await axe_problems(page, "live-talking")

    await zd.notify_ok(end(duration="74"))
    answered = card(page, "ended-calls", "Ivan Client")
    await expect(answered.locator('[data-field="state"]')).to_have_text("Answered")
    await expect(answered.locator('[data-field="duration"]')).to_have_text("1 min 14 s")
    await expect(answered.locator('[data-field="disposition"]')).to_have_text("Answered")
    await expect(page.locator("#active-calls li.call-card")).to_have_count(0)
    await expect(page.locator("#no-active")).to_be_visible()
    await expect(page).to_have_title(re.compile(r"^Live calls"))
    await expect(answered).not_to_have_class(re.compile("needs-attention"))

    # --- a missed call: both phones ring; the end and its record come in one webhook ----------
    await zd.notify_ok(incoming("NOTIFY_START", "in_77c1", CALLER))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_77c1", CALLER, internal="101"))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_77c1", CALLER, internal="102"))
    await expect(card(anna.page, "active-calls", CALLER)).to_have_count(1)
    await anna.page.wait_for_function("window.consoleLiveAlerts.length === 1")
    assert await anna.page.evaluate("window.consoleLiveAlerts[0]") == {
        "kind": "notification", "callId": (await zd.call("in_77c1"))["id"],
        "title": f"Incoming call: {CALLER}"}
    await zd.notify_ok(end("in_77c1", CALLER, disposition="no answer", duration="0",
                           internal=""))
    [created] = (await zd.api.ok("GET", f"/api/v1/contacts?phone=%2B{CALLER}"))["contacts"]
    for who in (page, anna.page):
        missed = card(who, "ended-calls", CALLER)
        await expect(missed.locator('[data-field="state"]')).to_have_text("Missed")
        await expect(missed).to_have_class(re.compile("needs-attention"))
        await expect(missed.locator('[data-field="disposition"]')).to_have_text("No answer")
        # The contact the missed call created is on the card: nobody makes a second one.
        await expect(missed.locator('[data-field="contact"] a')).to_have_attribute(
            "href", f"/console/contacts/{created['id']}")
        await expect(missed.get_by_role("button", name="Create contact")).to_have_count(0)
    await tab.shot("live-day-missed")
    problems += await axe_problems(page, "live-missed")

    # --- the operator marks it handled: the colleague's page says so without a reload --------
    mine = card(page, "ended-calls", CALLER)
    await mine.get_by_role("button", name="Mark handled").click()
    await expect(mine.locator('[data-field="handled"]')).to_contain_text("by operator")
    await expect(mine).not_to_have_class(re.compile("needs-attention"))
    theirs = card(anna.page, "ended-calls", CALLER)
    await expect(theirs.locator('[data-field="handled"]')).to_contain_text("by operator")
    await expect(theirs.get_by_role("button", name="Mark handled")).to_have_count(0)
    await anna.shot("live-day-handled-colleague")

    # --- and calls the client back from their own extension ----------------------------------
    await mine.get_by_role("button", name=f"Call back {CALLER}").click()
    await expect(mine.locator('[data-field="result"]')).to_have_text(
        f"Calling {CALLER}: your phone (101) rings first.")
    callbacks = [r["query"] for r in fake.requests if r["path"] == "/v1/request/callback/"]
    assert callbacks == [{"from": "101", "to": CALLER, "format": "json"}]
    assert await page.evaluate("window.__loaded") == "same page"  # never reloaded
    await tab.shot("live-day")
    problems += await axe_problems(page, "live-day")

    # A reload draws the same cards from the server.
    await page.reload()
    await expect(card(page, "ended-calls", CALLER).locator('[data-field="handled"]')
                 ).to_contain_text("by operator")
    await expect(page.locator("#ended-calls li.call-card")).to_have_count(2)

    print("\n".join(problems))
    assert problems == []
    assert tab.errors == [] and errors == []
    assert anna.errors == []
    await anna.page.context.close()
    keep_screenshots()


async def test_the_live_page_at_phone_width(chromium: PwBrowser, console: tuple[Service, str],
                                            zd: Tenant) -> None:
    _, base = console
    await zd.notify_ok(incoming("NOTIFY_START", "in_1", CALLER))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_1", CALLER, internal="101"))
    await zd.notify_ok(end("in_1", CALLER, disposition="no answer", duration="0", internal=""))
    await zd.notify_ok(incoming("NOTIFY_START", "in_2", "79165550000"))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_2", "79165550000", internal="101"))
    phone = await signed_in_tab(chromium, base, zd.tokens["operator"],
                                viewport={"width": 375, "height": 740}, is_mobile=True,
                                has_touch=True, device_scale_factor=2)
    page = phone.page
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    missed = card(page, "ended-calls", CALLER)
    await expect(missed.get_by_role("button", name="Mark handled")).to_be_visible()
    await expect(card(page, "active-calls", "79165550000").get_by_role(
        "button", name="Create contact")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    for button in await page.locator(".call-actions button").all():
        box = await button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert box["height"] >= 44  # a thumb's target
    await phone.shot("live-day-phone")
    problems = await axe_problems(page, "live-phone")
    assert problems == []
    assert phone.errors == []
    await page.context.close()
    keep_screenshots()


async def test_a_mark_made_while_disconnected_shows_after_the_reconnect(
        chromium: PwBrowser, console: tuple[Service, str], zd: Tenant) -> None:
    _, base = console
    await zd.notify_ok(incoming("NOTIFY_START", "in_1", CALLER))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_1", CALLER, internal="101"))
    await zd.notify_ok(incoming("NOTIFY_INTERNAL", "in_1", CALLER, internal="102"))
    await zd.notify_ok(end("in_1", CALLER, disposition="no answer", duration="0", internal=""))
    mine = await signed_in_tab(chromium, base, zd.tokens["operator"])
    page = mine.page
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    missed = card(page, "ended-calls", CALLER)
    await expect(missed).to_have_class(re.compile("needs-attention"))

    await page.evaluate("window.consoleLiveSocket.close()")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "offline")
    anna = await signed_in_tab(chromium, base, zd.tokens["anna"])
    await card(anna.page, "ended-calls", CALLER).get_by_role(
        "button", name="Mark handled").click()
    await expect(card(anna.page, "ended-calls", CALLER).locator('[data-field="handled"]')
                 ).to_contain_text("by anna")

    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live",
                                                                 timeout=15_000)
    await expect(missed.locator('[data-field="handled"]')).to_contain_text("by anna")
    await expect(missed).not_to_have_class(re.compile("needs-attention"))
    assert mine.errors == [] and anna.errors == []
    await page.context.close()
    await anna.page.context.close()
