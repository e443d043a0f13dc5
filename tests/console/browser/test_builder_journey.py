"""A module builder's journey in real Chromium: sign in, create a module, write the script with
inline checks, dry-run a form webhook, activate, take a real webhook, find it in the log, replay
it against a changed draft, and roll back."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.scripts import (
    BROKEN_LINES,
    BROKEN_SCRIPT,
    CHANGED_SCRIPT,
    FORM_BODY,
    FORM_SCRIPT,
)
from tests.e2e.conftest import Service

PASTE = """(text) => {
    const data = new DataTransfer();
    data.setData("text/plain", text);
    document.querySelector(".cm-content").dispatchEvent(
        new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
}"""


async def type_script(tab: Tab, source: str) -> None:
    """Replace the editor's text as a person would: select all, paste."""
    content = tab.page.locator(".cm-content")
    await content.click()
    await tab.page.keyboard.press("Control+A")
    await tab.page.evaluate(PASTE, source)
    text = await tab.page.evaluate("window.consoleEditor.state.doc.toString()")
    assert text == source


async def test_builder_journey(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    tenant = await service.operator.ok("POST", "/api/v1/tenants", {"name": "acme"}, status=201)
    key = await service.operator.ok("POST", f"/api/v1/tenants/{tenant['id']}/keys", status=201)

    # Sign in; the cookie is HttpOnly and SameSite=Strict, and holds no key.
    await tab.sign_in(key["key"])
    await expect(page.get_by_role("heading", name="Modules")).to_be_visible()
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "vr_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert key["key"] not in session["value"]
    await tab.shot("modules")

    # Create a module.
    await page.get_by_label("Name").fill("pbx-forms")
    await page.get_by_role("button", name="Create module").click()
    await expect(page.get_by_role("heading", name="Module pbx-forms")).to_be_visible()
    hook_path = urlsplit(await page.get_by_role("textbox", name="Webhook URL").input_value()).path
    await tab.shot("module")

    # The editor: a script with two problems shows both, inline, at the tenant's lines.
    await page.get_by_role("link", name="Editor and test").click()
    await expect(page.locator(".cm-editor")).to_be_visible()
    await type_script(tab, BROKEN_SCRIPT)
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(page.locator("#editor-status")).to_contain_text("2 problems")
    problems = page.locator("#problems li")
    await expect(problems).to_have_count(2)
    assert [await p.get_attribute("data-line") for p in await problems.all()] == \
        [str(n) for n in BROKEN_LINES]
    await expect(problems.nth(0)).to_contain_text("eval")
    for number in BROKEN_LINES:
        line = page.locator(".cm-content .cm-line").nth(number - 1)
        await expect(line.locator(".cm-lintRange-error")).to_have_count(1)
    await expect(page.locator(".cm-gutter-lint .cm-lint-marker-error")).to_have_count(2)
    await page.locator(".cm-lintRange-error").first.hover()
    await expect(page.locator(".cm-tooltip-lint")).to_contain_text("eval")
    await tab.shot("editor-problems")

    # Fixed, it checks clean.
    await type_script(tab, FORM_SCRIPT)
    await page.get_by_role("button", name="Check", exact=True).click()
    await expect(page.locator("#editor-status")).to_contain_text("no problems")
    await expect(page.locator(".cm-lintRange-error")).to_have_count(0)

    # Dry-run a form-encoded webhook against the unsaved text: the effects, nothing stored.
    await page.get_by_role("button", name="Form body preset").click()
    await page.get_by_label("Body", exact=True).fill(FORM_BODY)
    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result.locator("[data-outcome]")).to_have_attribute("data-outcome", "ok")
    await expect(result).to_contain_text("Call: a new call, ringing")
    await expect(result).to_contain_text("got start from +79161234567")
    await expect(result).to_contain_text('"dstPhone": "101"')
    await tab.shot("editor-dry-run")
    api = service.api(key["key"])
    assert (await api.ok("GET", "/api/v1/calls"))["calls"] == []

    # Activate; then a real webhook reaches the service.
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Saved version 1 (now active)")
    hook = await service.client.post(hook_path, data=FORM_BODY, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Signature": "s3cr3t-signature"})
    assert hook.status == 200, await hook.text()

    # The execution log has it, with the signature masked.
    await page.get_by_role("link", name="Execution log").click()
    rows = page.locator("table.log tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("VoipParseWebhookRequest")
    await expect(rows.first).to_contain_text("ok")
    await tab.shot("executions")
    await rows.first.get_by_role("link").click()
    await expect(page.get_by_role("heading", name="Request")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("s3cr3t-signature")
    await expect(page.locator("main")).to_contain_text("X-Signature")
    await expect(page.locator("ul.masked")).to_contain_text("request header X-Signature")
    await tab.shot("execution")

    # Change the draft; replay the stored execution against it: the difference shows.
    await page.get_by_role("link", name="Editor and test").click()
    await type_script(tab, CHANGED_SCRIPT)
    await page.get_by_label("a stored execution's request").check()
    await page.get_by_label("Stored execution", exact=True).select_option(index=1)
    await expect(page.locator("#stored-request")).to_contain_text("X-Signature")
    await expect(page.locator("#stored-request")).to_contain_text(
        "(masked, ••••••: request header X-Signature; the run uses the request as it came)")
    await page.get_by_role("button", name="Run dry run").click()
    await expect(result).to_contain_text("Compared with what really happened")
    await expect(result.locator("ul.masked")).to_contain_text("request header X-Signature")
    await expect(result).to_contain_text("The result differs in 1 place")
    diff_row = result.locator("table.diff-table tr", has_text="event.dstPhone")
    await expect(diff_row.locator("td.before")).to_have_text('"101"')
    await expect(diff_row.locator("td.after")).to_have_text('"102"')
    await tab.shot("editor-replay")

    # The execution log replays a selection against the same draft: a summary first.
    await page.get_by_role("link", name="Execution log").click()
    await page.get_by_label("Select all shown webhook executions").check()
    await page.get_by_label("Against").select_option("draft")
    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.locator('[data-count="total"]')).to_have_text("1")
    await expect(page.locator('[data-count="result_changed"]')).to_have_text("1")
    await expect(page.locator('[data-count="newly_failing"]')).to_have_text("0")
    await tab.shot("replay")

    # Ship the change as v2, compare, then roll back to v1.
    await page.get_by_role("link", name="Editor and test").click()
    await type_script(tab, CHANGED_SCRIPT)
    await page.get_by_role("button", name="Save and activate").click()
    await expect(page.locator("#editor-status")).to_contain_text("Saved version 2 (now active)")
    await page.get_by_role("link", name="Versions").click()
    await expect(page.locator("table.versions tbody tr")).to_have_count(2)
    await page.get_by_role("button", name="Compare selected versions").click()
    await expect(page.locator("td.added")).to_contain_text('"dstPhone": "102"')
    await tab.shot("diff")
    await page.get_by_role("link", name="Versions").click()
    await tab.shot("versions")
    await page.get_by_role("button", name="Roll back to the previous version").click()
    await expect(page.locator(".notice")).to_contain_text("rolled-back")
    active_row = page.locator("tr.active-row")
    await expect(active_row.locator("th")).to_contain_text("v1")
    modules = (await api.ok("GET", "/api/v1/modules"))["modules"]
    assert modules[0]["active_version"]["number"] == 1
    assert tab.errors == []
