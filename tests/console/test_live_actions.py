"""The live page's server side, as a browser without scripts (and the page's script) uses it:
a call's card, "mark handled" (told to the colleagues the call rang for), "call back", no
second contact for a number, and the words the calls page uses for stored values."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar

from tests.console.conftest import Browser
from tests.console.test_admin_pages import dial_nonce_on
from tests.console.test_live_sessions import live_socket, next_notification
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SeedSetup, answer, end, seed_setup, start

JSON = {"Accept": "application/json"}


@pytest.fixture
async def colleague(console: tuple[Service, str]) -> AsyncIterator[Browser]:
    _, base = console
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        yield Browser(session, base)


async def with_anna(seed: SeedSetup) -> str:
    """A second operator bound to 102; their user token."""
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "anna"}, status=201)
    token = await seed.api.ok("POST", f"/api/v1/users/{anna['id']}/tokens", status=201)
    await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"102": anna["id"]}})
    return str(token["token"])


async def missed_at_both(seed: SeedSetup, call_id: str = "c-9") -> str:
    """A call that rings 101 and 102 and ends unanswered; its id."""
    await seed.hook_ok(start(call_id))
    await seed.hook_ok({"type": "internal", "callId": call_id, "srcPhone": CLIENT,
                        "dstPhone": "102"})
    await seed.hook_ok(end(call_id, disposition="no_answer"))
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    return str(next(c["id"] for c in calls if c["provider_call_id"] == call_id))


async def post_action(browser: Browser, path: str, *, json: bool = True,
                      csrf: bool = True, data: dict[str, str] | None = None) -> Any:
    return await browser.post_form(path, data or {}, csrf=csrf,
                                   headers={**(JSON if json else {}), "Origin": browser.base})


async def test_a_card_is_drawn_for_the_operators_own_calls_only(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await with_anna(seed)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(start("c-2", dst="102"))  # rings anna only
    calls = {c["provider_call_id"]: c["id"]
             for c in (await seed.api.ok("GET", "/api/v1/calls"))["calls"]}
    await browser.sign_in(seed.user_token)
    card = await browser.page(f"/console/live/cards/{calls['c-1']}")
    assert card.lstrip().startswith("<li") and 'data-status="ringing"' in card
    assert ">Ringing<" in card and ">Incoming<" in card and "Create contact" in card
    assert "<html" not in card
    assert (await browser.get(f"/console/live/cards/{calls['c-2']}")).status == 404
    assert (await browser.get("/console/live/cards/call_unknown")).status == 404


def facts_of(card: str) -> dict[str, str]:
    """A card's state badge and its data-field facts, as the operator reads them."""
    # (Tenant text in a line is isolated in <bdi>: the words read are those inside it too.)
    card = re.sub(r"</?bdi>", "", card)
    fields = re.findall(r'data-field="([a-z-]+)"[^>]*>([^<]*)<', card)
    return {name: unescape(value).strip() for name, value in fields if value.strip()}


async def test_a_call_transferred_to_an_operator_rings_on_their_card(
        console: tuple[Service, str], browser: Browser, colleague: Browser) -> None:
    """The answered call transferred to anna (contract §5) rings at her phone: her card says
    Ringing at her extension, from whom, until she answers (it said Talking at 101, answered by
    the colleague, and her page's title counted no ringing call). When she answers, the
    colleague's page is told to draw it again (it said they were talking until the end). A
    colleague who was only rung before the answer (a group) sees it Talking."""
    service, _ = console
    seed = await seed_setup(service)
    anna = await with_anna(seed)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(answer("c-1"))
    await seed.hook_ok({"type": "internal", "callId": "c-1", "srcPhone": CLIENT,
                        "dstPhone": "102"})  # the transfer
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    await colleague.sign_in(anna)
    await browser.sign_in(seed.user_token)
    card = f"/console/live/cards/{call['id']}"
    hers = await colleague.page(card)
    facts = facts_of(hers)
    assert (facts.get("state"), facts.get("extension"), facts.get("transferred-from")) == (
        "Ringing", "102", "operator (101)")
    assert "answered-by" not in facts
    assert 'data-status="ringing"' in hers  # the page's title counts it
    assert 'data-status="ringing"' in await colleague.page("/console/live")
    mine = facts_of(await browser.page(card))
    assert (mine["state"], mine["extension"], mine["answered-by"]) == (
        "Talking", "101", "operator (101)")

    async with live_socket(browser) as mine:
        await seed.hook_ok(answer("c-1", dst="102"))  # anna takes it: 101 is told to redraw
        assert await mine.receive_json(timeout=10) == {"type": "call_changed",
                                                       "call_id": call["id"]}
    for who in (colleague, browser):
        facts = facts_of(await who.page(card))
        assert (facts["state"], facts["extension"], facts["answered-by"]) == (
            "Talking", "102", "anna (102)")

    # Rung with the colleague before the answer (a group), not transferred: Talking.
    await seed.hook_ok(start("c-2"))
    await seed.hook_ok({"type": "internal", "callId": "c-2", "srcPhone": CLIENT,
                        "dstPhone": "102"})
    await seed.hook_ok(answer("c-2"))
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    second = next(c["id"] for c in calls if c["provider_call_id"] == "c-2")
    facts = facts_of(await colleague.page(f"/console/live/cards/{second}"))
    assert (facts["state"], facts["answered-by"]) == ("Talking", "operator (101)")


