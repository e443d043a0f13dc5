"""runtime/live_limits.py: the per-user, per-tenant and per-node limits of live sockets."""

from __future__ import annotations

from runtime.live_limits import PER_USER, LiveSocketLimits


def test_live_sockets_take_at_most_half_the_connections_and_a_tenant_half_of_that() -> None:
    limits = LiveSocketLimits(connection_budget=400)
    assert (limits.total, limits.per_tenant, limits.per_user) == (200, 100, PER_USER)
    held = [limits.take("ten_a", f"usr_{n // PER_USER}") for n in range(100)]
    assert limits.refusal("ten_a", "usr_new") == (
        "this tenant's users have 100 live sockets open on this server, the most one tenant may")
    assert limits.refusal("ten_b", "usr_b") is None
    held += [limits.take("ten_b", f"usr_b{n // PER_USER}") for n in range(100)]
    assert limits.refusal("ten_c", "usr_c") == (
        "this server holds 200 live sockets, the most it keeps")
    limits.give_back(held.pop(0))
    assert limits.refusal("ten_a", "usr_new") is None
    assert limits.refusal("ten_c", "usr_c") is None


def test_a_user_at_the_limit_is_refused_and_gets_its_place_back() -> None:
    limits = LiveSocketLimits(connection_budget=10_000)
    held = [limits.take("ten_a", "usr_a") for _ in range(PER_USER)]
    assert limits.refusal("ten_a", "usr_a") == (
        f"this user has {PER_USER} live sockets open, the most one user may")
    assert limits.refusal("ten_a", "usr_b") is None
    for one in held:
        limits.give_back(one)
    assert limits.refusal("ten_a", "usr_a") is None
