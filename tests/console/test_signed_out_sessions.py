"""The console's memory of signed-out sessions (runtime/console/session.py `install`): a session
signed out anywhere stays refused, expired entries are dropped, and a sign-out looks only at
the entries that expired (it walked every entry each time: a user signing in and out in a loop
made each sign-out cost more)."""

from __future__ import annotations

import pytest
from aiohttp import web

from runtime.console import session
from runtime.hub import Credential, CredentialEnded, EndReason, Hub
from runtime.typedefs import HUB


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
