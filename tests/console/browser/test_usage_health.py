"""Health and usage at a glance, in Chromium: the modules list shows webhooks and failures in
the last hour and day and the last error (linked to its execution); the usage page lists the
days with their figures and says how long history is kept. axe on both; screenshots kept under
test-artifacts/console/ (usage.png, modules-health.png); with CONSOLE_SCREENSHOTS=update they
replace the ones kept beside this file (screenshots/), which the README shows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import expect

from runtime.store.models import utc_now
from tests.console.browser.conftest import ARTIFACTS, Tab
from tests.console.browser.test_accessibility import audit
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start, upload
from tests.e2e.test_api_executions import FAILING

KEPT = Path(__file__).parent / "screenshots"


async def test_modules_list_health_and_the_usage_page(tab: Tab,
                                                      console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start())
    failing = await seed.api.ok("POST", "/api/v1/modules", {"name": "failing"}, status=201)
    await upload(seed.api, failing["id"], FAILING)
    for _ in range(3):
        response = await service.client.post(urlsplit(failing["webhook_url"]).path,
                                             json={"x": 1})
        assert response.status == 500
    other = await seed_setup(service, name="globex")  # another tenant: never shown
    await other.hook_ok(start("other-call"))

    await tab.sign_in(seed.api.secret or "")
    problems = await audit(tab, "/console/modules", "modules-health")
    await tab.shot("modules-health")
    rows = tab.page.locator("table tbody tr")
    await expect(rows).to_have_count(2)
    failing_row = rows.filter(has_text="failing")
    # Name, region, version, then the last hour and the last day.
    await expect(failing_row.locator("td").nth(3)).to_have_text("3 (3 failed)")
    await expect(failing_row.locator("td").nth(4)).to_have_text("3 (3 failed)")
    seed_row = rows.filter(has_text="seed-json")
    await expect(seed_row.locator("td").nth(4)).to_have_text("1 (0 failed)")
    await expect(seed_row.locator(".last-error")).to_have_text("none")
    await expect(failing_row.locator(".last-error")).to_contain_text("ValueError · line 4: boom")
    await expect(tab.page.locator(".retention")).to_contain_text("executions 30 days")

    await failing_row.locator(".last-error a").click()
    await tab.page.wait_for_load_state()
    await expect(tab.page.locator("h1")).to_contain_text("Execution")
    await expect(tab.page.locator("main")).to_contain_text("boom")

    await tab.page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Usage").click()
    await tab.page.wait_for_load_state()
    problems += await audit(tab, "/console/usage", "usage")
    await tab.shot("usage")
    days = tab.page.locator("table.usage tbody tr")
    await expect(days).to_have_count(30)
    today = days.first
    await expect(today.locator("th")).to_have_text(str(utc_now().date()))
    # 1 + 3 webhooks of this tenant only (globex's one is not here), 3 failed.
    await expect(today.locator("td").nth(0)).to_have_text("4")
    await expect(today.locator("td").nth(1)).to_have_text("3")
    await expect(today.locator(".bar")).to_have_class("bar bar-100")
    await expect(days.nth(1).locator(".bar")).to_have_class("bar bar-0")
    await expect(tab.page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Usage")).to_have_attribute(
        "aria-current", "page")
    await expect(tab.page.locator(".retention")).to_contain_text("Usage per day stays 400 days")

    await tab.page.get_by_role("link", name="Last 7 days").click()
    await tab.page.wait_for_load_state()
    await expect(days).to_have_count(7)
    response = await tab.goto("/console/usage?days=999")
    assert response.status == 400
    await expect(tab.page.locator("main")).to_contain_text("days: must be 1..366")
    print("\n".join(problems))
    assert problems == []
    assert tab.errors == [] or all("400" in e for e in tab.errors)
    if os.environ.get("CONSOLE_SCREENSHOTS") == "update":
        for name in ("usage", "modules-health"):
            shutil.copyfile(ARTIFACTS / f"{name}.png", KEPT / f"{name}.png")
