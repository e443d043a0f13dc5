"""The per-tenant limits hold what they must and forget what they may: a tenant's rate bucket
that has refilled is dropped (it was kept forever, deleted tenants' too)."""

from __future__ import annotations

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
