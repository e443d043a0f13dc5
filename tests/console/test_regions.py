"""A number typed the national way is read in the tenant's region (its modules'), as its people
write numbers: the console read every one as Russian, so in a German tenant "030 1234567" found
no call, no contact, and was no phone number to "Add a contact"."""

from __future__ import annotations

import re
from html import unescape

from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import start

BERLIN = "+49301234567"
AS_TYPED = "030 1234567"


async def test_numbers_typed_the_national_way_in_a_german_tenant(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}", {"region": "DE"})
    await seed.hook_ok(start("de-1", src=BERLIN))

    # The calls filter finds the client's call.
    calls = await browser.page(f"/console/calls?number={AS_TYPED.replace(' ', '+')}")
    assert BERLIN in calls and "No calls match" not in calls

    # "Add a contact" takes the number as written there.
    await browser.page("/console/contacts")
    added = await browser.post_form("/console/contacts/new", {"name": "Klaus", "phone": AS_TYPED})
    assert added.status == 303, unescape(await added.text())[:2000]
    contact_path = added.headers["Location"].split("?")[0]
    contacts = await seed.api.ok("GET", "/api/v1/contacts")
    [klaus] = [c for c in contacts["contacts"] if c["name"] == "Klaus"]
    assert [p["normalized"] for p in klaus["phones"]] == [BERLIN]

    # The search finds it by the number as written, and by its national digits.
    for query in (AS_TYPED, "0301234"):
        found = await browser.page(f"/console/contacts?q={query.replace(' ', '+')}")
        assert "Klaus" in found, query

    # Editing the contact reads its numbers in that region too, by default.
    page = await browser.page(contact_path)
    assert re.search(r'id="c-region" name="region" maxlength="2" value="DE"', page)
