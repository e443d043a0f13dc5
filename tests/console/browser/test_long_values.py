"""Very long tenant text without a space (a module name, a description, a contact's or a user's
name, a script's error message) wraps inside the window: no page grows wider than it (a long
description made the modules list 27,000 pixels wide, a user's name the users list and the
operator's live page several windows wide); nor at a phone's width (the module page's settings
and bindings tables, and the usage page's bars, made those pages wider than the phone; the
versions table's hidden labels, placed outside its scrolling box, the versions page). Nor
does it break the ordinary words around it: one long contact name squeezed every other column
of the calls table to a letter a line ("S/t/a/r/t/e/d"), and at a phone's width every table's
headers and dates read so with no long text at all; at a phone's width the module's tabs read
"Overvi/ew" and "Versio/ns"."""

from __future__ import annotations

from playwright.async_api import Page

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SEED_SCRIPT, end, seed_setup, start, upload

WIDE = """(width) => [...document.querySelectorAll("main *")]
    .filter((node) => node.getBoundingClientRect().right > width + 1)
    .slice(0, 3).map((node) => `${node.tagName}.${node.className}`)"""


# Ordinary words in table cells and the navigation's links (whole words of up to 16 letters
# between spaces, hyphens and slashes, where a line may break) drawn on more than one line:
# split inside the word.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll("main th, main td, nav a")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const words = /(?<![^\\s\\-\\/])[^\\s\\-\\/]{2,16}(?![^\\s\\-\\/])/g;
      for (const word of node.data.matchAll(words)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
        if (lines.size > 1) broken.push(word[0]);
      }
    }
  }
  return [...new Set(broken)].slice(0, 5);
}"""


async def too_wide(page: Page, base: str, paths: list[str], width: int) -> list[str]:
    """Pages wider than the window, or whose tables split ordinary words across lines."""
    await page.set_viewport_size({"width": width, "height": 900})
    found = []
    for path in paths:
        await page.goto(base + path)
        if await page.evaluate("document.documentElement.scrollWidth") > width:
            found.append(f"{path} at {width}px: {await page.evaluate(WIDE, width)}")
        if broken := await page.evaluate(BROKEN_WORDS):
            found.append(f"{path} at {width}px: words split across lines: {broken}")
    return found


async def test_long_words_wrap_inside_the_window(tab: Tab, console: tuple[Service, str]
                                                 ) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    module_id = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module_id}",
                      {"name": "Ж" * 100, "description": "D" * 2000})
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ю" * 200, "phones": [CLIENT]}, status=201)
    user = await seed.api.ok("POST", "/api/v1/users", {"name": "Я" * 200}, status=201)
    await seed.hook_ok(start("long-1"))
    await seed.hook_ok(end("long-1", disposition="no_answer"))
    await seed.post_hook({"type": "boom" + "x" * 3000})  # the seed script refuses it, saying so
    execution = (await seed.api.ok("GET", "/api/v1/executions?limit=1"))["executions"][0]
    await upload(seed.api, module_id, SEED_SCRIPT.replace("Seed module", "Seed module, v2"))
    versions = (await seed.api.ok("GET", f"/api/v1/modules/{module_id}/versions"))["versions"]

    await tab.sign_in(seed.api.secret or "")
    module = f"/console/modules/{module_id}"
    builder = ["/console/modules", module, f"{module}/editor", f"{module}/versions",
               f"{module}/diff?a={versions[1]['id']}&b={versions[0]['id']}",
               f"{module}/executions",
               f"/console/executions/{execution['id']}", f"{module}/delete", "/console/users",
               f"/console/users/{user['id']}", f"/console/users/{user['id']}/delete",
               "/console/calls", f"/console/contacts/{contact['id']}",
               f"/console/contacts/{contact['id']}/delete"]
    wide = await too_wide(page, tab.base, [*builder, "/console/usage"], 1400)
    wide += await too_wide(page, tab.base, [*builder, "/console/usage"], 390)
    # The smallest phones: the execution log's replay box (its menu of versions) scrolled
    # the page sideways.
    wide += await too_wide(page, tab.base, [f"{module}/executions", "/console/contacts"], 320)

    await page.context.clear_cookies()
    await tab.sign_in(seed.user_token)
    operator = ["/console/live", f"/console/contacts/{contact['id']}"]
    wide += await too_wide(page, tab.base, operator, 1400)
    wide += await too_wide(page, tab.base, operator, 390)  # the live page works on a phone
    assert wide == [], "\n".join(wide)
    assert tab.errors == []
