"""The editor and versions pages in real Chromium (issue #19 point 5): the test panel starts from
the module's last webhook (masked), both version menus follow saves, the diff shows the changed
lines with folded context, rollback is offered only when there is a version to go back to, and
no page logs a console error or a Content-Security-Policy violation. axe checks each page;
screenshots go to test-artifacts/console/, and with CONSOLE_SCREENSHOTS=update also over the
ones kept beside this file (screenshots/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect

from tests.console.browser.conftest import ARTIFACTS, Tab
from tests.console.browser.test_accessibility import BLOCKING
from tests.console.browser.test_builder_journey import type_script
from tests.console.scripts import CHANGED_SCRIPT, FORM_BODY, FORM_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup

SIGNATURE = "s3cr3t-signature-value"
KEPT = Path(__file__).parent / "screenshots"
SHOTS = ("editor-start-from-webhook", "editor-menus-after-save", "versions-rollback-offered",
         "diff-folded", "versions-no-rollback", "editor-completion")


def keep_screenshots(names: tuple[str, ...]) -> None:
    """CONSOLE_SCREENSHOTS=update: the kept screenshots become this run's."""
    if os.environ.get("CONSOLE_SCREENSHOTS") == "update":
        for name in names:
            shutil.copyfile(ARTIFACTS / f"{name}.png", KEPT / f"{name}.png")


