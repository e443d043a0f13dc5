"""Replaying an execution from its own page, however old: the editor's test panel has it
chosen, shows its request and replays it; and a failed one's line is marked in the editor.
The panel's menu lists the 30 newest webhooks only, and the execution page's links to the
editor left an older one unchosen ("— choose —") with nothing to pick."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import SEED_SCRIPT, SeedSetup, seed_setup, start, upload

FAILING = SEED_SCRIPT + '''

parse_seed = VoipParseWebhookRequest


def VoipParseWebhookRequest(request):
    if request.json().get("callId") == "c-fail":
        raise ValueError("this call id is refused")
    return parse_seed(request)
'''


FAILING_LINE = FAILING.splitlines().index(
    '        raise ValueError("this call id is refused")') + 1


async def failed_execution(seed: SeedSetup) -> dict[str, Any]:
    """v2 (FAILING) active, and its execution that failed."""
    module = seed.module["id"]
    version = await upload(seed.api, module, FAILING)
    assert version["number"] == 2
    await seed.post_hook(start("c-fail"))
    [failed] = (await seed.api.ok("GET", f"/api/v1/executions?module_id={module}")
                )["executions"]
    assert failed["outcome"] == "error"
    return dict(failed)


async def test_an_old_execution_is_replayed_from_its_page(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    failed = await failed_execution(seed)
    for n in range(31):  # the webhooks of the next hour
        await seed.hook_ok(start(f"c-{n}"))

    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/executions/{failed['id']}")
    await expect(page.locator("main")).to_contain_text(f"At line {FAILING_LINE} of v2")
    await page.get_by_role("link", name="Replay it in the editor's test panel").click()
    await expect(page.locator(".cm-editor")).to_be_visible()
    await expect(page.get_by_label("Stored execution", exact=True)).to_have_value(failed["id"])
    await expect(page.locator("#stored-request")).to_contain_text("c-fail")
    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result).to_contain_text("Compared with what really happened")
    await expect(result).to_contain_text("this call id is refused")
    assert tab.errors == []


async def test_opening_a_failures_version_marks_its_line(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    failed = await failed_execution(seed)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/executions/{failed['id']}")
    await expect(page.locator("main")).to_contain_text(f"At line {FAILING_LINE} of v2")
    await page.get_by_role("link", name="Open that version in the editor").click()
    await expect(page.locator(".cm-editor")).to_be_visible()
    problems = page.locator("#problems li")
    await expect(problems).to_have_count(1)
    await expect(problems.first).to_have_attribute("data-line", str(FAILING_LINE))
    await expect(problems.first).to_contain_text(
        f"ValueError: line {FAILING_LINE}: this call id is refused")
    # (CodeMirror draws the lines in view only: the one scrolled to is found by its text.)
    line = page.locator(".cm-content .cm-line", has_text="this call id is refused")
    await expect(line.locator(".cm-lintRange-error")).to_have_count(1)
    assert await page.evaluate(
        "window.consoleEditor.state.doc.lineAt("
        "window.consoleEditor.state.selection.main.head).number") == FAILING_LINE
    assert tab.errors == []
