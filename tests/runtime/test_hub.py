"""runtime/hub.py on its own: which subscriptions an ended credential reaches, what its
listeners hear, and that nothing stays indexed once the sockets are gone."""

from __future__ import annotations

import pytest

from runtime.hub import Credential, CredentialEnded, EndReason, Hub

TOKEN = Credential("user_token", "utk_1")
SESSION = Credential("session", "sid-1")
ANNA, IVAN = Credential("user", "usr_anna"), Credential("user", "usr_ivan")


async def test_an_ended_credential_ends_exactly_the_subscriptions_standing_on_it() -> None:
    hub = Hub()
    api_socket = hub.subscribe("usr_anna", {ANNA, TOKEN})
    console_socket = hub.subscribe("usr_anna", {ANNA, TOKEN, SESSION})
    other_token = hub.subscribe("usr_anna", {ANNA, Credential("user_token", "utk_2")})
    ivans = hub.subscribe("usr_ivan", {IVAN})

    assert hub.end_local(CredentialEnded(SESSION, EndReason.SIGNED_OUT)) == 1
    assert console_socket.ended is EndReason.SIGNED_OUT and console_socket.attention.is_set()
    assert api_socket.ended is None and not api_socket.attention.is_set()

    await hub.end(CredentialEnded(TOKEN, EndReason.TOKEN_REVOKED))  # no relay: one node
    assert api_socket.ended is EndReason.TOKEN_REVOKED
    assert console_socket.ended is EndReason.SIGNED_OUT  # the first reason stays
    assert other_token.ended is None

    assert hub.end_local(CredentialEnded(ANNA, EndReason.USER_DELETED)) == 3
    assert other_token.ended is EndReason.USER_DELETED
    assert ivans.ended is None
    assert (EndReason.USER_DELETED.close_code, EndReason.USER_DELETED.text) == (
        4403, "user deleted")
    assert (EndReason.TENANT_DELETED.close_code, EndReason.TENANT_DELETED.text) == (
        4403, "tenant deleted")
    credential_ends = set(EndReason) - {EndReason.USER_DELETED, EndReason.TENANT_DELETED,
                                        EndReason.SHUTTING_DOWN}
    assert {r.close_code for r in credential_ends} == {4401}
    assert EndReason.SHUTTING_DOWN.close_code == 1001  # going away: the client reconnects


async def test_listeners_hear_every_end_and_a_failing_one_stops_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    heard: list[CredentialEnded] = []

    def broken(_ended: CredentialEnded) -> None:
        raise RuntimeError("listener bug")

    hub.on_ended.extend([broken, heard.append])
    socket = hub.subscribe("usr_anna", {SESSION})
    ended = CredentialEnded(SESSION, EndReason.SIGNED_OUT)
    assert hub.end_local(ended) == 1
    assert heard == [ended] and socket.ended is EndReason.SIGNED_OUT
    assert "listener of ended credentials failed" in caplog.text
    # A credential nobody's socket stands on still reaches the listeners (a sign-out of a
    # session without a live page must still be remembered).
    other = CredentialEnded(Credential("session", "sid-2"), EndReason.SIGNED_OUT)
    assert hub.end_local(other) == 0
    assert heard == [ended, other]


async def test_recheck_all_asks_every_socket_and_closed_ones_leave_no_trace() -> None:
    hub = Hub()
    sockets = [hub.subscribe("usr_anna", {ANNA, TOKEN}), hub.subscribe("usr_ivan", {IVAN})]
    hub.recheck_all()
    assert all(s.recheck_requested and s.attention.is_set() for s in sockets)
    for socket in sockets:
        socket.close()
    assert hub.connected_users() == 0
    assert hub.end_local(CredentialEnded(ANNA, EndReason.USER_DELETED)) == 0
    assert not hub._by_credential and not hub._subscribers
