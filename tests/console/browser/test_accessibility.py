"""axe-core (the offline bundle axe-playwright-python ships) on every console page: no serious
or critical violations. A screenshot of each page is kept under test-artifacts/console/."""

from __future__ import annotations

import re
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import answer, end, record, seed_setup, start

BLOCKING = {"serious", "critical"}


async def audit(tab: Tab, path: str, name: str) -> list[str]:
    await tab.goto(path)
    await tab.page.wait_for_load_state("networkidle")
    await tab.shot(f"axe-{name}")
    results = await Axe().run(tab.page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [f"{name}: {v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                        for n in v["nodes"][:3])
            for v in violations if v.get("impact") in BLOCKING]


async def test_builder_pages(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await seed.api.ok("POST", f"/api/v1/modules/{module}/versions",
                      {"source": "def VoipParseWebhookRequest(request):\n    return {}\n"},
                      status=201)
    await seed.hook_ok(start())
    executions = await seed.api.ok("GET", f"/api/v1/executions?module_id={module}")
    versions = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"]
    problems: list[str] = []
    problems += await audit(tab, "/console/sign-in", "sign-in")
    await tab.sign_in(seed.api.secret or "")
    problems += await audit(tab, "/console/modules", "modules")
    problems += await audit(tab, f"/console/modules/{module}", "module")
    await tab.page.get_by_role("button", name="Load members").click()
    await expect(tab.page.locator("#members-result table")).to_be_visible()
    await tab.page.get_by_role("button", name="Test connection").click()
    await expect(tab.page.locator("#test-result")).to_contain_text("Connection works")
    results = await Axe().run(tab.page)
    problems += [f"module+members: {v['id']}" for v in results.response["violations"]
                 if v.get("impact") in BLOCKING]
    await tab.shot("module-members")
    problems += await audit(tab, f"/console/modules/{module}/editor", "editor")
    # Tab indents in the editor: a screen reader is told the way out (Esc, then Tab) with the
    # editor itself (the hint was only a line of text below it), and the way out works.
    editor = tab.page.locator(".cm-content")
    await expect(editor).to_have_accessible_description(re.compile("Esc then Tab"))
    await editor.click()
    await tab.page.keyboard.press("Escape")
    await tab.page.keyboard.press("Tab")
    assert not await editor.evaluate("(node) => node.contains(document.activeElement)")
    await tab.page.get_by_role("button", name="Run dry run").click()
    await expect(tab.page.locator("#run-result [data-outcome]")).to_be_visible()
    results = await Axe().run(tab.page)
    problems += [f"editor+result: {v['id']}" for v in results.response["violations"]
                 if v.get("impact") in BLOCKING]
    problems += await audit(tab, f"/console/modules/{module}/versions", "versions")
    problems += await audit(
        tab, f"/console/modules/{module}/diff?a={versions[1]['id']}&b={versions[0]['id']}",
        "diff")
    problems += await audit(tab, f"/console/modules/{module}/executions", "executions")
    problems += await audit(tab, f"/console/executions/{executions['executions'][0]['id']}",
                            "execution")
    await tab.goto(f"/console/modules/{module}/executions")
    await tab.page.get_by_label("Select all shown webhook executions").check()
    await tab.page.get_by_label("Against").select_option(versions[0]["id"])
    await tab.page.get_by_role("button", name="Replay selected").click()
    results = await Axe().run(tab.page)
    problems += [f"replay: {v['id']}" for v in results.response["violations"]
                 if v.get("impact") in BLOCKING]
    problems += await audit(tab, "/console/calls", "calls-builder")
    print("\n".join(problems))
    assert problems == []
    assert tab.errors == []


async def test_operator_pages(tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan Petrov", "phones": ["+79161234567"]}, status=201)
    for payload in (start(), answer(), end(), record(), start("c-2", src="+79165550000")):
        await seed.hook_ok(payload)
    await tab.sign_in(seed.user_token)
    problems: list[str] = []
    problems += await audit(tab, "/console/live", "live")
    problems += await audit(tab, "/console/calls", "calls")
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    answered = next(c for c in calls if c["provider_call_id"] == "c-1")
    problems += await audit(tab, f"/console/calls/{answered['id']}", "call")
    problems += await audit(tab, f"/console/contacts/{contact['id']}", "contact-page")
    problems += await audit(tab, "/console/contacts", "contacts-operator")
    problems += await audit(tab, "/console/contacts?q=nobody", "contacts-none")
    print("\n".join(problems))
    assert problems == []


async def test_admin_pages(tab: Tab, console: tuple[Service, str]) -> None:
    """The users list with its pages, a user, the builder's contact page with its tools open,
    the sign-in page for a form that was not sent, and a form given back what was typed."""
    from runtime.typedefs import STORE

    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    for n in range(201):
        await store.create_user(seed.tenant_id, f"Пользователь {n:03}")
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ольга", "phones": ["+79161234567"]}, status=201)
    await seed.api.ok("POST", "/api/v1/contacts",
                      {"name": "Olga home", "phones": ["+74951234567"]}, status=201)
    problems: list[str] = []
    problems += await audit(tab, "/console/sign-in?unsent=1&next=%2Fconsole%2Fusers",
                            "sign-in-unsent")
    await tab.sign_in(seed.api.secret or "")
    problems += await audit(tab, "/console/users", "users")
    problems += await audit(tab, "/console/users?offset=200", "users-page-2")
    problems += await audit(tab, f"/console/users/{seed.user['id']}", "user")
    await tab.goto(f"/console/contacts/{contact['id']}")
    await tab.page.get_by_text("Edit, merge or delete this contact").click()
    results = await Axe().run(tab.page)
    problems += [f"contact-tools: {v['id']}" for v in results.response["violations"]
                 if v.get("impact") in BLOCKING]
    # A form sent after the session ended, given back after signing in again.
    await tab.page.get_by_label("Name", exact=True).fill("Ольга Петровна")
    await tab.page.context.clear_cookies()
    await tab.page.get_by_role("button", name="Save").click()
    await tab.page.get_by_label("API key or user token").fill(seed.api.secret or "")
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page.locator(".kept-form")).to_be_visible()
    results = await Axe().run(tab.page)
    problems += [f"kept-form: {v['id']}" for v in results.response["violations"]
                 if v.get("impact") in BLOCKING]
    await tab.shot("axe-kept-form")
    print("\n".join(problems))
    assert problems == []
    assert tab.errors == []


async def test_refused_forms(tab: Tab, console: tuple[Service, str]) -> None:
    """A refused form's problems: an alert holding a list a screen reader reads as a list (the
    list itself was the alert, and a role on a <ul> takes its list away: its items were items
    of nothing, a serious violation on every form the console refuses)."""
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await tab.sign_in(seed.api.secret or "")
    page = tab.page
    problems: list[str] = []

    async def refused(name: str, section: str) -> None:
        alert = page.locator(section).get_by_role("alert")
        await expect(alert.get_by_role("listitem").first).to_be_visible()
        results = await Axe().run(page)
        problems.extend(f"{name}: {v['id']}" for v in results.response["violations"]
                        if v.get("impact") in BLOCKING)

    await tab.goto(f"/console/modules/{module}")
    await page.get_by_label("Name of a new setting").fill("timeout")
    await page.get_by_label("Type of the new setting").select_option("number")
    await page.get_by_label("Value of the new setting").fill("abc")
    await page.get_by_role("button", name="Save settings").click()
    await refused("settings", "#settings")
    # What was typed stays, beside the problem.
    await expect(page.get_by_label("Value of timeout")).to_have_value("abc")

    await tab.goto(f"/console/modules/{module}")
    await page.get_by_label("Default phone region (ISO 3166 code)").fill("ZZ")
    await page.locator("#general").get_by_role("button", name="Save").click()
    await refused("general", "#general")

    await tab.goto("/console/users")
    await page.get_by_label("Name", exact=True).fill("operator")  # the seed's user's name
    await page.get_by_role("button", name="Create user").click()
    await refused("users", "main")
    await expect(page.get_by_label("Name", exact=True)).to_have_value("operator")

    await tab.goto(f"/console/users/{seed.user['id']}")
    await page.get_by_role("textbox", name="Extension").fill("   ")  # only spaces: no extension
    await page.get_by_role("button", name="Bind").click()
    await refused("user-bind", "#extensions")
    print("\n".join(problems))
    assert problems == []
