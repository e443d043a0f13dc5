"""Click-to-call rings once per form (runtime/console/dial_once.py): reloading the page that
answered a call's POST re-posts it, and that shows the first answer instead of calling the
module's VoipGenerateCall again; a fresh form calls again; a made-up or another session's
nonce is refused; the live card's "Call back" likewise."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import Config
from tests.console.conftest import Browser
from tests.console.test_admin_pages import CALLING_SCRIPT, dial_nonce_on, signed_in_builder
from tests.console.test_live_actions import colleague, missed_at_both  # noqa: F401 (fixture)
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.helpers import CLIENT, SeedSetup, seed_setup, upload
from tests.e2e.test_two_nodes import nodes, on  # noqa: F401 (fixture)

JSON = {"Accept": "application/json"}


async def generated(seed: SeedSetup) -> int:
    """How many times the module's VoipGenerateCall ran."""
    executions = (await seed.api.ok(
        "GET", f"/api/v1/executions?module_id={seed.module['id']}"))["executions"]
    return [e["function"] for e in executions].count("VoipGenerateCall")


async def test_reloading_the_answer_to_a_call_does_not_ring_again(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    await upload(seed.api, seed.module["id"], CALLING_SCRIPT)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    page = await browser.page(f"/console/contacts/{contact['id']}")
    form = {"line": f"{seed.module['id']}/{seed.user['id']}", "number": CLIENT,
            "dial_nonce": dial_nonce_on(page)}
    assert CLIENT not in f"{seed.module['id']}/{seed.user['id']}"  # no number in any URL

    first = await browser.post_form("/console/calls/originate", form)
    first_text = await first.text()
    assert first.status == 202 and "ring extension <strong>101</strong>" in first_text
    assert "already placed" not in first_text
    again = await browser.post_form("/console/calls/originate", form)  # the reload
    again_text = await again.text()
    assert again.status == 202 and "already placed" in again_text, again_text
    assert "ring extension <strong>101</strong>" in again_text
    assert await generated(seed) == 1

    # Twice at once (a double click): one call.
    fresh = {**form, "dial_nonce": dial_nonce_on(
        await browser.page(f"/console/contacts/{contact['id']}"))}
    both = await asyncio.gather(*(browser.post_form("/console/calls/originate", fresh)
                                  for _ in range(2)))
    assert [r.status for r in both] == [202, 202]
    assert sorted(["already placed" in await r.text() for r in both]) == [False, True]
    assert await generated(seed) == 2

    # The same page's form for another number is another call.
    other = await browser.post_form("/console/calls/originate",
                                    {**fresh, "number": "+79031234567"})
    assert other.status == 202 and "already placed" not in await other.text()
    assert await generated(seed) == 3


async def test_a_made_up_or_another_sessions_nonce_is_refused(
        console: tuple[Service, str], browser: Browser, colleague: Browser  # noqa: F811
) -> None:
    seed = await signed_in_builder(console, browser)
    await upload(seed.api, seed.module["id"], CALLING_SCRIPT)
    line = f"{seed.module['id']}/{seed.user['id']}"
    await colleague.sign_in(seed.api.secret or "")
    theirs = dial_nonce_on(await contact_page(seed, colleague))
    for nonce in ("", "made-up", "abc.def", theirs):
        refused = await browser.post_form("/console/calls/originate",
                                          {"line": line, "number": CLIENT, "dial_nonce": nonce})
        assert refused.status == 422, nonce
        assert "reload the page" in await refused.text()
    assert await generated(seed) == 0


async def contact_page(seed: SeedSetup, browser: Browser) -> str:
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Ivan", "phones": [CLIENT]}, status=201)
    return await browser.page(f"/console/contacts/{contact['id']}")


async def test_call_back_posted_twice_rings_once_and_its_next_nonce_calls_again(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await upload(seed.api, seed.module["id"], CALLING_SCRIPT)
    missed = await missed_at_both(seed)
    await browser.sign_in(seed.user_token)
    form = {"dial_nonce": dial_nonce_on(await browser.page("/console/live"))}
    path = f"/console/calls/{missed}/call-back"
    headers = {**JSON, "Origin": browser.base}

    first = await browser.post_form(path, form, headers=headers)
    body = await first.json()
    assert first.status == 200 and body["to"] == CLIENT and body["repeat"] is False, body
    again = await browser.post_form(path, form, headers=headers)
    assert (await again.json())["repeat"] is True
    # Without the page's script: the answer is the live page again (a redirect), no call.
    plain = await browser.post_form(path, form, headers={"Origin": browser.base})
    assert plain.status == 303
    assert await generated(seed) == 1

    # The card's next click (the script puts the answer's fresh nonce in the form) calls.
    next_form = {"dial_nonce": body["next_nonce"]}
    second = await browser.post_form(path, next_form, headers=headers)
    assert (await second.json())["repeat"] is False
    assert await generated(seed) == 2


async def start_node(config: Config) -> Service:
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    return Service(client, config, Api(client, OPERATOR_TOKEN))


def base_of(node: Service) -> str:
    return str(node.client.make_url("")).rstrip("/")


async def test_a_call_form_posted_again_after_a_restart_does_not_ring_again(
        tmp_path: Path) -> None:
    """What the first post answered is in the store: the node started anew (same database,
    same session cookie) answers the repeat with it."""
    config = service_config(tmp_path)
    first_node = await start_node(config)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        try:
            seed = await seed_setup(first_node)
            await upload(seed.api, seed.module["id"], CALLING_SCRIPT)
            browser = Browser(session, base_of(first_node))
            await browser.sign_in(seed.api.secret or "")
            form = {"line": f"{seed.module['id']}/{seed.user['id']}", "number": CLIENT,
                    "dial_nonce": dial_nonce_on(await contact_page(seed, browser))}
            first = await browser.post_form("/console/calls/originate", form)
            assert first.status == 202 and "already placed" not in await first.text()
        finally:
            await first_node.client.close()

        restarted = await start_node(config)
        try:
            browser = Browser(session, base_of(restarted), csrf=browser.csrf)
            again = await browser.post_form("/console/calls/originate", form)
            text = await again.text()
            assert again.status == 202 and "already placed" in text, text
            assert "ring extension <strong>101</strong>" in text
            assert await generated(on(seed, restarted)) == 1
        finally:
            await restarted.client.close()


async def test_a_call_form_posted_to_two_nodes_rings_once(
        nodes: tuple[Service, Service, str, str]) -> None:  # noqa: F811
    """Two nodes on one PostgreSQL database: the repeat (a reload the balancer sent to the
    other node) and two posts at once (a double click spread over both) ring once each."""
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    await upload(seed.api, seed.module["id"], CALLING_SCRIPT)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        at_a = Browser(session, base_of(a))
        await at_a.sign_in(seed.api.secret or "")
        line = f"{seed.module['id']}/{seed.user['id']}"
        form = {"line": line, "number": CLIENT,
                "dial_nonce": dial_nonce_on(await contact_page(seed, at_a))}
        at_b = Browser(session, base_of(b), csrf=at_a.csrf)  # the same session, on node B

        first = await at_a.post_form("/console/calls/originate", form)
        assert first.status == 202 and "already placed" not in await first.text()
        again = await at_b.post_form("/console/calls/originate", form)
        assert again.status == 202 and "already placed" in await again.text()
        assert await generated(seed) == 1

        fresh = {**form, "dial_nonce": dial_nonce_on(await at_a.page(
            f"/console/contacts/{(await some_contact(seed))['id']}"))}
        both = await asyncio.gather(at_a.post_form("/console/calls/originate", fresh),
                                    at_b.post_form("/console/calls/originate", fresh))
        assert [r.status for r in both] == [202, 202]
        assert sorted(["already placed" in await r.text() for r in both]) == [False, True]
        assert await generated(seed) == 2


async def some_contact(seed: SeedSetup) -> dict[str, str]:
    contacts: list[dict[str, str]] = (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]
    return contacts[0]
