"""The contact page's edit, merge and delete forms over HTTP (no browser), and the console's
"create contact" refusing a number that has one, with a link to it. In a browser:
tests/console/browser/test_contact_editing.py."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.console.conftest import Browser
from tests.console.test_pages import builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, end, record, start


async def test_builder_edits_a_contact(console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    petr = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Petr", "phones": ["+79031112233"]}, status=201)
    page = await browser.page(f"/console/contacts/{olga['id']}")
    assert "Edit, merge or delete this contact" in page
    path = f"/console/contacts/{olga['id']}/edit"
    saved = await browser.post_form(path, {"name": "Olga K.", "region": "RU",
                                           "phones": f"{CLIENT}\r\n8 495 123-45-67\r\n"})
    assert saved.status == 303
    page = await browser.page(saved.headers["Location"])
    assert "Contact saved." in page and "Contact: Olga K." in page
    contact = await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}")
    assert [p["normalized"] for p in contact["phones"]] == ["+79161234567", "+74951234567"]

    taken = await browser.post_form(path, {"name": "X", "phones": "89031112233"})
    assert taken.status == 409
    html = unescape(await taken.text())
    assert "+79031112233 belongs to another contact" in html
    assert f'href="/console/contacts/{petr["id"]}"' in html
    bad = await browser.post_form(path, {"name": "X", "phones": "hello"})
    assert bad.status == 422 and "is not a phone number" in unescape(await bad.text())
    nameless = await browser.post_form(path, {"name": " ", "phones": CLIENT})
    assert nameless.status == 422
    forged = await browser.post_form(path, {"name": "X", "phones": CLIENT}, csrf=False)
    assert forged.status == 403
    assert await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}") == contact


async def test_builder_merges_and_deletes(console: tuple[Service, str],
                                          browser: Browser) -> None:
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    home = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Olga home", "phones": ["+74951234567"]}, status=201)
    for event in (start("c-1", "+74951234567"), end("c-1", src="+74951234567"),
                  record("c-1", src="+74951234567")):
        await seed.hook_ok(event)
    page = await browser.page(f"/console/contacts/{olga['id']}?merge_q=HOME")
    assert re.search(f'<input type="radio" id="c-other-1" name="other" value="{home["id"]}"'
                     r' required>\s*<label for="c-other-1">(.*?)</label>', page)
    assert "Olga home" in page and "(+74951234567)" in page
    assert "No activity yet." in page
    merged = await browser.post_form(f"/console/contacts/{olga['id']}/merge",
                                     {"other": home["id"]})
    assert merged.status == 303
    page = await browser.page(merged.headers["Location"])
    assert "Contacts merged" in page and "No activity yet." not in page
    assert "There is no other contact to merge." in page
    await seed.api.ok("GET", f"/api/v1/contacts/{home['id']}", status=404)
    again = await browser.post_form(f"/console/contacts/{olga['id']}/merge",
                                    {"other": home["id"]})
    assert again.status == 404

    confirm = unescape(await browser.page(f"/console/contacts/{olga['id']}/delete"))
    assert "Delete contact Olga?" in confirm
    assert "its calls (1) and their activity stay in the call list" in confirm
    mistyped = await browser.post_form(f"/console/contacts/{olga['id']}/delete",
                                       {"confirm_name": "olga"})
    assert mistyped.status == 422 and "exactly as shown" in await mistyped.text()
    await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}")  # still there
    deleted = await browser.post_form(f"/console/contacts/{olga['id']}/delete",
                                      {"confirm_name": "Olga"})
    assert deleted.status == 200
    gone = await deleted.text()
    assert "Contact deleted" in gone
    assert '<a href="/console/contacts">Contacts</a>' in gone  # back to the list of them
    await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}", status=404)
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert call["contact_id"] is None
    assert (await browser.get(f"/console/contacts/{olga['id']}")).status == 404


async def test_operators_cannot_edit_and_get_a_link_to_the_existing_contact(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await builder(console, browser)  # seeds the tenant; the operator signs in below
    await seed.hook_ok(start("c-1"))  # rings this operator: the contact is theirs to see
    existing = await seed.api.ok("POST", "/api/v1/contacts",
                                 {"name": "Olga", "phones": [CLIENT]}, status=201)
    await browser.sign_in(seed.user_token)
    page = await browser.page(f"/console/contacts/{existing['id']}")
    assert "Edit, merge or delete" not in page
    for path, form in (("edit", {"name": "X", "phones": CLIENT}), ("merge", {"other": "x"}),
                       ("delete", {"confirm_name": "Olga"})):
        response = await browser.post_form(f"/console/contacts/{existing['id']}/{path}", form)
        assert response.status == 403, path
    assert (await browser.get(f"/console/contacts/{existing['id']}/delete")).status == 403
    refused = await browser.post_form("/console/contacts", {"name": "Again", "phone": CLIENT})
    assert refused.status == 409
    html = unescape(await refused.text())
    assert "already has the number +79161234567" in html
    assert f'<a href="/console/contacts/{existing["id"]}">Open the existing contact</a>' in html
    assert len((await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]) == 1
    assert service is not None


async def test_another_tenants_contacts_are_not_found(console: tuple[Service, str],
                                                      browser: Browser) -> None:
    service, _ = console
    seed = await builder(console, browser)
    mine = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Mine", "phones": [CLIENT]},
                             status=201)
    _, other_api = await service.new_tenant("globex")
    theirs = await other_api.ok("POST", "/api/v1/contacts",
                                {"name": "Theirs", "phones": [CLIENT]}, status=201)
    await browser.page(f"/console/contacts/{mine['id']}")  # the CSRF token of this session
    for path, form in (("edit", {"name": "X", "phones": "+79031112233"}),
                       ("merge", {"other": mine["id"]}), ("delete", {"confirm_name": "Theirs"})):
        response = await browser.post_form(f"/console/contacts/{theirs['id']}/{path}", form)
        assert response.status == 404, path
    assert (await browser.get(f"/console/contacts/{theirs['id']}/delete")).status == 404
    # Theirs merged into mine: as unknown, and nothing moves.
    response = await browser.post_form(f"/console/contacts/{mine['id']}/merge",
                                       {"other": theirs["id"]})
    assert response.status == 404
    assert await other_api.ok("GET", f"/api/v1/contacts/{theirs['id']}") == theirs
    assert await seed.api.ok("GET", f"/api/v1/contacts/{mine['id']}") == mine


EDIT_ERROR = re.compile(r'<p class="error" role="alert" id="edit-error">(.*?)</p>', re.S)


async def test_the_edit_form_refuses_what_the_api_refuses_with_the_same_words(
        console: tuple[Service, str], browser: Browser) -> None:
    """One rule for a contact's fields (runtime/operations/contacts.py): each edit the API's
    PATCH refuses, the console's form refuses with the same status and message."""
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"name": " ", "phones": [CLIENT]}, {"name": " ", "phones": CLIENT}),
        ({"name": "N" * 201, "phones": [CLIENT]}, {"name": "N" * 201, "phones": CLIENT}),
        ({"name": "X", "phones": [CLIENT, "hello"]},
         {"name": "X", "phones": f"{CLIENT}\nhello"}),
        ({"name": "X", "phones": ["9" * 65]}, {"name": "X", "phones": "9" * 65}),
        ({"name": "X", "phones": [CLIENT] * 21},
         {"name": "X", "phones": "\n".join([CLIENT] * 21)}),
        ({"name": "X", "phones": [CLIENT], "region": "XX"},
         {"name": "X", "phones": CLIENT, "region": "XX"}),
    ]
    for body, form in cases:
        api = await seed.api.ok("PATCH", f"/api/v1/contacts/{olga['id']}", body, status=422)
        shown = await browser.post_form(f"/console/contacts/{olga['id']}/edit", form)
        html = await shown.text()
        said = EDIT_ERROR.search(html)
        assert said is not None, html
        assert (shown.status, unescape(said.group(1)).strip()) == (422, api["message"]), form
    contact = await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}")
    assert contact["name"] == "Olga"


