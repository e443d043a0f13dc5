"""The console's memory of signed-out sessions (runtime/console/session.py `install`): a session
signed out anywhere stays refused, expired entries are dropped, one credential's sign-outs are
bounded (runtime/console/signed_out.py); and the service started again still refuses a cookie
signed out before (it forgot every sign-out at a restart: a copied cookie worked again until it
expired)."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession, CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.console import session
from runtime.console.signed_out import KEEP_PER_OWNER, SignedOut
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


def signed_out_app(monkeypatch: pytest.MonkeyPatch) -> tuple[Hub, SignedOut, Clock]:
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
    opened = clock.now + session.LIFETIME_SECONDS  # expiries of sessions opened now
    sign_out(hub, "own.a")
    clock.now += session.LIFETIME_SECONDS / 2
    sign_out(hub, "own.b")
    sign_out(hub, "own.a")  # again (another node's relay): kept to the later time
    assert signed_out.refuses("own.a", opened) and signed_out.refuses("own.b", opened)
    assert not signed_out.refuses("own.c", opened)
    clock.now += session.LIFETIME_SECONDS / 2 + 1
    sign_out(hub, "own.c")
    assert len(signed_out) == 3  # a's entry was renewed, b's still runs
    clock.now += session.LIFETIME_SECONDS + 1
    sign_out(hub, "other.d")
    assert len(signed_out) == 1 and signed_out.refuses("other.d", clock.now)


def test_one_credential_signing_in_and_out_in_a_loop_holds_a_bounded_memory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sign-out was an entry on every node for 12 hours: any user looping sign-in and
    sign-out (about 73 a second) grew each node's memory without bound. Past KEEP_PER_OWNER
    of one credential, the oldest become one mark; every one of them stays refused."""
    hub, signed_out, clock = signed_out_app(monkeypatch)
    looped = []
    for n in range(5 * KEEP_PER_OWNER):
        clock.now += 0.5
        expires = clock.now + session.LIFETIME_SECONDS
        looped.append((f"loop.s{n}", expires))
        sign_out(hub, f"loop.s{n}")
    sign_out(hub, "other.x")
    assert len(signed_out) == KEEP_PER_OWNER + 2  # the loop's kept ones, its mark, other.x
    assert all(signed_out.refuses(sid, expires) for sid, expires in looped)
    # A session the looping credential opens after its sign-outs works; so do other
    # credentials' sessions, whatever the loop did.
    assert not signed_out.refuses("loop.new", clock.now + session.LIFETIME_SECONDS + 1)
    assert not signed_out.refuses("other.y", looped[0][1])
    # Sessions with ids from before ids named their credential: still one by one.
    sign_out(hub, "legacy")
    assert signed_out.refuses("legacy", clock.now) and not signed_out.refuses("old", 0)


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


async def test_signing_in_and_out_in_a_loop_is_bounded_and_every_old_cookie_stays_out(
        console: tuple[Service, str], browser: Browser) -> None:
    """Through the console: a user looping sign-in and sign-out grew every node's memory (and
    the store) by one entry a sign-out. Now bounded per credential, and still no cookie of the
    loop works, here or on the service started again; a session opened after it does."""
    service, base = console
    seed = await seed_setup(service)
    cookies = []
    for _ in range(KEEP_PER_OWNER + 6):
        await browser.sign_in(seed.user_token)
        cookies.append({c.key: c.value for c in browser.session.cookie_jar})
        assert (await browser.post_form("/console/sign-out", {})).status == 303
    assert len(service.client.app[session.SIGNED_OUT]) == KEEP_PER_OWNER + 1

    async def works(base: str, copied: dict[str, str]) -> bool:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=copied) as other:
            response = await other.get(base + "/console/calls", allow_redirects=False)
            return response.status == 200

    assert [n for n, copied in enumerate(cookies) if await works(base, copied)] == []
    await browser.sign_in(seed.user_token)
    fresh = {c.key: c.value for c in browser.session.cookie_jar}
    assert await works(base, fresh)
    await service.client.close()

    again = TestClient(TestServer(create_app(service.config, OPERATOR_TOKEN), host="127.0.0.1"))
    await again.start_server()
    try:
        base = str(again.make_url("")).rstrip("/")
        assert [n for n, copied in enumerate(cookies) if await works(base, copied)] == []
        assert await works(base, fresh)
    finally:
        await again.close()


class _FastClock:
    """The session module's clock on a machine that loops sign-ins within one second: each
    reading a millisecond after the last, all within the same second."""

    def __init__(self, start: float) -> None:
        self.now = float(int(start)) + 0.001

    def time(self) -> float:
        self.now += 0.001
        return self.now


async def test_a_session_opened_in_the_second_of_a_looped_sign_out_still_works(
        console: tuple[Service, str], browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark the loop leaves ("this credential's sessions expiring by then are out") covered a
    session opened after it in the same second, while a cookie's expiry was whole seconds (a
    clean CI run on a fast machine refused the fresh session of the test above)."""
    import time as real_time
    from types import SimpleNamespace

    service, base = console
    seed = await seed_setup(service)
    clock = _FastClock(real_time.time() + 1)
    second = int(clock.now)
    monkeypatch.setattr(session, "time", SimpleNamespace(time=clock.time))
    for _ in range(KEEP_PER_OWNER + 2):
        await browser.sign_in(seed.user_token)
        assert (await browser.post_form("/console/sign-out", {})).status == 303
    await browser.sign_in(seed.user_token)
    assert int(clock.now) == second, "all within one second"
    fresh = {c.key: c.value for c in browser.session.cookie_jar}
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=fresh) as other:
        response = await other.get(base + "/console/calls", allow_redirects=False)
        assert response.status == 200, response.headers.get("Location")
