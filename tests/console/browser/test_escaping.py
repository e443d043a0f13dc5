"""Tenant- and provider-controlled strings carrying HTML and script are shown as text, and
nothing runs: a contact's name, a line the script printed, a script's error message."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.scripts import XSS, XSS_SCRIPT
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, seed_setup, start, upload

NOTHING_RAN = "typeof window.__pwned === 'undefined' && !document.querySelector('main img')"


async def shows_as_text(tab: Tab, text: str = XSS) -> None:
    await expect(tab.page.locator("main").get_by_text(text, exact=False).first).to_be_visible()
    assert await tab.page.evaluate(NOTHING_RAN)


async def test_markup_is_shown_as_text(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await upload(seed.api, seed.module["id"], XSS_SCRIPT)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": XSS, "phones": [CLIENT]}, status=201)
    failed = await seed.post_hook({"type": "boom"})
    assert failed.status == 500
    execution_id = (await failed.json())["execution_id"]

    # The operator's live page: the contact's name arrives over the WebSocket.
    await tab.sign_in(seed.user_token)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await seed.hook_ok(start("x-1"))
    card = page.locator("#active-calls li.call-card")
    await expect(card.get_by_role("link")).to_have_text(XSS)
    assert await page.evaluate(NOTHING_RAN)
    await page.goto(tab.base + f"/console/contacts/{contact['id']}")
    await shows_as_text(tab)
    await page.goto(tab.base + "/console/live")  # server-rendered this time
    await shows_as_text(tab)

    # The builder's pages: the log line and the error message.
    await page.context.clear_cookies()
    await tab.sign_in(seed.api.secret or "")
    await page.goto(tab.base + f"/console/executions/{execution_id}")
    await shows_as_text(tab, f"log line {XSS}")
    await shows_as_text(tab, f"bad input {XSS}")
    await tab.shot("escaping-execution")
    await page.goto(tab.base + f"/console/modules/{seed.module['id']}/executions")
    await shows_as_text(tab, f"bad input {XSS}")
    await page.goto(tab.base + "/console/calls")
    await shows_as_text(tab)

    # The editor's dry run renders the same strings from JSON.
    await page.goto(tab.base + f"/console/modules/{seed.module['id']}/editor")
    await page.get_by_label("Body", exact=True).fill(json.dumps({"type": "boom"}))
    await page.get_by_role("button", name="Run dry run").click()
    result = page.locator("#run-result")
    await expect(result.locator("[data-outcome]")).to_have_attribute("data-outcome", "error")
    await expect(result.locator("p.error")).to_contain_text(f"bad input {XSS}")
    await expect(result.locator("pre.logs")).to_contain_text(f"log line {XSS}")
    await expect(page.locator("#problems")).to_contain_text(XSS)
    assert await page.evaluate(NOTHING_RAN)
    assert tab.errors == []


async def test_pages_send_a_strict_policy(tab: Tab, console: tuple[Service, str]) -> None:
    """No inline script can run on a console page, even one that got into the markup."""
    service, _ = console
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    response: Any = await tab.goto(f"/console/modules/{seed.module['id']}/editor")
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    # Scripts and stylesheets by this response's nonce only: never 'self', since the same
    # address serves tenants' webhook replies (test_script_gadget.py).
    assert re.fullmatch(r"'nonce-[\w-]{20,}'", directives["script-src"])
    assert directives["style-src"] == directives["script-src"]
    assert "unsafe-inline" not in policy
    ran = await tab.page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__pwned = 1';
        document.body.append(s);
        return typeof window.__pwned !== 'undefined';
    }""")
    assert ran is False
