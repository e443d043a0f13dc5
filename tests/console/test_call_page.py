"""A call opened on its own page from the calls list: its client and contact, who answered,
the recording, and its history (each event the provider sent, and what it did). An operator
opens the calls they may see only; another's call answers 404, as an unknown one."""

from __future__ import annotations

import re
from html import unescape

from tests.console.conftest import Browser
from tests.console.test_pages import builder
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, answer, end, record, start


async def test_a_call_opened_from_the_calls_list(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    seed = await builder(console, browser)
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Ivan Petrov", "phones": [CLIENT]},
                      status=201)
    for payload in (start(), answer(), end(), record(), start("c-2", src="+79035550000",
                                                                     dst="102")):
        await seed.hook_ok(payload)
    calls = {c["provider_call_id"]: c for c in
             (await seed.api.ok("GET", "/api/v1/calls"))["calls"]}
    call_id = calls["c-1"]["id"]

    listing = await browser.page("/console/calls")
    assert f'href="/console/calls/{call_id}"' in listing  # the list links to it
    page = unescape(await browser.page(f"/console/calls/{call_id}"))
    assert "Incoming call: <bdi>Ivan Petrov</bdi>" in page
    assert re.search(r"<dt>Answered by</dt><dd><bdi>operator</bdi> \(101\)</dd>", page)
    assert f'src="/console/calls/{call_id}/recording"' in page
    history = re.findall(r"<td>([\w ]+) <code class=\"muted\">(\w+)</code></td>", page)
    assert history == [("Rang", "notify_start"), ("Answered", "notify_answer"),
                       ("Ended", "notify_end"), ("Call record", "call_record")]
    assert "Outcome</dt><dd>Answered" in page

    # The operator: their own call, and not the one at an extension of nobody of theirs.
    operator = Browser(browser.session, browser.base)
    browser.session.cookie_jar.clear()
    await operator.sign_in(seed.user_token)
    mine = unescape(await operator.page(f"/console/calls/{call_id}"))
    assert "Ivan Petrov" in mine and "<h2 id=\"h-history\">History</h2>" in mine
    await operator.page(f"/console/calls/{calls['c-2']['id']}", status=404)
    await operator.page("/console/calls/call_nope", status=404)
