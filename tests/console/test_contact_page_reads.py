"""The contact page reads its calls and who answered them in one read each, however many calls
its activity holds (it used to read each call, then each answering user, one by one)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runtime.store.reads import QueryReads
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, record, seed_setup

CALLS = 30


async def test_contact_page_reads_its_calls_at_once(console: tuple[Service, str],
                                                    browser: Browser,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    for n in range(CALLS):
        await seed.hook_ok(record(f"c-{n}", duration=60 + n))
    await browser.sign_in(seed.api.secret or "")

    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    reads: Counter[str] = Counter()
    original = store._read

    async def counted(query: Any, *args: Any) -> Any:
        reads[query.__name__] += 1
        return await original(query, *args)

    monkeypatch.setattr(store, "_read", counted)
    html = await browser.page(f"/console/contacts/{contact['id']}")

    # Every call is on the page, each saying who answered it.
    assert html.count("answered by <bdi>operator</bdi> (101)") == CALLS, html
    assert reads["get_call"] == 0, reads
    assert reads["get_calls"] == 1, reads
    # Who answered, in one read; the call menus' bound users, in one more (not the first
    # 500 users by name, whose names left the others' lines named by id).
    assert reads["get_user"] == 0 and reads["get_users"] <= 2, reads
    assert reads["list_users"] == 0, reads


async def test_an_operators_contact_page_decides_its_players_at_once(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The players shown are the calls the operator may play (runtime/call_access.py): those
    they answered, not those another operator answered at an extension no longer theirs;
    decided in one read of notifications and one of bindings, not two reads per call."""
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    mine = 12
    for n in range(mine):
        await seed.hook_ok(record(f"mine-{n}", duration=60 + n))
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "anna"}, status=201)
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": anna["id"]}})
    for n in range(8):  # answered by anna at 101, now hers
        await seed.hook_ok(record(f"hers-{n}", duration=60 + n))
    await browser.sign_in(seed.user_token)

    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    reads: Counter[str] = Counter()
    original = store._read

    async def counted(query: Any, *args: Any) -> Any:
        reads[query.__name__] += 1
        return await original(query, *args)

    monkeypatch.setattr(store, "_read", counted)
    html = await browser.page(f"/console/contacts/{contact['id']}")
    assert html.count("answered by <bdi>operator</bdi> (101)") == mine, html
    assert html.count("answered by <bdi>anna</bdi> (101)") == 8, html
    assert html.count("<audio") == mine, html
    assert reads["user_was_notified"] == 0, reads
    assert reads["notified_of"] <= 1, reads
    assert reads["get_call"] == 0 and reads["get_calls"] == 1, reads
