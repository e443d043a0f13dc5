"""Very long tenant text without a space (a module name, a description, a contact's or a user's
name, a script's error message) wraps inside the window: no page grows wider than it (a long
description made the modules list 27,000 pixels wide, a user's name the users list and the
operator's live page several windows wide); nor at a phone's width (the module page's settings
and bindings tables, and the usage page's bars, made those pages wider than the phone)."""

from __future__ import annotations

from playwright.async_api import Page

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, end, seed_setup, start

WIDE = """(width) => [...document.querySelectorAll("main *")]
    .filter((node) => node.getBoundingClientRect().right > width + 1)
    .slice(0, 3).map((node) => `${node.tagName}.${node.className}`)"""


async def too_wide(page: Page, base: str, paths: list[str], width: int) -> list[str]:
    await page.set_viewport_size({"width": width, "height": 900})
    found = []
    for path in paths:
        await page.goto(base + path)
        if await page.evaluate("document.documentElement.scrollWidth") > width:
            found.append(f"{path} at {width}px: {await page.evaluate(WIDE, width)}")
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

    await tab.sign_in(seed.api.secret or "")
    module = f"/console/modules/{module_id}"
    builder = ["/console/modules", module, f"{module}/editor", f"{module}/executions",
               f"/console/executions/{execution['id']}", f"{module}/delete", "/console/users",
               f"/console/users/{user['id']}", f"/console/users/{user['id']}/delete",
               "/console/calls", f"/console/contacts/{contact['id']}",
               f"/console/contacts/{contact['id']}/delete"]
    wide = await too_wide(page, tab.base, [*builder, "/console/usage"], 1400)
    wide += await too_wide(page, tab.base, [*builder, "/console/usage"], 390)

    await page.context.clear_cookies()
    await tab.sign_in(seed.user_token)
    operator = ["/console/live", f"/console/contacts/{contact['id']}"]
    wide += await too_wide(page, tab.base, operator, 1400)
    wide += await too_wide(page, tab.base, operator, 390)  # the live page works on a phone
    assert wide == []
    assert tab.errors == []
