"""A refused form's answer is its whole page again, opened at the top: the problems of a
section far below it (the module page's settings, a contact's edit form) were out of sight,
and the builder saw a page that looked as if nothing had happened. They are brought into view
and take the keyboard's focus (a screen reader reads them), with what was typed kept."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


async def test_a_refused_form_shows_its_problems(tab: Tab, console: tuple[Service, str]
                                                 ) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": ["+79161234567"]}, status=201)
    await tab.sign_in(seed.api.secret or "")
    page = tab.page
    await page.set_viewport_size({"width": 1000, "height": 700})

    await tab.goto(f"/console/modules/{module}")
    await page.get_by_label("Name of a new setting").fill("timeout")
    await page.get_by_label("Type of the new setting").select_option("number")
    await page.get_by_label("Value of the new setting").fill("ten")
    await page.get_by_role("button", name="Save settings").click()
    problem = page.locator("#settings").get_by_role("alert")
    await expect(problem).to_contain_text("'ten' is not a number")
    await expect(problem).to_be_in_viewport()
    await expect(problem).to_be_focused()
    await expect(page.get_by_label("Value of timeout")).to_have_value("ten")

    await tab.goto(f"/console/contacts/{contact['id']}")
    await page.get_by_text("Edit, merge or delete this contact").click()
    await page.get_by_label("Phone numbers, one per line").fill("not a number")
    await page.locator("#c-name").fill("Ivan Petrov")
    await page.get_by_role("button", name="Save", exact=True).click()
    problem = page.locator("#edit-error")
    await expect(problem).to_contain_text("is not a phone number")
    await expect(problem).to_be_in_viewport()
    await expect(problem).to_be_focused()
    await expect(page.locator("#c-name")).to_have_value("Ivan Petrov")
    assert tab.errors == []
