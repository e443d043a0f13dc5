"""A call's history is read a page at a time, in the API and on the console's call page.

Every webhook of a call adds an event to its history, so a caller repeating one event at the
webhook rate gives a call hundreds of thousands: answered whole, 100,000 of them were 46 MB of
JSON that held the event loop every tenant shares for 3 s as it was encoded."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html import unescape

from runtime import ids
from runtime.store.base import Tx
from runtime.store.models import EventEffect
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.console.test_pages import builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, answer, start

REPEATS = 1200  # a flooded call: a start, this many repeats of it, then its answer
TOTAL = REPEATS + 2


async def _flooded_call(seed: SeedSetup) -> str:
    await seed.hook_ok(start())
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    store = seed.service.client.app[STORE]
    [first] = await store.list_call_events(seed.tenant_id, call["id"])

    async def unit(tx: Tx) -> None:  # the repeats as the webhook path writes them
        for n in range(REPEATS):
            await tx.insert_call_event(replace(
                first, id=ids.new_id(ids.CALL_EVENT), effect=EventEffect.REPEAT,
                received_at=first.received_at + timedelta(microseconds=n + 1)))
    await store.write(unit)
    await seed.hook_ok(answer())
    return str(call["id"])


async def test_the_api_answers_a_calls_history_a_page_at_a_time(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    call_id = await _flooded_call(seed)
    first = await seed.api.ok("GET", f"/api/v1/calls/{call_id}")
    assert len(first["events"]) == 500 and first["events_more"] is True
    assert first["events"][0]["effect"] == "applied"
    read = list(first["events"])
    while read and len(read) % 500 == 0:
        more = await seed.api.ok("GET", f"/api/v1/calls/{call_id}?events_offset={len(read)}")
        read += more["events"]
        if not more.get("events_more"):
            break
    # The last page keeps the shape a call's page always had: no `events_more` at all.
    assert "events_more" not in more
    assert len(read) == TOTAL and len({e["id"] for e in read}) == TOTAL
    assert [e["effect"] for e in read[-2:]] == ["repeat", "applied"]  # the answer is last
    assert read[-1]["kind"] == "notify_answer"
    few = await seed.api.ok("GET", f"/api/v1/calls/{call_id}?events_limit=2&events_offset=1")
    assert [e["id"] for e in few["events"]] == [e["id"] for e in read[1:3]]
    assert few["events_more"] is True
    bad = await seed.api.ok("GET", f"/api/v1/calls/{call_id}?events_limit=501", status=400)
    assert "events_limit" in bad["message"]


async def test_the_call_page_shows_a_page_of_its_history(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await builder(console, browser)
    call_id = await _flooded_call(seed)
    page = unescape(await browser.page(f"/console/calls/{call_id}"))
    rows = re.findall(r"<td>[\w ]+ <code class=\"muted\">(\w+)</code></td>", page)
    assert len(rows) == 500 and rows[0] == "notify_start"
    assert "Events 1 to 500 of this call's history." in page
    assert 'href="?events_offset=500">Later events' in page
    last = unescape(await browser.page(f"/console/calls/{call_id}?events_offset=1000"))
    rows = re.findall(r"<td>[\w ]+ <code class=\"muted\">(\w+)</code></td>", last)
    assert len(rows) == TOTAL - 1000 and rows[-1] == "notify_answer"
    assert 'href="?events_offset=500">Earlier events' in last and "Later events" not in last
