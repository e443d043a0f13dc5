"""Bytes a tenant's scripts may receive through fetch(), per minute, on this node.

Each call is limited already (`sandbox.fetches_per_call` requests of `fetch.max_response_kib`
each), but nothing bounded a tenant across calls: at its webhook rate, 10 fetches of 5 MiB a
call is gigabytes a second of this host's bandwidth, memory and decompression, taken from every
other tenant. Here each tenant has a token bucket of bytes (`fetch.tenant_mib_per_minute`,
refilled continuously, a minute's worth at most), spent as a response's bytes arrive: on the
wire as they are read, and what decoding adds beyond them (a compressed body). A fetch started
with the bucket empty, or whose body empties it, fails in the script with a `FetchError` saying
so and when fetch() works again; the reading stops there. Requests sent are not counted: the
per-call limits bound them.

Kept in each node's memory, as the other rate limits (runtime/ratelimit.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MIB = 1024 * 1024
# Buckets kept before full ones are forgotten (then twice what remains), as ratelimit.py does.
FORGET_FULL_AT = 1024


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now


class FetchBudget:
    """Every tenant's bucket of bytes; `of(tenant_id)` is what one execution spends from."""

    def __init__(self, mib_per_minute: int, *,
                 on_received: Callable[[int], None] | None = None,
                 on_refused: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.mib_per_minute = mib_per_minute
        self.capacity = float(mib_per_minute * MIB)
        self.per_second = self.capacity / 60.0
        self._on_received = on_received
        self._on_refused = on_refused
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._forget_at = FORGET_FULL_AT

    def of(self, tenant_id: str) -> TenantFetchBudget:
        return TenantFetchBudget(self, tenant_id)

    def _bucket(self, tenant_id: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            if len(self._buckets) >= self._forget_at:
                self._forget_full(now)
            bucket = self._buckets[tenant_id] = _Bucket(self.capacity, now)
            return bucket
        bucket.tokens = min(self.capacity,
                            bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        """A full bucket is a new one: forget those (deleted tenants' among them)."""
        self._buckets = {
            tenant: bucket for tenant, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.per_second < self.capacity}
        self._forget_at = max(FORGET_FULL_AT, 2 * len(self._buckets))

    def spend(self, tenant_id: str, size: int) -> bool:
        """Take `size` bytes from the tenant's bucket; False (and the bucket emptied) when it
        held fewer: the fetch receiving them is refused."""
        if size <= 0:
            return True
        if self._on_received is not None:
            self._on_received(size)
        bucket = self._bucket(tenant_id)
        if bucket.tokens >= size:
            bucket.tokens -= size
            return True
        bucket.tokens = 0.0
        self.refused()
        return False

    def spent(self, tenant_id: str) -> bool:
        """Whether the tenant's bucket is empty now (a fetch is refused before it is sent)."""
        return self._bucket(tenant_id).tokens < 1.0

    def refused(self) -> None:
        if self._on_refused is not None:
            self._on_refused()

    def seconds_until_refilled(self, size: float = MIB) -> int:
        """Whole seconds an empty bucket takes to hold `size` bytes again."""
        return max(1, math.ceil(min(size, self.capacity) / self.per_second))


class TenantFetchBudget:
    """One tenant's side of the budget, handed to an execution's FetchSession."""

    __slots__ = ("_budget", "_tenant_id")

    def __init__(self, budget: FetchBudget, tenant_id: str) -> None:
        self._budget = budget
        self._tenant_id = tenant_id

    def spend(self, size: int) -> bool:
        return self._budget.spend(self._tenant_id, size)

    def spent(self) -> bool:
        return self._budget.spent(self._tenant_id)

    def refused_now(self) -> None:
        """A fetch refused before it was sent (the bucket was empty): counted."""
        self._budget.refused()

    def refusal(self) -> str:
        """The FetchError message when the budget is spent."""
        budget = self._budget
        return (f"fetch budget spent: this tenant's scripts may receive {budget.mib_per_minute} "
                "MiB a minute through fetch() (fetch.tenant_mib_per_minute in the service's "
                "configuration), and have received that much; fetch() works again in about "
                f"{budget.seconds_until_refilled()} s")
