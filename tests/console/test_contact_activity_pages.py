"""A contact's activity pages like the calls list: a client with more calls than a page has
its older ones linked (the contact page showed the newest 100 entries and nothing said the rest
existed; the API pages them)."""

from __future__ import annotations

import re

from runtime.console.operator_views import ACTIVITY_PAGE
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, record, seed_setup


async def test_a_contacts_older_activity_is_linked(console: tuple[Service, str],
                                                   browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    for n in range(ACTIVITY_PAGE + 1):
        await seed.hook_ok(record(f"c-{n}", duration=60 + n))
    await browser.sign_in(seed.user_token)  # an operator: every call rang at their number

    newest = await browser.page(f"/console/contacts/{contact['id']}")
    assert newest.count('class="card activity-entry"') == ACTIVITY_PAGE
    assert "Newer calls" not in newest
    [older] = re.findall(r'<a href="(\?offset=\d+)">Older calls</a>', newest)
    assert older == f"?offset={ACTIVITY_PAGE}"

    oldest = await browser.page(f"/console/contacts/{contact['id']}{older}")
    assert oldest.count('class="card activity-entry"') == 1
    assert "call id <code>c-0</code>" in oldest  # the first call of all
    assert f"Older entries: {ACTIVITY_PAGE + 1} to {ACTIVITY_PAGE + 1}" in oldest
    assert '<a href="?offset=0">Newer calls</a>' in oldest and "Older calls" not in oldest

    beyond = await browser.page(f"/console/contacts/{contact['id']}?offset=5000")
    assert "No activity this far back." in beyond and "Newer calls" in beyond
