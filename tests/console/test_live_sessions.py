"""The console's live socket ends with its session (issue 14): signing out closes that
session's socket (and only it), so do a revoked token and the session's expiry; the console's
recording player follows the API's rule (an operator plays their own calls only)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, CookieJar

from runtime import ids
from runtime import live_socket as live_socket_module
from runtime.console import session
from runtime.console.session import COOKIE, sign
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import (
    CLIENT,
    RECORD_BASE,
    SeedSetup,
    answer,
    closed_with,
    end,
    record,
    seed_setup,
    start,
)


@asynccontextmanager
async def live_socket(browser: Browser) -> AsyncIterator[ClientWebSocketResponse]:
    async with browser.session.ws_connect(browser.base + "/console/live/socket",
                                          headers={"Origin": browser.base}) as socket:
        assert (await socket.receive_json(timeout=10))["type"] == "hello"
        assert (await socket.receive_json(timeout=10))["type"] == "caught_up"
        yield socket


@asynccontextmanager
async def another_browser(base: str) -> AsyncIterator[Browser]:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        yield Browser(session, base)


async def next_notification(socket: ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await socket.receive_json(timeout=10)
        if message["type"] == "notification":
            return message


async def test_signing_out_closes_that_sessions_socket_only(console: tuple[Service, str],
                                                            browser: Browser) -> None:
    service, base = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    async with another_browser(base) as desk:
        await desk.sign_in(seed.user_token)  # the same operator at another desk
        async with live_socket(browser) as mine, live_socket(desk) as theirs:
            signed_out = await browser.post_form("/console/sign-out", {})
            assert signed_out.status == 303
            assert await closed_with(mine) == (4401, "signed out")
            # The webhook after the sign-out reaches the other session, and only it.
            await seed.hook_ok(start())
            assert (await next_notification(theirs))["kind"] == "ringing"
            assert mine.closed
    refused = await browser.get("/console/live/socket", allow_redirects=False)
    assert refused.status == 302


async def test_revoking_the_token_closes_the_console_socket(console: tuple[Service, str],
                                                            browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    [token] = (await seed.api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens"))["tokens"]
    async with live_socket(browser) as socket:
        await seed.api.ok("DELETE", f"/api/v1/users/{seed.user['id']}/tokens/{token['id']}",
                          status=204)
        assert await closed_with(socket) == (4401, "credential revoked: user token")
    assert (await browser.get("/console/live", allow_redirects=False)).status == 302


class _Clock:
    """The sessions' and live sockets' epoch clock, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


async def test_a_session_that_expires_closes_its_socket(
        console: tuple[Service, str], browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session signed by the service itself that runs out two seconds after the socket
    opened. (Its expiry was two seconds of the real clock from the cookie, rounded down to a
    whole second: a loaded machine that took the rest of that second or more to open the
    socket found the session over at the handshake, and the socket refused.)"""
    service, _ = console
    seed = await seed_setup(service)
    app = service.client.server.app
    assert app is not None
    clock = _Clock()
    monkeypatch.setattr(session, "time", SimpleNamespace(time=clock.time))
    monkeypatch.setattr(live_socket_module, "time", SimpleNamespace(time=clock.time))
    expires = clock.now + 2
    cookie = sign(app, {"v": 1, "sid": "short-lived-session", "k": "operator",
                        "h": ids.hash_secret(seed.user_token), "exp": expires})
    browser.session.cookie_jar.update_cookies({COOKIE: cookie})
    async with live_socket(browser) as socket:
        # Open and caught up however long that took; now its two seconds pass. (The socket
        # waits for the expiry on the real clock, at most those two seconds.)
        clock.now = expires
        assert await closed_with(socket) == (4401, "session expired")


async def operator_plays(browser: Browser, call_id: str) -> tuple[int, str]:
    response = await browser.get(f"/console/calls/{call_id}/recording", allow_redirects=False)
    return response.status, response.headers.get("Location", "")


async def test_an_operator_plays_only_their_own_calls(console: tuple[Service, str],
                                                      browser: Browser) -> None:
    service, base = console
    seed: SeedSetup = await seed_setup(service)
    for payload in (start("c-1"), answer("c-1"), end("c-1"), record("c-1", record_id="r-1")):
        await seed.hook_ok(payload)
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
    ivan_token = await seed.api.ok("POST", f"/api/v1/users/{ivan['id']}/tokens", status=201)

    await browser.sign_in(seed.user_token)
    assert await operator_plays(browser, call["id"]) == (302, f"{RECORD_BASE}/r-1")
    async with another_browser(base) as ivans:
        await ivans.sign_in(ivan_token["token"])
        status, _ = await operator_plays(ivans, call["id"])
        assert status == 404
        # The tenant key's session (a module builder) plays any call of the tenant.
        async with another_browser(base) as builder:
            await builder.sign_in(seed.api.secret or "")
            assert await operator_plays(builder, call["id"]) == (302, f"{RECORD_BASE}/r-1")
    # HEAD runs no VoipGetCallLink (it would, as a GET, for a body nobody reads): 405.
    before = (await seed.api.ok("GET", "/api/v1/executions"))["executions"]
    head = await browser.session.head(f"{base}/console/calls/{call['id']}/recording",
                                      allow_redirects=False)
    assert (head.status, head.headers.get("Allow")) == (405, "GET")
    assert (await seed.api.ok("GET", "/api/v1/executions"))["executions"] == before


async def test_the_contact_page_offers_an_operator_only_their_recordings(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    contact = await seed.api.ok("POST", "/api/v1/contacts",
                                {"name": "Olga", "phones": [CLIENT]}, status=201)
    # The same client called 101 (the signed-in operator) and 102 (nobody's); both recorded.
    for payload in (start("c-1"), answer("c-1"), end("c-1"), record("c-1", record_id="r-1"),
                    start("c-2", dst="102"), answer("c-2", dst="102"), end("c-2", dst="102"),
                    {**record("c-2", record_id="r-2"), "dstPhone": "102"}):
        await seed.hook_ok(payload)
    calls = {c["provider_call_id"]: c["id"]
             for c in (await seed.api.ok("GET", "/api/v1/calls"))["calls"]}
    await browser.sign_in(seed.user_token)
    html = await browser.page(f"/console/contacts/{contact['id']}")
    assert html.count("<audio") == 1
    assert f"/console/calls/{calls['c-1']}/recording" in html
    assert f"/console/calls/{calls['c-2']}/recording" not in html
    status, _ = await operator_plays(browser, calls["c-2"])
    assert status == 404
