"""Right-to-left text and direction overrides in tenant text stay inside their own words: a
contact's or a user's name cannot reorder the phone number or the extension written after it
on the same line. A name holding U+202E (RIGHT-TO-LEFT OVERRIDE) showed the client's number
+79160000002 beside it as "20000006197+" on the live card and in the calls list, and an Arabic
user name turned "(101)" after it into ")101(" or put it before the name."""

from __future__ import annotations

from itertools import pairwise

from playwright.async_api import Page, expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import answer, seed_setup, start

OVERRIDE = "Ivan \u202e"  # a name ending in a right-to-left override, never closed
ARABIC = "أحمد"
NUMBER = "+79160000002"

# Where each character of `text` is drawn, left to right on the screen, for the first text node
# under `selector` that holds it; null when none does.
DRAWN_AT = """([selector, text]) => {
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.data.indexOf(text);
      if (at < 0) continue;
      return [...text].map((_, i) => {
        const range = document.createRange();
        range.setStart(node, at + i);
        range.setEnd(node, at + i + 1);
        return range.getBoundingClientRect().left;
      });
    }
  }
  return null;
}"""


async def reads_in_order(page: Page, selector: str, text: str) -> bool:
    """`text` is drawn under `selector` with its characters left to right, as written."""
    lefts = await page.evaluate(DRAWN_AT, [selector, text])
    assert lefts is not None, f"{text!r} is not under {selector}"
    return all(a < b for a, b in pairwise(lefts))


async def test_names_do_not_reorder_the_numbers_beside_them(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    # The operator of extension 101 is named in Arabic (user names refuse formatting characters).
    user = await seed.api.ok("POST", "/api/v1/users", {"name": ARABIC}, status=201)
    token = await seed.api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": user["id"]}})
    await seed.api.ok("POST", "/api/v1/contacts", {"name": OVERRIDE, "phones": [NUMBER]},
                      status=201)
    await seed.hook_ok(start("b-1", src=NUMBER))
    await seed.hook_ok(answer("b-1", src=NUMBER))

    await tab.sign_in(token["token"])
    card = page.locator("#active-calls li.call-card")
    await expect(card.locator('[data-field="answered-by"]')).to_contain_text("(101)")
    wrong = [where for where, selector, text in (
        ("live card: the contact's number", '[data-field="contact"] .muted', NUMBER),
        ("live card: answered by", '[data-field="answered-by"]', "(101)"),
    ) if not await reads_in_order(page, selector, text)]

    await tab.goto("/console/calls")
    wrong += [where for where, selector, text in (
        ("calls list: the client's number", "table.calls-table td .muted", NUMBER),
        ("calls list: answered by", "table.calls-table .answered-by", "(101)"),
    ) if not await reads_in_order(page, selector, text)]
    assert wrong == []
    assert tab.errors == []
