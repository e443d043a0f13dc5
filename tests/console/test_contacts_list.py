"""The contacts page (/console/contacts) over HTTP, as a browser without scripts uses it: every
contact a page at a time, found by a part of the name in any case or of a number in any
spelling; an operator's list holds the contacts of their calls only. The contact page's merge
form finds the other contact by the same search (a menu of the newest 500 left the older ones
out). The calls page's "Call" menus read the bindings of its calls' modules only."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from runtime.store.models import ModuleBinding
from runtime.store.reads import QueryReads
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.console.test_pages import builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, start


def listed(html: str) -> list[str]:
    """The contacts' names in the page's table, in order."""
    table = html.split('<table class="contacts-table">', 1)[1].split("</table>", 1)[0] \
        if '<table class="contacts-table">' in html else ""
    return [unescape(name) for name in re.findall(
        r'<a href="/console/contacts/[^"]+"><bdi>(.*?)</bdi></a>', table)]


def link(html: str, text: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">{re.escape(text)}</a>', html)
    return unescape(found.group(1)) if found else None


async def some_clients(seed: Any, count: int) -> None:
    await seed.api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": f"Client {n:03d}", "phones": [f"+7903{n:07d}"]} for n in range(count)]},
        status=201)


async def test_a_tenant_admin_pages_through_and_searches_the_contacts(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    ivan = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Иван Петров", "phones": ["+7 916 123-45-67"]},
                             status=201)
    await some_clients(seed, 120)

    home = await browser.page("/console/")
    assert '<a href="/console/contacts">Contacts</a>' in home  # in the menu of every page
    first = await browser.page("/console/contacts")
    assert '<a href="/console/contacts" aria-current="page">Contacts</a>' in first
    assert listed(first) == [f"Client {n:03d}" for n in range(119, 69, -1)]  # newest first
    assert "Contacts 1 to 50." in first and link(first, "Previous contacts") is None
    second = await browser.page(link(first, "Next contacts") or "/console/contacts")
    assert listed(second)[0] == "Client 069" and "Contacts 51 to 100." in second
    last = await browser.page(link(second, "Next contacts") or "/console/contacts")
    assert listed(last) == [f"Client {n:03d}" for n in range(19, -1, -1)] + ["Иван Петров"]
    assert link(last, "Next contacts") is None and link(last, "Previous contacts")
    assert f'href="/console/contacts/{ivan["id"]}"' in last

    # By a part of the name in any case, or by the number in any spelling or a part of it.
    for words in ("иВАН", "петров", "8 (916) 123-45-67", "916 123", "8 916 12", "+79161234567"):
        found = await browser.page("/console/contacts?" + f"q={words}".replace(" ", "+")
                                   .replace("+7916", "%2B7916"))
        assert listed(found) == ["Иван Петров"], words
    assert listed(await browser.page("/console/contacts?q=0000117")) == ["Client 117"]
    # The search stays in the pages' links.
    clients = await browser.page("/console/contacts?q=client")
    assert len(listed(clients)) == 50
    next_clients = link(clients, "Next contacts")
    assert next_clients is not None and "q=client" in next_clients
    assert len(listed(await browser.page(next_clients))) == 50
    nobody = unescape(await browser.page("/console/contacts?q=%3Cb%3EOlga%25"))
    assert listed(nobody) == []
    assert "No contact has “<b>Olga%” in its name or numbers." in nobody
    assert "<b>Olga" not in await browser.page("/console/contacts?q=%3Cb%3EOlga")  # escaped


async def test_a_tenant_admin_adds_a_contact_from_the_list(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    await browser.page("/console/contacts")
    added = await browser.post_form("/console/contacts/new", {"name": "Olga",
                                                              "phone": "8 916 123-45-67"})
    assert added.status == 303
    assert "Contact created." in await browser.page(added.headers["Location"])
    [olga] = (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]

    # Refused: the list again, the reason beside the form, what was typed kept in it.
    taken = await browser.post_form("/console/contacts/new", {"name": "Olga again",
                                                              "phone": "+7 916 123 45 67"})
    assert taken.status == 409
    html = unescape(await taken.text())
    assert "'Olga' already has the number +79161234567" in html
    assert f'<a href="/console/contacts/{olga["id"]}">Open that contact</a>' in html
    assert 'value="Olga again"' in html and 'value="+7 916 123 45 67"' in html
    assert listed(html) == ["Olga"]
    # The list's links lead to the list from there too (not to /console/contacts/new?...).
    assert 'action="/console/contacts"' in html
    bad = await browser.post_form("/console/contacts/new", {"name": "Petr", "phone": "12"})
    assert bad.status == 422
    html = unescape(await bad.text())
    assert 'role="alert"' in html and "phone" in html and 'value="Petr"' in html
    forged = await browser.post_form("/console/contacts/new",
                                     {"name": "X", "phone": "+74951234567"}, csrf=False)
    assert forged.status == 403
    assert [c["name"] for c in (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]] == [
        "Olga"]


async def test_an_operator_lists_the_contacts_of_their_calls_only(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    mine = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    await seed.api.ok("POST", "/api/v1/contacts",
                      {"name": "Anna's client", "phones": ["+74951234567"]}, status=201)
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Nobody", "phones": ["+74990000000"]},
                      status=201)
    await seed.hook_ok(start("c-1"))  # at 101, the operator's
    await seed.hook_ok(start("c-2", "+74951234567", "102"))  # at 102, bound to nobody
    assert len(listed(await browser.page("/console/contacts"))) == 3  # the tenant admin's

    await browser.sign_in(seed.user_token)
    page = await browser.page("/console/contacts")
    assert '<a href="/console/contacts" aria-current="page">Contacts</a>' in page
    assert listed(page) == ["Olga"]
    assert f'href="/console/contacts/{mine["id"]}"' in page
    assert listed(await browser.page("/console/contacts?q=olg")) == ["Olga"]
    assert listed(await browser.page("/console/contacts?q=916+123")) == ["Olga"]
    assert listed(await browser.page("/console/contacts?q=client")) == []
    assert listed(await browser.page("/console/contacts?q=4951234567")) == []
    assert "Add a contact" not in page
    # Its number changed since the call: no longer the operator's to open, nor listed (the
    # list's link answered 404).
    await seed.api.ok("PATCH", f"/api/v1/contacts/{mine['id']}", {"phones": ["+74997776655"]})
    assert (await browser.get(f"/console/contacts/{mine['id']}")).status == 404
    assert listed(await browser.page("/console/contacts")) == []


async def test_the_merge_search_finds_a_contact_older_than_any_menu(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga Ivanova",
                                                          "phones": [CLIENT]}, status=201)
    await some_clients(seed, 600)
    newest = (await seed.api.ok("GET", "/api/v1/contacts?limit=1"))["contacts"][0]
    path = f"/console/contacts/{newest['id']}"
    page = await browser.page(path)
    assert 'id="c-merge-q"' in page and "Client 598" not in page  # no menu of 600

    for words in ("ivanova", "916 12"):
        found = await browser.page(f"{path}?merge_q={words.replace(' ', '+')}")
        assert f'name="other" value="{olga["id"]}"' in found, words
        assert "<details class=\"card contact-tools\" open>" in found
    itself = unescape(await browser.page(f"{path}?merge_q=Client+599"))
    assert "No other contact has “Client 599” in its name or numbers." in itself
    many = unescape(await browser.page(f"{path}?merge_q=client"))
    assert many.count('name="other"') == 20 and "type more of the name or number" in many
    assert f'value="{newest["id"]}"' not in many  # not itself

    merged = await browser.post_form(path + "/merge", {"other": olga["id"]})
    assert merged.status == 303
    await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}", status=404)
    contact = await seed.api.ok("GET", f"/api/v1/contacts/{newest['id']}")
    assert CLIENT in [p["normalized"] for p in contact["phones"]]


async def test_the_calls_page_reads_the_bindings_of_its_calls_modules_only(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await builder(console, browser)
    module = seed.module["id"]
    other = await seed.api.ok("POST", "/api/v1/modules", {"name": "another", "region": "RU"},
                              status=201)
    users = [await seed.api.ok("POST", "/api/v1/users", {"name": f"user {i}"}, status=201)
             for i in range(30)]
    await seed.api.ok("PATCH", f"/api/v1/modules/{other['id']}/bindings",
                      {"bindings": {str(200 + i): u["id"] for i, u in enumerate(users)}})
    await seed.hook_ok(start("c-1"))  # a call of the seed module only

    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    read_bindings: list[ModuleBinding] = []
    original = store._read

    async def recorded(query: Any, *args: Any) -> Any:
        answer = await original(query, *args)
        if isinstance(answer, list):
            read_bindings.extend(b for b in answer if isinstance(b, ModuleBinding))
        return answer

    with monkeypatch.context() as patch:
        patch.setattr(store, "_read", recorded)
        html = await browser.page("/console/calls")
    # The call's menu: the seed module's operator, as before.
    assert f'name="line" value="{module}/{seed.user["id"]}"' in html
    assert f'{other["id"]}/' not in html
    # Not one binding of the other module read (all 30 were, on every load).
    assert read_bindings and {b.module_id for b in read_bindings} == {module}
