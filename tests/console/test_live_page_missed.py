"""The live page keeps a missed call until someone marks it handled, as it says ("Missed calls
are shown here in red until someone marks them handled"), however many calls ended after it:
it showed the last 20 ended calls only, so a load after 20 more calls had ended left out a
missed call nobody had handled."""

from __future__ import annotations

import re

from runtime.console.operator_views import ENDED_SHOWN
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import answer, end, seed_setup, start

MISSED_FROM = "+79165550001"


def ended_cards(html: str) -> str:
    return html.split('id="ended-calls"', 1)[1]


async def test_a_missed_call_stays_until_it_is_handled(console: tuple[Service, str],
                                                       browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start("missed", src=MISSED_FROM))
    await seed.hook_ok(end("missed", disposition="no_answer", src=MISSED_FROM))
    for n in range(ENDED_SHOWN):  # a busy hour: as many answered calls end after it
        await seed.hook_ok(start(f"c-{n}"))
        await seed.hook_ok(answer(f"c-{n}"))
        await seed.hook_ok(end(f"c-{n}"))
    await browser.sign_in(seed.user_token)

    ended = ended_cards(await browser.page("/console/live"))
    assert ended.count('class="call-card') == ENDED_SHOWN + 1
    missed = re.search(r'<li id="call-([^"]+)" class="call-card status-missed needs-attention"',
                       ended)
    assert missed, ended
    assert MISSED_FROM in ended and "Mark handled" in ended

    marked = await browser.post_form(f"/console/calls/{missed.group(1)}/handled", {})
    assert marked.status == 303, await marked.text()
    ended = ended_cards(await browser.page("/console/live"))
    assert ended.count('class="call-card') == ENDED_SHOWN  # handled: the last 20 as before
    assert MISSED_FROM not in ended
