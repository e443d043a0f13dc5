"""The new console pages attacked and used from the outside (a review of the tenant admin's
pages, the live page and the editor): what a reload, a forged or odd request, or hostile text
gets, and what users then see."""

from __future__ import annotations

import re
from html import unescape

import pytest
from aiohttp import ClientSession, CookieJar

from runtime.console import operator_views
from runtime.console.filters import duration
from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder, token_on
from tests.e2e.conftest import Service
from tests.e2e.helpers import end, seed_setup, start

NEWEST = re.compile(r'name="newest_token" value="([^"]*)"')


async def test_reloading_the_new_token_page_makes_no_second_token(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    path = f"/console/users/{anna['id']}"
    page = await browser.page(path)
    form = {"newest_token": unescape(NEWEST.search(page).group(1))}  # type: ignore[union-attr]

    made = await browser.post_form(path + "/tokens", form)
    assert made.status == 201
    secret = token_on(await made.text())

    # The browser's reload (or a second click) sends the very same form again.
    again = await browser.post_form(path + "/tokens", form)
    text = await again.text()
    assert again.status == 409
    assert "No token was made" in text and secret not in text
    assert again.headers["Cache-Control"] == "no-store"
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert len(tokens) == 1 and secret.startswith(tokens[0]["prefix"])

    # The page that says so offers the form again, and that one does make another token.
    fresh = {"newest_token": unescape(NEWEST.search(text).group(1))}  # type: ignore[union-attr]
    assert fresh["newest_token"] == tokens[0]["id"]
    second = await browser.post_form(path + "/tokens", fresh)
    assert second.status == 201 and token_on(await second.text()) != secret
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert len(tokens) == 2


async def test_a_busy_operators_live_page_shows_the_newest_calls(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The page reads a bounded number of the day's notifications: the newest ones, not the
    morning's (else a call ringing now is missing, and the socket replays the whole day)."""
    monkeypatch.setattr(operator_views, "NOTIFICATIONS_SCAN", 6)
    service, _ = console
    seed = await seed_setup(service)
    for n in range(5):  # ten notifications: more than the page reads
        await seed.hook_ok(start(f"old-{n}"))
        await seed.hook_ok(end(f"old-{n}", disposition="no_answer"))
    await seed.hook_ok(start("now"))
    calls = {c["provider_call_id"]: c["id"]
             for c in (await seed.api.ok("GET", "/api/v1/calls?limit=100"))["calls"]}
    listed = await service.client.get("/api/v1/notifications?limit=100",
                                      headers={"Authorization": f"Bearer {seed.user_token}"})
    newest = await listed.json()
    assert len(newest["notifications"]) == 11
    await browser.sign_in(seed.user_token)

    page = await browser.page("/console/live")
    assert f'id="call-{calls["now"]}"' in page  # ringing now: on the page
    assert f'id="call-{calls["old-0"]}"' not in page  # the oldest: beyond what is read
    # The socket resumes after the newest notification, not after the sixth of the day.
    last_id = re.search(r'data-last-id="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    assert last_id == newest["notifications"][-1]["id"]


def test_durations_read_as_people_say_them() -> None:
    # A live card's length is measured between two events, to the microsecond.
    assert duration(42.456789) == "42.5 s"
    assert duration(0.008) == "0 s"
    assert duration(30) == "30 s" and duration(12.5) == "12.5 s"
    assert duration(59.97) == "1 min 00 s" and duration(187) == "3 min 07 s"
    assert duration(float("nan")) == "" and duration(None) == ""


async def test_the_live_actions_refuse_what_is_not_the_operators(
        console: tuple[Service, str], browser: Browser) -> None:
    """A call of another tenant or of a colleague only: 404, as an unknown id, whatever the
    action; a tenant admin's session, a forged origin, a GET: refused; nothing is marked."""
    service, _ = console
    seed = await seed_setup(service)
    other = await seed_setup(service, name="other")
    await other.hook_ok(start("o-1"))
    await other.hook_ok(end("o-1", disposition="no_answer"))
    await seed.hook_ok(start("c-2", dst="102"))  # rings 102: bound to nobody
    await seed.hook_ok(end("c-2", dst="102", disposition="no_answer"))
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(end("c-1", disposition="no_answer"))
    theirs = (await other.api.ok("GET", "/api/v1/calls"))["calls"][0]["id"]
    mine = {c["provider_call_id"]: c["id"]
            for c in (await seed.api.ok("GET", "/api/v1/calls"))["calls"]}
    await browser.sign_in(seed.user_token)
    json_post = {"Accept": "application/json", "Origin": browser.base}

    for call in (theirs, mine["c-2"], "call_" + "x" * 3000, "%00"):
        assert (await browser.get(f"/console/live/cards/{call}")).status == 404, call
        for action in ("handled", "call-back"):
            response = await browser.post_form(f"/console/calls/{call}/{action}", {},
                                               headers=json_post)
            assert response.status == 404, (call, action)
            assert (await response.json())["error"] == "not_found"

    own = mine["c-1"]
    forged = await browser.post_form(f"/console/calls/{own}/handled", {},
                                     headers={**json_post, "Origin": "https://evil.test"})
    assert forged.status == 403
    assert (await browser.get(f"/console/calls/{own}/handled")).status == 405
    card = await browser.page(f"/console/live/cards/{own}")
    assert "needs-attention" in card and 'data-field="handled"' not in card

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        admin = Browser(session, browser.base)
        await admin.sign_in(seed.api.secret or "")
        for action in ("handled", "call-back"):
            response = await admin.post_form(f"/console/calls/{own}/{action}", {},
                                             headers={"Origin": admin.base})
            assert response.status == 403, action
            assert "needs a user token" in await response.text()
        assert (await admin.get(f"/console/live/cards/{own}")).status == 403
    assert 'data-field="handled"' not in await browser.page(f"/console/live/cards/{own}")
