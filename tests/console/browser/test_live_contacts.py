"""The live page while the tenant's contacts change elsewhere (a CRM sync through the API, the
tenant admin on the contact page): the caller's card shows the contact as it is now, without a
reload, and never offers "Create contact" for a number that has one."""

from __future__ import annotations

from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, end, seed_setup, start


async def test_a_contact_made_with_the_api_shows_on_the_card(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    await tab.sign_in(seed.user_token)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(end("c-1", disposition="no_answer"))
    card = page.locator("#ended-calls li.call-card")
    await expect(card.get_by_role("button", name="Create contact")).to_be_visible()

    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan Client", "phones": [CLIENT]}, status=201)
    await expect(card.get_by_role("heading")).to_contain_text("Ivan Client")
    await expect(card.get_by_role("button", name="Create contact")).to_have_count(0)

    await seed.api.ok("DELETE", f"/api/v1/contacts/{contact['id']}", status=204)
    await expect(card.get_by_role("heading")).to_contain_text(CLIENT)
    await expect(card.get_by_role("button", name="Create contact")).to_be_visible()
    assert tab.errors == []
