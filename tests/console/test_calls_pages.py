"""The calls list a page at a time: a tenant's calls beyond the newest page are reachable
(they were not: the page showed the newest 200 and said nothing of the rest), as builder and as
operator, and the pages hold what the API lists."""

from __future__ import annotations

import re

import pytest

from runtime import runner
from runtime.console import operator_views
from runtime.store.models import to_iso, utc_now
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import answer, seed_setup, start

OLDER = re.compile(r'<a href="\?([^"]*)">Older calls</a>')
NEWER = re.compile(r'<a href="\?([^"]*)">Newer calls</a>')


def client(n: int) -> str:
    return f"+7916555{n:04d}"


def clients_on(html: str) -> list[str]:
    """The client of each row of the table, top to bottom."""
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [found.group(0) for row in rows if (found := re.search(r"\+7916555\d{4}", row))]


@pytest.mark.parametrize("who", ["builder", "operator"])
async def test_older_calls_are_a_link_away(console: tuple[Service, str], browser: Browser,
                                           monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    monkeypatch.setattr(operator_views, "CALLS_PAGE", 3)
    service, _ = console
    seed = await seed_setup(service)
    for n in range(7):
        await seed.hook_ok(start(f"c-{n}", src=client(n)))
    listed = (await seed.api.ok("GET", "/api/v1/calls?limit=100"))["calls"]
    newest_first = [call["client_phone"] for call in listed]
    assert len(newest_first) == 7
    await browser.sign_in(seed.api.secret if who == "builder" else seed.user_token)

    seen: list[str] = []
    html = await browser.page("/console/calls")
    assert not NEWER.search(html)
    while True:
        on_page = clients_on(html)
        assert 0 < len(on_page) <= 3
        seen += on_page
        older = OLDER.search(html)
        if older is None:
            break
        html = await browser.page("/console/calls?" + older.group(1).replace("&amp;", "&"))
        assert NEWER.search(html)
    assert seen == newest_first

    # A filter is kept from page to page.
    html = await browser.page("/console/calls?state=ringing")
    older = OLDER.search(html)
    assert older and "state=ringing" in older.group(1)


async def test_calls_of_one_millisecond_are_in_the_stores_order_for_an_operator_too(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls created in the same millisecond (two webhooks at once, which a fast machine makes
    of a test's calls too) are listed newest first as the store lists them (created_at, then
    id). An operator's list merges the calls they answered with those at their numbers and
    those they were notified of, and ties kept the order of the list each was found in: the
    operator's page showed them in another order than the builder's, and a page boundary
    between them could show one twice and the other never."""
    service, _ = console
    seed = await seed_setup(service)
    moment = utc_now()
    monkeypatch.setattr(runner, "utc_now", lambda: moment)  # every call of this same moment
    await seed.hook_ok(start("c-0", src=client(0)))
    await seed.hook_ok(answer("c-0", src=client(0)))  # answered by this operator
    await seed.hook_ok(start("c-1", src=client(1)))  # still ringing at their number
    listed = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert {call["created_at"] for call in listed} == {to_iso(moment)}
    newest_first = [call["client_phone"] for call in listed]
    assert newest_first == [client(1), client(0)]
    for who in (seed.api.secret, seed.user_token):
        await browser.sign_in(who or "")
        assert clients_on(await browser.page("/console/calls")) == newest_first


@pytest.mark.parametrize("who", ["builder", "operator"])
async def test_a_clients_calls_are_found_by_their_number_in_any_spelling(
        console: tuple[Service, str], browser: Browser, monkeypatch: pytest.MonkeyPatch,
        who: str) -> None:
    monkeypatch.setattr(operator_views, "CALLS_PAGE", 2)
    service, _ = console
    seed = await seed_setup(service)
    for n in range(6):  # client 1's calls are every other one
        await seed.hook_ok(start(f"c-{n}", src=client(1 if n % 2 else n)))
    await browser.sign_in(seed.api.secret if who == "builder" else seed.user_token)

    html = await browser.page("/console/calls?number=8+(916)+555-00-01")
    assert 'id="f-number"' in html and 'value="8 (916) 555-00-01"' in html
    assert clients_on(html) == [client(1), client(1)]
    older = OLDER.search(html)
    assert older and "number=8" in older.group(1)  # kept from page to page
    html = await browser.page("/console/calls?" + older.group(1).replace("&amp;", "&"))
    assert clients_on(html) == [client(1)]
    html = await browser.page("/console/calls?number=%2B79165559999")
    assert clients_on(html) == [] and "No calls match these filters." in html


@pytest.mark.parametrize("who", ["builder", "operator"])
async def test_a_call_from_before_its_clients_contact_names_that_contact(
        console: tuple[Service, str], browser: Browser, who: str) -> None:
    # The call names no contact (there was none when it rang); its live card finds the one
    # made since by the number, and the calls list showed the bare number.
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start("c-1", src=client(1)))
    olga = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Olga Later", "phones": [client(1)]}, status=201)
    await browser.sign_in(seed.api.secret if who == "builder" else seed.user_token)
    html = await browser.page("/console/calls")
    assert f'<a href="/console/contacts/{olga["id"]}"><bdi>Olga Later</bdi></a>' in html
    assert (await browser.get(f"/console/contacts/{olga['id']}")).status == 200
