"""A dry run's report is long (the result, the effects, the captured output, the full JSON):
a screen reader is told a short summary of each run (its outcome and duration), and the
report stays on the page to read at one's own pace. The whole report was in a live region,
read aloud from the top on every run."""

from __future__ import annotations

import json

from playwright.async_api import expect

from runtime.typedefs import STORE
from tests.console.browser.conftest import Tab
from tests.console.scripts import XSS_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, upload

# What a screen reader announces: the text of every live region (aria-live other than "off",
# or a role that implies one), as it is now.
ANNOUNCED = """() => Array.from(document.querySelectorAll(
    '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]'))
  .filter((node) => !node.closest('[hidden]'))
  .map((node) => node.textContent.trim()).filter(Boolean)"""


async def announced(tab: Tab) -> list[str]:
    found: list[str] = await tab.page.evaluate(ANNOUNCED)
    return found


async def test_a_dry_run_announces_its_outcome_not_its_report(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await upload(seed.api, seed.module["id"], XSS_SCRIPT)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")

    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result.locator("[data-outcome]")).to_be_visible()
    await expect(result).to_contain_text("Captured output")  # the report is on the page
    said = await announced(tab)
    assert not any("Captured output" in text or "Full report" in text for text in said), said
    summary = page.locator("#run-summary")
    await expect(summary).to_contain_text("ms")
    said = await announced(tab)
    outcome = await result.locator("[data-outcome]").get_attribute("data-outcome")
    assert outcome and any(outcome in text and "ms" in text for text in said), said
    assert all(len(text) < 200 for text in said), said

    # A failing run says so, and where; still not the report.
    await page.get_by_label("Body", exact=True).fill(json.dumps({"type": "boom"}))
    await page.get_by_role("button", name="Run dry run").click()
    await expect(result.locator("[data-outcome]")).to_have_attribute("data-outcome", "error")
    await expect(summary).to_contain_text("error")
    said = await announced(tab)
    assert not any("Captured output" in text or "log line" in text for text in said), said
    assert all(len(text) < 300 for text in said), said
    assert tab.errors == []


async def test_a_dry_run_names_the_users_it_would_notify_however_many(
        tab: Tab, console: tuple[Service, str]) -> None:
    """The effects name each user the run would notify. The page knew the first 500 users'
    names (by name) only: past them, a user was shown by id."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    for n in range(500):  # all before "operator" (bound at 101) by name
        await store.create_user(seed.tenant_id, f"a-{n:03}")
    await upload(seed.api, seed.module["id"], XSS_SCRIPT)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await page.get_by_label("Body", exact=True).fill(json.dumps(
        {"type": "start", "callId": "c-1", "srcPhone": "+79161234567", "dstPhone": "101"}))
    await page.get_by_role("button", name="Run dry run").click()
    effects = page.locator("#run-result ul.effects")
    await expect(effects).to_contain_text("Notify operator: ringing")
    assert seed.user["id"] not in await effects.inner_text()
    assert tab.errors == []


async def test_loading_members_announces_a_summary_not_the_table(
        tab: Tab, console: tuple[Service, str]) -> None:
    """"Load members" draws a table of the provider's members, each row with a menu of every
    user: as a live region, its box read all of that aloud. A status line says how many."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}")
    await page.get_by_role("button", name="Load members").click()
    await expect(page.locator("#members-result table")).to_be_visible()
    said = await announced(tab)
    assert not any("not bound" in text for text in said), said
    await expect(page.locator("#members-status")).to_contain_text("Members loaded")
    said = await announced(tab)
    assert any("Members loaded" in text for text in said), said
    assert all(len(text) < 200 for text in said), said
    assert tab.errors == []