async def axe(page: Page, name: str) -> list[str]:
    results = await Axe().run(page)
    return [f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"] if v.get("impact") in BLOCKING]


async def menu_texts(page: Page, selector: str) -> list[str]:
    texts: list[str] = await page.locator(f"{selector} option").all_inner_texts()
    return texts


async def test_editor_and_versions(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service, script=FORM_SCRIPT)
    module = seed.module["id"]
    hook = await service.client.post(seed.hook_path + "?token=q-secret-token", data=FORM_BODY,
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Signature": SIGNATURE})
    assert hook.status == 200, await hook.text()
    page = tab.page
    await tab.report_csp_violations()
    await tab.sign_in(seed.api.secret or "")
    problems: list[str] = []

    # The test panel starts from the last webhook: a form, its secrets masked.
    await tab.goto(f"/console/modules/{module}/editor")
    await expect(page.locator("#editor[data-ready='true']")).to_be_attached()
    await expect(page.locator("#start-note")).to_contain_text("Filled from the last webhook")
    await expect(page.locator("#start-note")).to_contain_text("masked")
    headers = await page.get_by_label('Headers, one "Name: value" per line').input_value()
    assert "Content-Type: application/x-www-form-urlencoded" in headers
    assert "X-Signature: ••••••" in headers
    assert SIGNATURE not in headers
    assert "Host:" not in headers and "Content-Length:" not in headers
    assert await page.get_by_label("Body", exact=True).input_value() == FORM_BODY
    url = await page.get_by_label("URL with query").input_value()
    assert "q-secret-token" not in url and "token=" in url
    assert SIGNATURE not in await page.content()
    # The stored-request mode has that webhook chosen already.
    await page.get_by_label("a stored execution's request").check()
    await expect(page.locator("#stored-request")).to_contain_text("X-Signature: ••••••")
    await page.get_by_label("compose a request").check()
    problems += await axe(page, "editor")
    await tab.shot("editor-start-from-webhook")

    # Check and dry run, as a builder does them: no console error, no CSP violation.
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(page.locator("#editor-status")).to_contain_text("no problems")
    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result.locator("[data-outcome]")).to_have_attribute("data-outcome", "ok")
    await expect(result).to_contain_text("Call: a repeat")  # the same call the webhook started

    # Save and activate: both menus show the new version as active, at once.
    assert await menu_texts(page, "#open-version") == ["v1 (active)"]
    await type_script(tab, CHANGED_SCRIPT)
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Saved version 2 (now active)")
    for menu in ("#open-version", "#run-version-id"):
        assert await menu_texts(page, menu) == ["v2 (active)", "v1"], menu
        assert await page.locator(menu).input_value() != ""
    # Saving without activating adds the version; the active one stays marked.
    await type_script(tab, CHANGED_SCRIPT + "\n# a note\n")
    await page.get_by_role("button", name="Save as new version").click()
    await expect(page.locator("#editor-status")).to_contain_text("Saved version 3.")
    for menu in ("#open-version", "#run-version-id"):
        assert await menu_texts(page, menu) == ["v3", "v2 (active)", "v1"], menu
    # The run menu runs a saved version: the new one is there to pick.
    await page.get_by_label("a saved version").check()
    await page.get_by_label("Version to run").select_option(label="v3")
    await page.get_by_role("button", name="Run dry run").click()
    await expect(result.locator("[data-outcome]")).to_have_attribute("data-outcome", "ok")
    await tab.shot("editor-menus-after-save")

    # Versions: rollback names the version it goes back to.
    await page.get_by_role("link", name="Versions").click()
    await expect(page.locator("table.versions tbody tr")).to_have_count(3)
    rollback = page.get_by_role("button", name="Roll back to the previous version (v1)")
    await expect(rollback).to_be_visible()
    problems += await axe(page, "versions")
    await tab.shot("versions-rollback-offered")

    # The diff of a one-line change: that line, its context, and folds.
    await page.get_by_label("v1 on the left").check()
    await page.get_by_label("v2 on the right").check()
    await page.get_by_role("button", name="Compare selected versions").click()
    await expect(page.locator("main")).to_contain_text("1 changed line.")
    await expect(page.locator("td.added")).to_have_count(1)
    await expect(page.locator("td.added")).to_contain_text('"dstPhone": "102"')
    total = len(FORM_SCRIPT.splitlines())
    changed_at = next(i for i, line in enumerate(FORM_SCRIPT.splitlines(), 1)
                      if '"dstPhone": form["to"]' in line)
    shown = page.locator("table.side-by-side tbody tr:not(.d-fold)")
    await expect(shown).to_have_count(1 + 3 + min(3, total - changed_at))
    fold = page.locator("tr.d-fold").first
    await expect(fold).to_contain_text(f"{changed_at - 4} unchanged lines (1–{changed_at - 4})")
    problems += await axe(page, "diff")
    await tab.shot("diff-folded")
    await page.get_by_role("link", name="Show every line").click()
    await expect(page.locator("tr.d-fold")).to_have_count(0)
    await expect(shown).to_have_count(total)
    await page.get_by_role("link", name="Show only the changes").click()
    await expect(page.locator("tr.d-fold")).not_to_have_count(0)

    # With version 1 active there is nothing to roll back to: the button is not offered.
    await page.get_by_role("link", name="Versions").click()
    await page.get_by_role("button", name="Activate version 1").click()
    await expect(page.locator(".notice")).to_contain_text("activated")
    await expect(page.locator("tr.active-row th")).to_contain_text("v1")
    await expect(page.get_by_role("button", name="Roll back", exact=False)).to_have_count(0)
    await tab.shot("versions-no-rollback")

    assert problems == []
    assert tab.errors == []
    keep_screenshots(SHOTS[:-1])


async def test_a_csp_violation_on_the_editor_is_an_error(tab: Tab,
                                                         console: tuple[Service, str]) -> None:
    """The control for the checks above: an inline style on the editor page is refused by the
    policy, and the violation reaches `tab.errors`."""
    service, _ = console
    seed = await seed_setup(service)
    await tab.report_csp_violations()
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    await expect(tab.page.locator("#editor[data-ready='true']")).to_be_attached()
    assert tab.errors == []
    await tab.page.evaluate(
        "document.getElementById('editor-status').setAttribute('style', 'color: red')")
    for _ in range(50):
        if any("CSP violation: style-src" in e for e in tab.errors):
            break
        await tab.page.wait_for_timeout(100)
    assert any("CSP violation: style-src" in e for e in tab.errors), tab.errors
