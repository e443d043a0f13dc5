"""Per-tenant rate limits (webhooks; checks, dry runs and function runs) and the
concurrent-execution limit (one tenant cannot fill the pool).

A tenant runs at most `concurrent` executions at once; the next ones wait their turn (first come,
first served), at most `queued` of them and each at most `queue_wait_seconds`, and only beyond
that are refused. A provider sends a burst as a matter of course (a group call rings ten phones:
ten NotifyInternal webhooks in the same millisecond), and refusing the seventh at once lost
operators' notifications to providers that do not retry; waiting takes no worker, so the pool is
protected all the same.

Kept in each node's memory: with several nodes, each enforces the configured figures on the
traffic it receives (see README, "Several nodes").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """Refilled to its burst by `now`: no different from a new bucket."""
        return self.tokens + (now - self.updated) * self.rate >= self.burst


class Refused(Exception):
    """A tenant went over a limit; `retry_after` is whole seconds for the Retry-After header."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


# Rate buckets kept before full ones are forgotten (then twice what remains).
FORGET_FULL_BUCKETS_AT = 1024


class TenantBuckets:
    """One rate limit, a token bucket per tenant (created on its first request)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._forget_at = FORGET_FULL_BUCKETS_AT

    def take(self, tenant_id: str) -> float:
        """0 when the tenant may go on; otherwise the seconds until it may."""
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            if len(self._buckets) >= self._forget_at:
                self._forget_full_buckets()
            bucket = self._buckets[tenant_id] = TokenBucket(self.rate, float(self.burst))
        return bucket.take()

    def _forget_full_buckets(self) -> None:
        """Every tenant that ever sent a request kept a bucket, deleted tenants' too; a full
        one is a new one, so those go. Run when the table has doubled since the last time, so
        it costs each admission O(1) on average and the table stays within twice the tenants
        whose buckets are still refilling."""
        now = time.monotonic()
        self._buckets = {tenant: bucket for tenant, bucket in self._buckets.items()
                         if not bucket.full(now)}
        self._forget_at = max(FORGET_FULL_BUCKETS_AT, 2 * len(self._buckets))

    def tenants(self) -> set[str]:
        return set(self._buckets)


class TenantLimiter:
    """A tenant's webhooks (`rate`, `burst`), its runs started from the API and the console
    (`run_rate`, `run_burst`: script checks, dry runs and replays, function runs: each costs
    the service a worker's CPU time, and nothing else limits them), and its executions at
    once (`concurrent`, with `queued` more waiting at most `queue_wait_seconds`)."""

    def __init__(self, rate: float, burst: int, concurrent: int, *, run_rate: float,
                 run_burst: int, queued: int = 0, queue_wait_seconds: float = 0.0) -> None:
        self.concurrent = concurrent
        self.queued = queued
        self.queue_wait_seconds = queue_wait_seconds
        self.webhooks = TenantBuckets(rate, burst)
        self.runs = TenantBuckets(run_rate, run_burst)
        self._running: dict[str, int] = {}
        # Per tenant, the executions waiting for a slot, oldest first; a slot freed is handed
        # to the first of them (its future's result), so `_running` never dips meanwhile.
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def admit_webhook(self, tenant_id: str) -> None:
        wait = self.webhooks.take(tenant_id)
        if wait:
            raise Refused(f"webhook rate limit of {self.webhooks.rate:g}/s exceeded", wait)

    def admit_run(self, tenant_id: str) -> None:
        """Admit a check, dry run or function run the tenant asked for (not a webhook's)."""
        wait = self.runs.take(tenant_id)
        if wait:
            raise Refused(
                f"rate limit of {self.runs.rate:g}/s (bursts of {self.runs.burst}) for script "
                f"checks, dry runs and function runs exceeded (tenant_limits.runs_per_second, "
                f"tenant_limits.run_burst)", wait)

    def tenants_tracked(self) -> int:
        """Tenants this node holds a rate bucket or a running count for."""
        return len(self.webhooks.tenants() | self.runs.tenants() | self._running.keys())

    def begin_execution(self, tenant_id: str) -> bool:
        """Take one of the tenant's execution slots if one is free and nobody waits for one
        (a plain call: nearly every execution finds one); False when it must `wait_turn`."""
        running = self._running.get(tenant_id, 0)
        if running >= self.concurrent or self._waiting.get(tenant_id):
            return False
        self._running[tenant_id] = running + 1
        return True

    async def wait_turn(self, tenant_id: str) -> None:
        """Wait until a slot is handed over (oldest waiter first); `Refused` when too many
        wait already or the wait outlasts `queue_wait_seconds`."""
        waiting = self._waiting.setdefault(tenant_id, deque())
        if len(waiting) >= self.queued:
            if not waiting:
                del self._waiting[tenant_id]
            raise self._refusal()
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await asyncio.wait_for(turn, self.queue_wait_seconds)
        except (TimeoutError, asyncio.CancelledError) as stopped:
            if turn.done() and not turn.cancelled():
                self.end_execution(tenant_id)  # the slot came as the wait ended: give it on
            else:
                self._forget_waiter(tenant_id, turn)
            if isinstance(stopped, TimeoutError):
                raise self._refusal() from None
            raise

    def end_execution(self, tenant_id: str) -> None:
        waiting = self._waiting.get(tenant_id)
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes to the oldest waiter
                if not waiting:
                    del self._waiting[tenant_id]
                return
        self._waiting.pop(tenant_id, None)
        running = self._running.get(tenant_id, 0) - 1
        if running <= 0:
            self._running.pop(tenant_id, None)
        else:
            self._running[tenant_id] = running

    def _forget_waiter(self, tenant_id: str, turn: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(tenant_id)
        if waiting is None:
            return
        with contextlib.suppress(ValueError):  # (handed its slot and gone already)
            waiting.remove(turn)
        if not waiting:
            del self._waiting[tenant_id]

    def _refusal(self) -> Refused:
        return Refused(
            f"too many executions at once for this tenant (limit {self.concurrent}, and "
            f"{self.queued} waiting)", 1)
