"""A tenant's budget of bytes received through fetch() a minute (runtime/fetch_budget.py),
against a real aiohttp server on 127.0.0.1: executions of one tenant share it, the body that
spends it is refused as it arrives, the next fetch is refused before it is sent, compressed
bodies count what they inflate to, another tenant is not touched, and it refills with time."""

from __future__ import annotations

import gzip

from runtime.fetch_budget import MIB, FetchBudget
from runtime.fetcher import FetchSession
from tests.runtime.test_fetcher import Server, fetch, policy, server  # noqa: F401

KIB = 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget_of_one_mib(clock: Clock, counted: list[int], refused: list[int]) -> FetchBudget:
    return FetchBudget(1, clock=clock, on_received=counted.append,
                       on_refused=lambda: refused.append(1))


async def test_a_tenants_executions_share_its_bytes_a_minute(server: Server) -> None:  # noqa: F811
    clock, counted, refused = Clock(), [], []
    budget = budget_of_one_mib(clock, counted, refused)
    big = f"{server.base}/big?size={600 * KIB}"

    first = FetchSession(policy(), budget=budget.of("ten_a"))  # one execution
    assert (await fetch(first, big))["ok"] is True
    second = FetchSession(policy(), budget=budget.of("ten_a"))  # the tenant's next one
    cut = await fetch(second, big)
    assert cut["ok"] is False and cut["error"].startswith("fetch budget spent")
    assert "1 MiB a minute" in cut["error"] and "fetch.tenant_mib_per_minute" in cut["error"]
    assert "works again in about 60 s" in cut["error"]
    assert second.log[0].error == cut["error"]

    sent = len(server.seen.requests)
    refused_now = await fetch(FetchSession(policy(), budget=budget.of("ten_a")), big)
    assert refused_now["error"].startswith("fetch budget spent")
    assert len(server.seen.requests) == sent  # not sent at all
    assert len(refused) == 2
    # What the wire brought is counted (the cut body up to where it stopped).
    assert 1 * MIB <= sum(counted) <= 1 * MIB + 600 * KIB

    # Another tenant has its own.
    other = FetchSession(policy(), budget=budget.of("ten_b"))
    assert (await fetch(other, big))["ok"] is True

    # It refills: 600 KiB come back in 36 s (a minute's worth in a minute).
    clock.now += 36
    assert (await fetch(FetchSession(policy(), budget=budget.of("ten_a")), big))["ok"] is True


async def test_a_compressed_body_counts_what_it_inflates_to(server: Server) -> None:  # noqa: F811
    clock, counted, refused = Clock(), [], []
    budget = budget_of_one_mib(clock, counted, refused)
    coded = f"{server.base}/coded?coding=gzip"
    session = FetchSession(policy(), budget=budget.of("ten_a"))
    reply = await fetch(session, coded)
    assert reply["ok"] is True
    plain = len(reply["body"].encode("utf-8"))
    assert sum(counted) == plain  # the wire's bytes, then what inflating added
    assert len(gzip.compress(reply["body"].encode("utf-8"))) < plain


async def test_without_a_budget_a_session_fetches_as_before(server: Server) -> None:  # noqa: F811
    session = FetchSession(policy())  # a local run (voip-runtime run): no tenant
    for _ in range(3):
        assert (await fetch(session, f"{server.base}/big?size={600 * KIB}"))["ok"] is True
