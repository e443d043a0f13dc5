"""The per-tenant limits hold what they must and forget what they may: a tenant's rate bucket
that has refilled is dropped (it was kept forever, deleted tenants' too)."""

from __future__ import annotations

import asyncio

import pytest

from runtime.ratelimit import FORGET_FULL_BUCKETS_AT, Refused, TenantLimiter


def test_a_tenant_over_its_burst_is_refused_and_others_are_not() -> None:
    limiter = TenantLimiter(rate=0.001, burst=2, concurrent=1, run_rate=0.001, run_burst=2)
    limiter.admit_webhook("a")
    limiter.admit_webhook("a")
    with pytest.raises(Refused) as refused:
        limiter.admit_webhook("a")
    assert refused.value.retry_after >= 1
    limiter.admit_webhook("b")


def test_buckets_of_tenants_gone_quiet_are_forgotten() -> None:
    # Refilled at once: every bucket is full again by the next admission.
    limiter = TenantLimiter(rate=1e12, burst=10, concurrent=1, run_rate=1e12, run_burst=10)
    for n in range(20 * FORGET_FULL_BUCKETS_AT):
        limiter.admit_webhook(f"tenant-{n}")
    assert limiter.tenants_tracked() <= 2 * FORGET_FULL_BUCKETS_AT


def test_a_bucket_still_refilling_is_kept() -> None:
    limiter = TenantLimiter(rate=0.001, burst=1, concurrent=1, run_rate=0.001, run_burst=1)
    limiter.admit_webhook("busy")
    for n in range(2 * FORGET_FULL_BUCKETS_AT):
        limiter.admit_webhook(f"tenant-{n}")
    with pytest.raises(Refused):
        limiter.admit_webhook("busy")


async def begin(limiter: TenantLimiter, tenant_id: str) -> None:
    """As the runner takes a slot: at once, or in its turn."""
    if not limiter.begin_execution(tenant_id):
        await limiter.wait_turn(tenant_id)


async def test_executions_beyond_the_limit_wait_their_turn_in_order() -> None:
    limiter = TenantLimiter(rate=1, burst=1, concurrent=2, run_rate=1, run_burst=1,
                            queued=3, queue_wait_seconds=5)
    await begin(limiter, "a")
    await begin(limiter, "a")
    order: list[int] = []

    async def run(n: int) -> None:
        await begin(limiter, "a")
        order.append(n)

    waiters = [asyncio.create_task(run(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert order == []  # both slots are taken
    await begin(limiter, "b")  # another tenant's slots are its own
    with pytest.raises(Refused, match="limit 2, and 3 waiting"):
        await begin(limiter, "a")  # a fourth would wait: refused
    limiter.end_execution("a")
    await asyncio.sleep(0.01)
    assert order == [0]
    limiter.end_execution("a")
    limiter.end_execution("a")
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2]
    for _ in range(2):
        limiter.end_execution("a")
    await asyncio.wait_for(begin(limiter, "a"), 1)  # free again at once


async def test_a_wait_that_outlasts_its_bound_is_refused_and_frees_its_place() -> None:
    limiter = TenantLimiter(rate=1, burst=1, concurrent=1, run_rate=1, run_burst=1,
                            queued=1, queue_wait_seconds=0.05)
    await begin(limiter, "a")
    with pytest.raises(Refused) as refused:
        await begin(limiter, "a")
    assert refused.value.retry_after == 1
    limiter.end_execution("a")
    await asyncio.wait_for(begin(limiter, "a"), 1)  # the slot was not lost


async def test_a_cancelled_waiter_hands_on_nothing_and_keeps_nothing() -> None:
    limiter = TenantLimiter(rate=1, burst=1, concurrent=1, run_rate=1, run_burst=1,
                            queued=2, queue_wait_seconds=5)
    await begin(limiter, "a")
    gone = asyncio.create_task(begin(limiter, "a"))
    await asyncio.sleep(0.01)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    limiter.end_execution("a")
    await asyncio.wait_for(begin(limiter, "a"), 1)
    limiter.end_execution("a")
    assert limiter.tenants_tracked() == 0


async def test_without_a_queue_the_next_execution_is_refused_at_once() -> None:
    limiter = TenantLimiter(rate=1, burst=1, concurrent=1, run_rate=1, run_burst=1)
    await begin(limiter, "a")
    with pytest.raises(Refused):
        await begin(limiter, "a")
