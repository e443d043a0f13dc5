"""The console's memory of signed-out sessions (runtime/console/session.py `install`): a session
signed out anywhere stays refused, expired entries are dropped, and a sign-out looks only at
the entries that expired (it walked every entry each time: a user signing in and out in a loop
made each sign-out cost more); and the service started again still refuses a cookie signed out
before (it forgot every sign-out at a restart: a copied cookie worked again until it expired)."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession, CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.console import session
from runtime.hub import Credential, CredentialEnded, EndReason, Hub
from runtime.typedefs import HUB
from tests.console.conftest import Browser
from tests.e2e.conftest import OPERATOR_TOKEN, Service
from tests.e2e.helpers import seed_setup


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def signed_out_app(monkeypatch: pytest.MonkeyPatch) -> tuple[Hub, dict[str, float], Clock]:
    clock = Clock()
    monkeypatch.setattr(session.time, "time", clock.time)
    app = web.Application()
    hub = app[HUB] = Hub()
    session.install(app)
    return hub, app[session.SIGNED_OUT], clock


def sign_out(hub: Hub, sid: str) -> None:
    hub.end_local(CredentialEnded(Credential("session", sid), EndReason.SIGNED_OUT))


def test_signed_out_sessions_are_kept_until_they_would_have_expired(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub, signed_out, clock = signed_out_app(monkeypatch)
    sign_out(hub, "a")
    clock.now += session.LIFETIME_SECONDS / 2
    sign_out(hub, "b")
    sign_out(hub, "a")  # again (another node's relay): kept to the later time
    assert list(signed_out) == ["b", "a"]
    clock.now += session.LIFETIME_SECONDS / 2 + 1
    sign_out(hub, "c")
    assert set(signed_out) == {"a", "b", "c"}  # a's entry was renewed, b's still runs
    clock.now += session.LIFETIME_SECONDS + 1
    sign_out(hub, "d")
    assert list(signed_out) == ["d"]


def test_a_sign_out_looks_only_at_the_entries_that_expired(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(session.time, "time", clock.time)
    app = web.Application()
    hub = app[HUB] = Hub()
    session.install(app)
    looked = 0

    class Counting(dict[str, float]):
        """Counts the entries a sign-out reads, however it walks them."""

        def items(self):  # type: ignore[no-untyped-def,override]
            nonlocal looked
            looked += len(self)
            return super().items()

        def __iter__(self):  # type: ignore[no-untyped-def]
            nonlocal looked
            looked += 1
            return super().__iter__()

    counting = app[session.SIGNED_OUT] = Counting()
    for n in range(2000):
        clock.now += 1
        sign_out(hub, f"s{n}")
    assert len(counting) == 2000 and "s0" in counting
    assert looked <= 2 * 2000, looked  # it walked every entry: about 2000**2 / 2


async def test_a_signed_out_cookie_stays_refused_after_a_restart(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)
    copied = {cookie.key: cookie.value for cookie in browser.session.cookie_jar}
    assert "vr_console" in copied
    signed_out = await browser.post_form("/console/sign-out", {})
    assert signed_out.status == 303
    await service.client.close()  # the service stops; its memory of the sign-out goes

    again = TestClient(TestServer(create_app(service.config, OPERATOR_TOKEN), host="127.0.0.1"))
    await again.start_server()
    try:
        base = str(again.make_url("")).rstrip("/")
        async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=copied) as thief:
            response = await thief.get(base + "/console/calls", allow_redirects=False)
            assert response.status == 302, await response.text()
            assert response.headers["Location"].startswith("/console/sign-in")
        # A session signed in now works on it (the sign-out is that session's only).
        fresh = Browser(ClientSession(cookie_jar=CookieJar(unsafe=True)), base)
        async with fresh.session:
            await fresh.sign_in(seed.user_token)
            await fresh.page("/console/calls")
    finally:
        await again.close()
