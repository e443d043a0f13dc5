"""The module page's htmx buttons (Load members, Test connection) when the answer is not the
usual one: the session ended (the page goes to the sign-in form, and back), or the module is
gone (the box says so). They did nothing at all on an error, and put a whole sign-in page,
header and menu, inside the box when the session had ended."""

from __future__ import annotations

import asyncio

from playwright.async_api import Route, expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


async def test_an_ended_session_goes_to_sign_in_and_back(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    module_page = f"/console/modules/{seed.module['id']}"
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(module_page)
    await page.get_by_role("button", name="Test connection").click()
    await expect(page.locator("#test-result")).to_contain_text("Connection works")

    await page.context.clear_cookies()  # the session ended (expired, signed out elsewhere)
    await page.get_by_role("button", name="Test connection").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.startswith(tab.base + "/console/sign-in?next=")
    await expect(page.locator("header.top")).to_have_count(1)
    await page.get_by_label("API key or user token").fill(seed.api.secret or "")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Module seed-json")).to_be_visible()
    assert page.url == tab.base + module_page
    tab.errors[:] = [e for e in tab.errors if "status of 401" not in e]
    assert tab.errors == []


async def test_an_error_is_said_in_the_buttons_box(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}")
    await seed.api.ok("DELETE", f"/api/v1/modules/{seed.module['id']}", status=204)

    await page.get_by_role("button", name="Load members").click()
    box = page.locator("#members-result")
    await expect(box.get_by_role("alert")).to_have_text("module not found")
    await expect(box.locator("header, h1")).to_have_count(0)  # a few words, not a page
    await page.get_by_role("button", name="Test connection").click()
    await expect(page.locator("#test-result").get_by_role("alert")).to_have_text(
        "module not found")
    tab.errors[:] = [e for e in tab.errors if "status of 404" not in e]
    assert tab.errors == []


async def test_a_slow_run_says_it_is_running_and_runs_once(
        tab: Tab, console: tuple[Service, str]) -> None:
    """On a slow network the box showed the last answer ("Connection works.") until the new
    one came, as if the key just changed worked; and each click ran the script again."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}")
    box = page.locator("#test-result")
    button = page.get_by_role("button", name="Test connection")
    await button.click()
    await expect(box).to_contain_text("Connection works")

    gate = asyncio.Event()
    runs: list[str] = []

    async def slow(route: Route) -> None:
        runs.append(route.request.url)
        await gate.wait()
        await route.continue_()

    await page.route("**/test-connection", slow)
    await button.click()
    await expect(box).to_have_text(
        "Testing the connection: the script's VoipTestConnection is running…")
    await button.dblclick()  # impatient
    gate.set()
    await expect(box).to_contain_text("Connection works")
    await page.wait_for_timeout(500)  # a second run, had one been sent, would be answered now
    assert len(runs) == 1
    await expect(box).to_contain_text("Connection works")
    assert tab.errors == []


async def test_a_run_the_network_lost_says_so(
        tab: Tab, console: tuple[Service, str]) -> None:
    """The connection dropped under a button's request (no answer at all): its box said the
    script "is running…" for ever. It says the service could not be reached, and the button
    works again once the network is back."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.api.secret or "")
    await tab.goto(f"/console/modules/{seed.module['id']}")
    await page.route("**/test-connection", lambda route: route.abort("internetdisconnected"))
    await page.route("**/load-members", lambda route: route.abort("connectionreset"))
    box = page.locator("#test-result")
    await page.get_by_role("button", name="Test connection").click()
    await expect(box.get_by_role("alert")).to_contain_text(
        "Test connection did not run: the service could not be reached")
    members = page.locator("#members-result")
    await page.get_by_role("button", name="Load members").click()
    await expect(members.get_by_role("alert")).to_contain_text(
        "Load members did not run: the service could not be reached")
    await expect(page.locator("#members-status")).to_contain_text("did not run")

    await page.unroute("**/test-connection")
    await page.get_by_role("button", name="Test connection").click()
    await expect(box).to_contain_text("Connection works")
    # (htmx logs each request that got no answer as an error: those two, and nothing else.)
    tab.errors[:] = [e for e in tab.errors if e not in {"htmx:afterRequest", "htmx:sendError"}
                     and "ERR_INTERNET_DISCONNECTED" not in e and "ERR_CONNECTION_RESET" not in e]
    assert tab.errors == []