async def test_a_colleague_answering_redraws_the_call_on_the_pages_it_rang_on(
        console: tuple[Service, str], browser: Browser, colleague: Browser) -> None:
    """A call rings 101 and 102 (a group); 101 answers. The contract tells the answerer only,
    so anna's page kept the card Ringing (and its title "(1 ringing)") until the call ended:
    now her socket says the call changed and her page draws it again (Talking, answered by
    the colleague). A repeated answer changes nothing and says nothing."""
    service, _ = console
    seed = await seed_setup(service)
    anna = await with_anna(seed)
    await colleague.sign_in(anna)
    await browser.sign_in(seed.user_token)
    async with live_socket(colleague) as hers, live_socket(browser) as mine:
        await seed.hook_ok(start("c-1"))
        await seed.hook_ok({"type": "internal", "callId": "c-1", "srcPhone": CLIENT,
                            "dstPhone": "102"})
        assert (await next_notification(hers))["kind"] == "ringing"
        assert (await next_notification(mine))["kind"] == "ringing"
        await seed.hook_ok(answer("c-1"))
        changed = await hers.receive_json(timeout=10)
        [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
        assert changed == {"type": "call_changed", "call_id": call["id"]}
        assert (await mine.receive_json(timeout=10))["kind"] == "answered"  # theirs only
        facts = facts_of(await colleague.page(f"/console/live/cards/{call['id']}"))
        assert (facts["state"], facts["answered-by"]) == ("Talking", "operator (101)")

        await seed.hook_ok(answer("c-1"))  # a repeat: nothing to say
        await seed.hook_ok(end("c-1"))
        assert (await hers.receive_json(timeout=10))["kind"] == "ended"
        assert (await mine.receive_json(timeout=10))["kind"] == "ended"


async def test_marking_a_missed_call_handled_tells_the_colleagues_it_rang_for(
        console: tuple[Service, str], browser: Browser, colleague: Browser) -> None:
    service, base = console
    seed = await seed_setup(service)
    anna_token = await with_anna(seed)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(answer("c-1"))
    missed = await missed_at_both(seed)
    answered = next(c["id"] for c in (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
                    if c["provider_call_id"] == "c-1")
    await browser.sign_in(seed.user_token)
    await colleague.sign_in(anna_token)
    page = await browser.page("/console/live")
    assert page.count("Mark handled") == 1 and "needs-attention" in page

    refused = await post_action(browser, f"/console/calls/{answered}/handled")
    assert refused.status == 409 and (await refused.json())["error"] == "not_missed"
    no_csrf = await post_action(browser, f"/console/calls/{missed}/handled", csrf=False)
    assert no_csrf.status == 403

    async with colleague.session.ws_connect(base + "/console/live/socket",
                                            headers={"Origin": base}) as socket:
        assert (await socket.receive_json())["type"] == "hello"
        assert (await socket.receive_json())["type"] == "caught_up"
        marked = await post_action(browser, f"/console/calls/{missed}/handled")
        assert marked.status == 200, await marked.text()
        body = await marked.json()
        assert body["call_id"] == missed and body["user_id"] == seed.user["id"]
        told = await socket.receive_json(timeout=5)
        assert told == {"type": "call_handled", "call_id": missed,
                        "user_id": seed.user["id"], "handled_at": body["handled_at"]}
    # Marked again (a colleague at the same moment): the first mark stays.
    again = await post_action(colleague, f"/console/calls/{missed}/handled")
    assert (await again.json())["user_id"] == seed.user["id"]

    theirs = await colleague.page(f"/console/live/cards/{missed}")
    assert "by operator" in theirs and "Mark handled" not in theirs
    assert "needs-attention" not in theirs
    # Without the page's script the form answers with the live page again.
    plain = await post_action(browser, f"/console/calls/{missed}/handled", json=False)
    assert plain.status == 303 and plain.headers["Location"] == f"/console/live#call-{missed}"


async def test_call_back_runs_the_modules_generate_call_or_says_why_not(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)  # the seed module has no VoipGenerateCall
    missed = await missed_at_both(seed)
    await browser.sign_in(seed.user_token)
    live = await browser.page("/console/live")
    assert "Call back " + CLIENT in live
    nonce = {"dial_nonce": dial_nonce_on(live)}
    refused = await post_action(browser, f"/console/calls/{missed}/call-back", data=nonce)
    assert refused.status == 501
    assert (await refused.json())["error"] == "not_supported"
    page = await post_action(browser, f"/console/calls/{missed}/call-back", json=False,
                             data=nonce)
    assert page.status == 501 and "VoipGenerateCall" in await page.text()


async def test_a_hidden_caller_is_offered_no_call(console: tuple[Service, str],
                                                  browser: Browser) -> None:
    """A call from a hidden number ("anonymous", as providers send it) has no number to call:
    neither its live card nor the calls list offers "Call back" / "Call" (they offered to
    call "anonymous", which the module would have asked the provider to dial), and the form
    posted anyway is refused, saying why, without running the module."""
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start("a-1", src="anonymous"))
    await seed.hook_ok(end("a-1", src="anonymous", disposition="no_answer"))
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    await browser.sign_in(seed.user_token)
    live = await browser.page("/console/live")
    assert ">Missed<" in live and "anonymous" in live
    assert "Call back" not in live and "/call-back" not in live
    calls = await browser.page("/console/calls")
    assert "anonymous" in calls and "/console/calls/originate" not in calls
    before = (await seed.api.ok("GET", "/api/v1/executions"))["executions"]
    refused = await post_action(browser, f"/console/calls/{call['id']}/call-back")
    assert refused.status == 409
    body = await refused.json()
    assert body["error"] == "no_client" and "anonymous" in body["message"]
    assert (await seed.api.ok("GET", "/api/v1/executions"))["executions"] == before


async def test_no_second_contact_for_a_number(console: tuple[Service, str],
                                              browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start("c-1"))
    await seed.hook_ok(end("c-1", disposition="answered"))
    await browser.sign_in(seed.user_token)
    assert "Create contact" in await browser.page("/console/live")
    made = await browser.post_form("/console/contacts", {"name": "Ivan", "phone": CLIENT,
                                                         "region": "RU"})
    assert made.status == 303
    contact_id = made.headers["Location"].split("/")[-1].split("?")[0]
    page = await browser.page("/console/live")
    assert "Create contact" not in page and f"/console/contacts/{contact_id}" in page
    # A page opened before the contact existed still has the form: the second is refused.
    twice = await browser.post_form("/console/contacts", {"name": "Ivan again",
                                                          "phone": "8 916 123-45-67",
                                                          "region": "RU"})
    html = await twice.text()
    assert twice.status == 409, html
    assert f'href="/console/contacts/{contact_id}"' in html and "Ivan" in html
    contacts = (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert [c["name"] for c in contacts] == ["Ivan"]


async def test_the_calls_page_says_values_in_words(console: tuple[Service, str],
                                                   browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await missed_at_both(seed)
    await browser.sign_in(seed.user_token)
    html = await browser.page("/console/calls")
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert "no answer" in cells and "incoming" in cells
    assert "no_answer" not in cells and "in" not in cells
    assert '<option value="answered">talking</option>' in html


async def test_a_contact_made_for_a_caller_redraws_the_colleagues_cards(
        console: tuple[Service, str], browser: Browser, colleague: Browser) -> None:
    """A missed call rang 101 and 102; the operator makes a contact for the caller from their
    card. Anna's socket says the call changed, and her card, drawn again, shows the contact
    and no longer offers "Create contact" (it did until a reload, and her form then ended on
    an error page saying the contact exists)."""
    service, _ = console
    seed = await seed_setup(service)
    anna = await with_anna(seed)
    await colleague.sign_in(anna)
    await browser.sign_in(seed.user_token)
    async with live_socket(colleague) as hers:
        call_id = await missed_at_both(seed)
        for _ in range(2):
            assert (await next_notification(hers))["kind"] in {"ringing", "ended"}
        assert "Create contact" in await colleague.page(f"/console/live/cards/{call_id}")

        made = await browser.post_form("/console/contacts",
                                       {"name": "Ivan Client", "phone": CLIENT, "region": "RU"})
        assert made.status == 303, await made.text()
        assert await hers.receive_json(timeout=10) == {"type": "call_changed",
                                                       "call_id": call_id}
    card = await colleague.page(f"/console/live/cards/{call_id}")
    assert "Ivan Client" in card and "Create contact" not in card


async def test_every_change_of_a_callers_contact_redraws_the_card(
        console: tuple[Service, str], browser: Browser, colleague: Browser) -> None:
    """Not only a contact made from a card: one made with the API (a CRM sync), a new name or
    numbers, a merge and a deletion, with the API or on the contact page, tell the pages the
    caller's recent calls rang on to draw them again. Each was left on the card (the old name,
    a deleted contact's link, or "Create contact" for a number that had a contact, whose form
    then ended on an error page) until the call's next event or a reload."""
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    await colleague.sign_in(seed.api.secret or "")  # the tenant admin's contact page
    changed = {"type": "call_changed"}
    async with live_socket(browser) as mine:
        await seed.hook_ok(start("c-1"))
        await seed.hook_ok(end("c-1", disposition="no_answer"))
        for _ in range(2):
            assert (await next_notification(mine))["kind"] in {"ringing", "ended"}
        [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
        changed["call_id"] = call["id"]
        card = f"/console/live/cards/{call['id']}"
        assert "Create contact" in await browser.page(card)

        ivan = await seed.api.ok("POST", "/api/v1/contacts",
                                 {"name": "Ivan Client", "phones": [CLIENT]}, status=201)
        assert await mine.receive_json(timeout=10) == changed
        drawn = await browser.page(card)
        assert "Ivan Client" in drawn and "Create contact" not in drawn

        await seed.api.ok("PATCH", f"/api/v1/contacts/{ivan['id']}", {"name": "Ivan Petrov"})
        assert await mine.receive_json(timeout=10) == changed
        assert "Ivan Petrov" in await browser.page(card)

        other = await seed.api.ok("POST", "/api/v1/contacts",
                                  {"name": "Ivan at home", "phones": ["+74951234567"]},
                                  status=201)
        await seed.api.ok("POST", f"/api/v1/contacts/{other['id']}/merge",
                          {"contact_id": ivan["id"]})
        assert await mine.receive_json(timeout=10) == changed
        assert "Ivan at home" in await browser.page(card)

        await colleague.page(f"/console/contacts/{other['id']}")
        edited = await colleague.post_form(f"/console/contacts/{other['id']}/edit", {
            "name": "Ivan (office)", "phones": f"{CLIENT}\n+74951234567", "region": "RU"})
        assert edited.status == 303, await edited.text()
        assert await mine.receive_json(timeout=10) == changed
        assert "Ivan (office)" in await browser.page(card)

        await seed.api.ok("DELETE", f"/api/v1/contacts/{other['id']}", status=204)
        assert await mine.receive_json(timeout=10) == changed
        drawn = await browser.page(card)
        assert "Ivan" not in drawn and "Create contact" in drawn


async def test_a_bulk_contact_import_redraws_the_cards_of_its_numbers(
        console: tuple[Service, str], browser: Browser) -> None:
    """A CRM sync imports contacts in bulk (POST /api/v1/contacts/bulk), one of them for a
    caller whose missed call is on the operator's live page. The page is told the call changed
    and its card, drawn again, names the contact: the bulk import left "Create contact" on it
    (whose form then ended on an error page saying the contact exists) until a reload."""
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    async with live_socket(browser) as mine:
        await seed.hook_ok(start("c-1"))
        await seed.hook_ok(end("c-1", disposition="no_answer"))
        for _ in range(2):
            assert (await next_notification(mine))["kind"] in {"ringing", "ended"}
        [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
        card = f"/console/live/cards/{call['id']}"
        assert "Create contact" in await browser.page(card)

        imported = await seed.api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
            {"name": "Someone else", "phones": ["+74951234567"]},
            {"name": "Ivan Client", "phones": [CLIENT]},
        ]}, status=201)
        assert imported["created"] == 2
        assert await mine.receive_json(timeout=10) == {"type": "call_changed",
                                                       "call_id": call["id"]}
    drawn = await browser.page(card)
    assert "Ivan Client" in drawn and "Create contact" not in drawn
