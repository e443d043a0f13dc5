"""The console's one "type the name to confirm" step (runtime/console/deletion.py), for each
kind it guards: users, modules and contacts. Each kind's own consequences are in
test_admin_pages.py and test_contact_editing.py; here, that the step behaves alike for all."""

from __future__ import annotations

from html import unescape

import pytest

from runtime.store.models import NewModule
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT


@pytest.mark.parametrize("kind", ["user", "module", "contact"])
async def test_deleting_asks_for_the_name_and_a_mistyped_one_deletes_nothing(
        console: tuple[Service, str], browser: Browser, kind: str) -> None:
    seed = await signed_in_builder(console, browser)
    if kind == "user":
        item, name = seed.user, seed.user["name"]
    elif kind == "module":
        item, name = seed.module, seed.module["name"]
    else:
        item = await seed.api.ok("POST", "/api/v1/contacts",
                                 {"name": "Olga", "phones": [CLIENT]}, status=201)
        name = "Olga"
    api_path = f"/api/v1/{kind}s/{item['id']}"
    path = f"/console/{kind}s/{item['id']}/delete"

    page = unescape(await browser.page(path))
    assert f"Delete {kind} {name}?" in page and "This cannot be undone" in page
    assert f'action="{path}"' in page and f'href="/console/{kind}s/{item["id"]}"' in page
    for typed in ("", name.upper(), name[:-1], f"{name}!"):
        refused = await browser.post_form(path, {"confirm_name": typed})
        text = unescape(await refused.text())
        assert refused.status == 422, typed
        assert f"Type the {kind}'s name exactly as shown to delete" in text
        assert 'aria-invalid="true"' in text and "This cannot be undone" in text
        await seed.api.ok("GET", api_path)  # still there
    forged = await browser.post_form(path, {"confirm_name": name}, csrf=False)
    assert forged.status == 403
    await seed.api.ok("GET", api_path)

    done = await browser.post_form(path, {"confirm_name": f"  {name} "})
    assert done.status in (200, 303)
    await seed.api.ok("GET", api_path, status=404)


@pytest.mark.parametrize("kind", ["module", "contact"])
async def test_a_name_with_a_line_break_can_be_typed_as_the_page_shows_it(
        console: tuple[Service, str], browser: Browser, kind: str) -> None:
    """A contact's name may hold a line break, a tab or a zero-width space, and so may a
    module's made before names refused control characters (it keeps its name until
    renamed); the page shows it on one line, and a text field cannot hold a line break. What
    the person reads is what they can type, and that confirms; another name still does not."""
    seed = await signed_in_builder(console, browser)
    name = "Front\ndesk\t\u200bPBX Jose\u0301"  # decomposed é, as some systems write it
    if kind == "module":
        # As an install from before has it: the API refuses such a name now.
        store = console[0].client.app[STORE]
        module = await store.create_module(seed.tenant_id, NewModule(name=name, region="RU"))
        item = await seed.api.ok("GET", f"/api/v1/modules/{module.id}")
    else:
        item = await seed.api.ok("POST", "/api/v1/contacts",
                                 {"name": name, "phones": [CLIENT]}, status=201)
    assert item["name"] == name
    path = f"/console/{kind}s/{item['id']}/delete"
    await browser.page(path)
    refused = await browser.post_form(path, {"confirm_name": "Front desk PBX"})
    assert refused.status == 422
    deleted = await browser.post_form(path, {"confirm_name": "Front desk PBX José"})
    # A module's deletion redirects to the list; a contact's answers a page saying so.
    assert deleted.status == (303 if kind == "module" else 200), (await deleted.text())[:300]
    await seed.api.ok("GET", f"/api/v1/{kind}s/{item['id']}", status=404)