async def test_a_contact_past_the_merge_menu_is_merged_by_its_number(
        console: tuple[Service, str], browser: Browser) -> None:
    """The merge menu lists the newest 500 contacts; an older one (a tenant with thousands)
    could not be merged in the console. Its number, in any spelling, finds it."""
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    await seed.api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": f"Client {n}", "phones": [f"+7903{n:07d}"]} for n in range(500)]},
        status=201)
    newest = (await seed.api.ok("GET", "/api/v1/contacts?limit=1"))["contacts"][0]
    path = f"/console/contacts/{newest['id']}"
    page = await browser.page(path)
    assert olga["id"] not in page  # past the menu

    not_a_number = await browser.post_form(path + "/merge", {"other": "", "other_phone": "hi"})
    assert not_a_number.status == 422
    assert "is not a phone number" in unescape(await not_a_number.text())
    nobody = await browser.post_form(path + "/merge", {"other": "",
                                                       "other_phone": "+74990000000"})
    assert nobody.status == 404
    assert "No other contact has the number +74990000000" in unescape(await nobody.text())

    merged = await browser.post_form(path + "/merge",
                                     {"other": "", "other_phone": "8 (916) 123-45-67"})
    assert merged.status == 303, await merged.text()
    await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}", status=404)
    contact = await seed.api.ok("GET", f"/api/v1/contacts/{newest['id']}")
    assert CLIENT in [p["normalized"] for p in contact["phones"]]


async def test_an_edit_from_a_page_drawn_before_a_number_was_added_keeps_that_number(
        console: tuple[Service, str], browser: Browser) -> None:
    """The edit form's numbers replace the ones its page showed. A number the contact gained
    after the page was drawn (here by the API; a merge or a colleague alike) is in no line of
    it: renaming the contact from that page deleted the number without a word."""
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Olga", "phones": [CLIENT, "+74951234567"]}, status=201)
    page = await browser.page(f"/console/contacts/{olga['id']}")
    shown = re.search(r'name="shown_phones" value="([^"]*)"', page)
    textarea = re.search(r'<textarea id="c-phones"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea is not None
    form = {"name": "Olga Petrovna", "region": "RU", "phones": unescape(textarea.group(1))}
    if shown is not None:  # (the page as it is drawn: with the numbers it shows, or without)
        form["shown_phones"] = unescape(shown.group(1))

    # Meanwhile: a third number.
    await seed.api.ok("PATCH", f"/api/v1/contacts/{olga['id']}",
                      {"phones": [CLIENT, "+74951234567", "+79031112233"]})

    # From the page as drawn: renamed, and one of the numbers it showed removed.
    form["phones"] = CLIENT
    saved = await browser.post_form(f"/console/contacts/{olga['id']}/edit", form)
    assert saved.status == 303, unescape(await saved.text())[:2000]
    contact = await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}")
    assert contact["name"] == "Olga Petrovna"
    assert sorted(p["normalized"] for p in contact["phones"]) == [
        "+79031112233", "+79161234567"]  # the new one kept; the removed one gone
