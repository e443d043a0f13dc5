"""Per-tenant webhook rate and concurrent-execution limits (one tenant cannot fill the pool).

Kept in each node's memory: with several nodes, each enforces the configured figures on the
traffic it receives (see README, "Several nodes").
"""

from __future__ import annotations

import math
import time
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


class Refused(Exception):
    """A tenant went over a limit; `retry_after` is whole seconds for the Retry-After header."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class TenantLimiter:
    def __init__(self, rate: float, burst: int, concurrent: int) -> None:
        self.rate = rate
        self.burst = burst
        self.concurrent = concurrent
        self._buckets: dict[str, TokenBucket] = {}
        self._running: dict[str, int] = {}

    def admit_webhook(self, tenant_id: str) -> None:
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = TokenBucket(self.rate, float(self.burst))
        wait = bucket.take()
        if wait:
            raise Refused(f"webhook rate limit of {self.rate:g}/s exceeded", wait)

    def begin_execution(self, tenant_id: str) -> None:
        running = self._running.get(tenant_id, 0)
        if running >= self.concurrent:
            raise Refused(
                f"too many executions at once for this tenant (limit {self.concurrent})", 1
            )
        self._running[tenant_id] = running + 1

    def end_execution(self, tenant_id: str) -> None:
        running = self._running.get(tenant_id, 0) - 1
        if running <= 0:
            self._running.pop(tenant_id, None)
        else:
            self._running[tenant_id] = running
