"""Completion in the script editor, in real Chromium: what a builder types, what is offered.

The offered names come from the server's definitions (runtime/console/completion.py); here the
popup is checked where a builder meets it: injected names with their docs, members after a dot
(the request, an enum, the reply builder's chain, a fetch response, storage), modules after
`import`/`from`, their members, a result type's keys, and the script's own names. The popup's
screenshot is kept in screenshots/editor-completion.png (CONSOLE_SCREENSHOTS=update).
"""

from __future__ import annotations

import re

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_accessibility import BLOCKING
from tests.console.browser.test_editor_versions import keep_screenshots
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup

SET_DOC = """(text) => {
    const view = window.consoleEditor;
    view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: text},
                   selection: {anchor: text.length}});
    view.focus();
}"""

POPUP = ".cm-tooltip-autocomplete"


async def offered(tab: Tab, before: str, typed: str, expected: str) -> list[str]:
    """Put `before` in the editor, type `typed` at its end as a person would, and read the
    popup's labels once it offers `expected` (a popup from the keystrokes before may still be
    up for a moment)."""
    await tab.page.evaluate(SET_DOC, before)
    await tab.page.keyboard.type(typed, delay=20)
    return await popup_labels(tab, expected)


async def explicit(tab: Tab, before: str, expected: str) -> list[str]:
    await tab.page.evaluate(SET_DOC, before)
    await tab.page.keyboard.press("Control+Space")
    return await popup_labels(tab, expected)


async def popup_labels(tab: Tab, expected: str) -> list[str]:
    popup = tab.page.locator(POPUP)
    await expect(popup.locator(".cm-completionLabel", has_text=re.compile(
        f"^{re.escape(expected)}$"))).to_have_count(1)
    labels: list[str] = await popup.locator(".cm-completionLabel").all_inner_texts()
    return labels


PARSE = "def VoipParseWebhookRequest(req):\n    "


async def test_completion_offers_the_contract(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await tab.report_csp_violations()
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    page = tab.page
    await expect(page.locator("#editor[data-ready='true']")).to_be_attached()

    # Injected names at the top level, with their signature and one-line doc.
    labels = await offered(tab, PARSE, "fet", "fetch")
    assert "fetch" in labels
    assert "FetchError" in labels
    fetch_row = page.locator(f"{POPUP} li", has_text="fetch(")
    await expect(fetch_row.first.locator(".cm-completionDetail")).to_contain_text("url: str")
    # The best match is selected first, and its doc shows beside the list.
    await expect(page.locator(f"{POPUP} li[aria-selected='true'] .cm-completionLabel")) \
        .to_have_text("fetch")
    await expect(page.locator(".cm-completionInfo")).to_contain_text("allowlisted host")
    await tab.shot("editor-completion")
    results = await Axe().run(page)
    assert [v["id"] for v in results.response["violations"] if v.get("impact") in BLOCKING] == []
    # Accepting inserts the name.
    await page.keyboard.press("Enter")
    text = await page.evaluate("window.consoleEditor.state.doc.toString()")
    assert text.endswith("    fetch")

    # The parse function's parameter is the request, whatever the script calls it.
    labels = await offered(tab, PARSE, "req.", "form")
    assert {"method", "headers", "body", "url", "query", "json", "form"} <= set(labels)
    assert "storage" not in labels

    # Enum members after the enum's name.
    labels = await offered(tab, PARSE + "e = ", "VoipWebhookEvent.", "NotifyStart")
    assert {"NotifyStart", "NotifyEnd", "NotifyOutStart"} <= set(labels)

    # The reply builder, chained.
    labels = await offered(tab, PARSE + "return HttpResponse().status(400)", ".", "content")
    assert set(labels) >= {"status", "content", "header"}

    # A local assigned from fetch() has the response's members; storage its own.
    labels = await offered(tab, PARSE + "r = fetch('https://x.example')\n    ", "r.", "ok")
    assert {"status", "ok", "json", "text"} <= set(labels)
    labels = await offered(tab, PARSE, "storage.", "delete")
    assert set(labels) == {"get", "set", "delete"}
    labels = await offered(tab, PARSE, "settings.", "items")
    assert set(labels) == {"copy", "get", "items", "keys", "values"}
    labels = await offered(tab, PARSE + "kind = req.body.", "st", "strip")
    assert "strip" in labels and "startswith" in labels

    # Modules: only the allowed ones after import, and a module's members after from/dot.
    labels = await explicit(tab, "import ", "json")
    assert "json" in labels and "urllib.parse" in labels
    assert "os" not in labels and "subprocess" not in labels
    labels = await offered(tab, "import json, ", "ur", "urllib.parse")
    assert labels == ["urllib", "urllib.parse"]  # not the half-typed name itself
    labels = await offered(tab, "from urllib.parse import ", "url", "urlencode")
    assert {"urlencode", "urlparse", "urlsplit"} <= set(labels)
    labels = await offered(tab, "import hashlib as h\n" + PARSE, "h.", "sha256")
    assert "sha256" in labels and "md5" in labels
    labels = await offered(tab, "from datetime import datetime\n" + PARSE, "datetime.", "strptime")
    assert "strptime" in labels

    # A result type's keys as keyword arguments.
    labels = await offered(tab, PARSE + "return VoipCallRecord(", "src", "srcPhone")
    assert "srcPhone" in labels and "srcPhoneExt" in labels

    # The script's own names still complete, and nothing is offered inside a string.
    labels = await offered(tab, "def helper_for_parsing():\n    pass\n" + PARSE, "helper_",
                           "helper_for_parsing")
    assert "helper_for_parsing" in labels
    await page.evaluate(SET_DOC, "def fet")
    await page.keyboard.type("c", delay=20)
    await page.wait_for_timeout(300)
    await expect(page.locator(POPUP)).to_have_count(0)  # a new name: nothing to complete
    await page.evaluate(SET_DOC, PARSE + "x = 'fet")
    await page.keyboard.type("c", delay=20)
    await page.wait_for_timeout(300)
    await expect(page.locator(POPUP)).to_have_count(0)
    assert tab.errors == []
    keep_screenshots(("editor-completion",))
