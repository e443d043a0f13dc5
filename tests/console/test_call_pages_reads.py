"""The live page and the calls page read in a fixed number of queries however many calls they
show (they used to read each call, each card's contact, last calls and users one by one), and
show the same thing as before: each card on the live page is the card the page's script asks
for alone (/console/live/cards/<id>)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from runtime.store.reads import QueryReads
from runtime.typedefs import STORE
from tests.console.conftest import Browser, counting_reads
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SeedSetup, answer, end, seed_setup, start


def other_client(n: int) -> str:
    return f"+7916555{n:04d}"


async def some_calls(seed: SeedSetup, first: int, count: int) -> None:
    """`count` calls: ringing, answered and ended in turn, from CLIENT (a contact since before
    the calls) and from numbers of their own (every third one given a contact afterwards, which
    takes its call; the others have none). Four or more include a call of each kind."""
    for n in range(first, first + count):
        src = CLIENT if n % 2 == 0 else other_client(n)
        await seed.hook_ok(start(f"c-{n}", src=src))
        if n % 3 != 0:
            await seed.hook_ok(answer(f"c-{n}", src=src))
        if n % 3 == 2:
            await seed.hook_ok(end(f"c-{n}", src=src))
        if src != CLIENT and n % 3 == 1:
            await seed.api.ok("POST", "/api/v1/contacts",
                              {"name": f"Client {n}", "phones": [src]}, status=201)


async def read_counts(service: Service, browser: Browser, path: str,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[str, Counter[str]]:
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    with counting_reads(store, monkeypatch) as reads:
        html = await browser.page(path)
    return html, reads


def without_nonces(html: str) -> str:
    """The call forms' one-time nonces differ from one drawing to the next."""
    return re.sub(r'name="dial_nonce" value="[^"]*"', 'name="dial_nonce"', html)


def card_ids(html: str) -> list[str]:
    return re.findall(r'<li id="call-([^"]+)"', html)


async def test_the_live_page_reads_the_same_few_times_for_many_calls(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Ivan", "phones": [CLIENT]},
                      status=201)
    await some_calls(seed, 0, 4)
    await browser.sign_in(seed.user_token)
    few_html, few = await read_counts(service, browser, "/console/live", monkeypatch)
    await some_calls(seed, 4, 26)
    html, many = await read_counts(service, browser, "/console/live", monkeypatch)

    assert len(card_ids(few_html)) == 4 and len(card_ids(html)) == 30, html
    assert many == few, (few, many)  # not one more read for 27 more calls
    assert many["get_call"] == 0 and many["get_contact"] == 0 and many["get_user"] == 0, many
    assert many["list_calls"] == 0 and many["find_contacts_by_phone"] == 0, many

    # What the cards say: each is the card drawn alone, as before.
    for call_id in card_ids(html):
        alone = without_nonces(await browser.page(f"/console/live/cards/{call_id}"))
        assert alone.strip() in without_nonces(html), (call_id, alone)
    assert html.count('data-field="contact"') == 15 + 5, html  # Ivan's 15, and 5 found by number
    assert html.count("Create contact") == 10, html
    assert html.count("Last calls") == 15, html  # Ivan's; the others called once
    assert html.count("No earlier calls.") == 5, html
    # Every answered call names who answered.
    assert html.count("<bdi>operator</bdi> (101)") == 20, html


async def test_the_calls_page_reads_its_contacts_at_once(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Ivan", "phones": [CLIENT]},
                      status=201)
    await some_calls(seed, 0, 4)
    await browser.sign_in(seed.user_token)
    _, few = await read_counts(service, browser, "/console/calls", monkeypatch)
    await some_calls(seed, 4, 26)
    html, many = await read_counts(service, browser, "/console/calls", monkeypatch)

    assert many == few, (few, many)
    assert many["get_call"] == 0 and many["get_contact"] == 0, many
    # The contact each call was stored with is named beside it: Ivan's 15 calls.
    assert html.count("><bdi>Ivan</bdi></a>") == 15, html
    for n in range(1, 30, 2):
        assert other_client(n) in html
