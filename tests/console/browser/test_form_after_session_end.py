"""A form sent after the session ended (signed out in another tab, expired, the key revoked)
reached nothing: the sign-in page said nothing was saved and, after signing in, the form's
page came back drawn afresh, without what was typed. Now the typed values are back in the
form, which says so and sends nothing by itself; a form whose page changed meanwhile lists
them instead of filling fields that may mean something else now."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.console.browser.conftest import Tab
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SeedSetup, seed_setup, start

NAME = "Ольга Петрова-Водкина «дача»"
PHONES = f"{CLIENT}\n8 (495) 123-45-67"


async def sign_out_elsewhere(tab: Tab) -> None:
    other = await tab.page.context.new_page()
    await other.goto(tab.base + "/console/calls")
    await other.get_by_role("button", name="Sign out").click()
    await expect(other.get_by_role("button", name="Sign in")).to_be_visible()
    await other.close()


async def sign_in_again(page: Page, credential: str) -> None:
    await expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    await expect(page.locator("main")).to_contain_text("What you typed there is kept")
    # A mistyped credential first: the way back stays (it was lost with the refused sign-in,
    # which then went to the home page).
    await page.get_by_label("API key or user token").fill("vk_mistyped")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not a valid API key")
    await expect(page.locator("main")).to_contain_text("What you typed there is kept")
    await page.get_by_label("API key or user token").fill(credential)
    await page.get_by_role("button", name="Sign in").click()


async def editing_a_contact(tab: Tab, service: Service) -> tuple[SeedSetup, dict[str, Any], str]:
    """A builder signed in with the contact Olga's edit form open: (the tenant, Olga, the
    builder's key)."""
    seed = await seed_setup(service)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    key = seed.api.secret or ""
    await tab.sign_in(key)
    await tab.goto(f"/console/contacts/{olga['id']}")
    await tab.page.get_by_text("Edit, merge or delete this contact").click()
    return seed, olga, key


async def test_a_contact_form_sent_after_the_session_ended_keeps_what_was_typed(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    page = tab.page
    seed, olga, key = await editing_a_contact(tab, service)
    await page.get_by_label("Name", exact=True).fill(NAME)
    await page.get_by_label("Phone numbers, one per line").fill(PHONES)

    await sign_out_elsewhere(tab)
    await page.get_by_role("button", name="Save").click()
    await sign_in_again(page, key)

    await expect(page.get_by_role("heading", name="Contact: Olga")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text(
        "What you typed before signing in again is back in this form")
    await expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    await expect(page.get_by_label("Phone numbers, one per line")).to_have_value(PHONES)
    assert (await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}"))["name"] == "Olga"

    await page.get_by_role("button", name="Save").click()  # sent again: saved this time
    await expect(page.get_by_text("Contact saved.")).to_be_visible()
    assert (await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}"))["name"] == NAME
    await page.reload()  # nothing kept any more
    await expect(page.locator(".kept-form")).to_have_count(0)
    # (The mistyped credential's answer, a 401, is the only one Chromium logs.)
    assert [e for e in tab.errors if "status of 401" not in e] == []


async def test_a_form_whose_page_changed_lists_what_was_typed(
        tab: Tab, console: tuple[Service, str]) -> None:
    """The settings table's rows are numbered (s0-, s1-, with each row's original name
    hidden): a setting removed meanwhile shifts them, and putting the values back by name
    would set one setting's value into another. The values are listed instead."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    key = seed.api.secret or ""
    module = seed.module["id"]
    await tab.sign_in(key)
    await tab.goto(f"/console/modules/{module}")
    value = page.locator('input[name="s1-value"]')
    await value.fill("https://records.example.com/новый")

    await seed.api.ok("PATCH", f"/api/v1/modules/{module}",
                      {"settings": {"members": "101:A", "apiKey": "k"}})
    await sign_out_elsewhere(tab)
    await page.get_by_role("button", name="Save settings").click()
    await sign_in_again(page, key)

    kept = page.locator(".kept-form")
    await expect(kept).to_contain_text("This form changed since you sent it")
    await expect(kept).to_contain_text("https://records.example.com/новый")
    assert "новый" not in await page.locator('input[name="s1-value"]').input_value()
    # (The mistyped credential's answer, a 401, is the only one Chromium logs.)
    assert [e for e in tab.errors if "status of 401" not in e] == []


async def test_of_two_forms_to_one_address_the_one_sent_gets_its_values_back(
        tab: Tab, console: tuple[Service, str]) -> None:
    """The module page's bindings table and its unbound extensions both post to .../bindings:
    what was chosen in the second is put back into the second."""
    service, _ = console
    page = tab.page
    seed = await seed_setup(service)
    key = seed.api.secret or ""
    module = seed.module["id"]
    await seed.api.ok("PATCH", f"/api/v1/modules/{module}/bindings",
                      {"bindings": {"101": seed.user["id"]}})
    await seed.hook_ok(start("u-1", dst="105"))
    await tab.sign_in(key)
    await tab.goto(f"/console/modules/{module}")
    await page.get_by_label("User to bind to 105").select_option(seed.user["id"])

    await sign_out_elsewhere(tab)
    await page.get_by_role("button", name="Bind selected").click()
    await sign_in_again(page, key)

    await expect(page.get_by_label("User to bind to 105")).to_have_value(seed.user["id"])
    await expect(page.locator(".kept-form")).to_contain_text("back in this form")
    await page.get_by_role("button", name="Bind selected").click()
    await expect(page.get_by_text("Saved (bindings)")).to_be_visible()
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{module}/bindings")
    assert {b["member_id"] for b in bindings["bindings"]} == {"101", "105"}
    assert [e for e in tab.errors if "status of 401" not in e] == []


async def test_a_form_refused_once_then_sent_after_the_session_ended(
        tab: Tab, console: tuple[Service, str]) -> None:
    """A refused form comes back as the answer to its POST (the address bar shows .../edit).
    Sent again from there after the session ended, the sign-in went back to that address,
    which is a form's, not a page: "Method Not Allowed", and what was typed gone. It goes back
    to the contact's page, with the values in its form."""
    service, _ = console
    page = tab.page
    _, olga, key = await editing_a_contact(tab, service)
    await page.get_by_label("Phone numbers, one per line").fill("not a number")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#edit-error")).to_contain_text("is not a phone number")
    assert page.url.endswith("/edit")
    await page.get_by_label("Name", exact=True).fill(NAME)
    await page.get_by_label("Phone numbers, one per line").fill(PHONES)

    await sign_out_elsewhere(tab)
    await page.get_by_role("button", name="Save").click()
    await sign_in_again(page, key)

    await expect(page.get_by_role("heading", name="Contact: Olga")).to_be_visible()
    assert page.url == tab.base + f"/console/contacts/{olga['id']}"
    await expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    await expect(page.get_by_label("Phone numbers, one per line")).to_have_value(PHONES)
    tab.errors[:] = [e for e in tab.errors if "status of 422" not in e]
    assert [e for e in tab.errors if "status of 401" not in e] == []
