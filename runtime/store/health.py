"""Whether the store can take writes now: one small object its write path keeps current.

    value = await store.health.watch(the_write)   # in a backend's `write`

A write that fails because the storage refuses (`errors.storage_unavailable`: disk full, I/O
error, PostgreSQL unreachable, read-only) turns the state to "unavailable" with its cause and
is raised as `StorageUnavailable`; the next write that commits (at least SETTLE_SECONDS after
the last refusal) turns it back to "ok". There is no prober: the writes themselves are the
probe, so the service recovers as soon as the store does (nothing is refused on the strength
of the state alone), and a write that merely ran (a dry run, a refused domain rule) proves
nothing either way.

The log says so once per change of state, not once per request: a full disk under load would
otherwise write a line (or a traceback) per webhook. `/healthz` and the metrics read `state`,
`cause`, `since` and `refused_writes`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Literal, TypeVar

from runtime.store.errors import StorageUnavailable, storage_unavailable
from runtime.store.models import utc_now

log = logging.getLogger("runtime.storage")

T = TypeVar("T")

# What a 503 for unavailable storage tells a provider: try again in this many seconds. Long
# enough not to hammer a store being repaired, short enough that a PostgreSQL restart costs
# a provider one retry.
RETRY_AFTER_SECONDS = 30
# A write that commits within this long of a refusal does not end an outage: while a database
# goes down, writes on connections it has not cut yet still commit among the refused ones,
# and "recovered" / "unavailable" would alternate in the log.
SETTLE_SECONDS = 1.0

State = Literal["ok", "unavailable"]


class StorageHealth:
    def __init__(self, settle_seconds: float = SETTLE_SECONDS) -> None:
        self.settle_seconds = settle_seconds
        self.state: State = "ok"
        self.cause: str | None = None
        self.since: datetime = utc_now()
        self.refused_writes = 0  # writes that failed because the storage refused, ever
        self.outages = 0  # times the state turned to "unavailable"
        self._refused_in_outage = 0
        self._started = time.monotonic()
        self._last_refusal = 0.0

    @property
    def available(self) -> bool:
        return self.state == "ok"

    async def watch(self, write: Awaitable[T]) -> T:
        """Await a write, keeping the state current; storage refusals raise StorageUnavailable."""
        try:
            value = await write
        except Exception as error:
            unavailable = storage_unavailable(error)
            if unavailable is None:
                raise
            self.refused(unavailable.cause)
            if unavailable is error:
                raise
            raise unavailable from error
        if self.state != "ok" and time.monotonic() - self._last_refusal >= self.settle_seconds:
            self.recovered()
        return value

    def refused(self, cause: str) -> None:
        self.refused_writes += 1
        self._refused_in_outage += 1
        self._last_refusal = time.monotonic()
        if self.state == "unavailable":
            self.cause = cause  # the latest reason, without another log line
            return
        self.state, self.cause, self.since = "unavailable", cause, utc_now()
        self.outages += 1
        self._started = time.monotonic()
        log.error("storage unavailable: %s; webhooks and API writes are answered 503 "
                  "(Retry-After: %d) until a write succeeds again", cause, RETRY_AFTER_SECONDS)

    def recovered(self) -> None:
        log.warning("storage recovered after %.1f s (was: %s); %d writes were refused",
                    time.monotonic() - self._started, self.cause, self._refused_in_outage)
        self.state, self.cause, self.since = "ok", None, utc_now()
        self._refused_in_outage = 0
        self._started = time.monotonic()

    def to_json(self) -> dict[str, object]:
        return {"status": self.state, "cause": self.cause, "since": self.since.isoformat()}


__all__ = ["RETRY_AFTER_SECONDS", "StorageHealth", "StorageUnavailable"]
