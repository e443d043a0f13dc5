"""Whether the store can take writes now: one small object its write path keeps current.

    value = await store.health.watch(the_write)   # in a backend's `write`
    await store.health.refresh(store.probe)       # in /healthz and /metrics

A write that fails because the storage refuses (`errors.storage_unavailable`: disk full, I/O
error, PostgreSQL unreachable, read-only) turns the state to "unavailable" with its cause and
is raised as `StorageUnavailable` (a refusal of that one write only, such as a lock wait that
timed out on a row another session holds, is raised too, and leaves the state as it is); the
next write that commits (at least SETTLE_SECONDS after the last refusal) turns it back to
"ok". On a busy node the writes themselves are the probe, so the service recovers as soon as
the store does (nothing is refused on the strength of the state alone), and a write that
merely ran (a dry run, a refused domain rule) proves nothing either way.

An idle node has no writes to tell: there `refresh` asks the database itself (the backend's
`probe`, a round trip with a PROBE_TIMEOUT_SECONDS deadline) when nothing has told the state
for PROBE_AFTER_SECONDS, so a node without webhooks notices its database gone, and back, as
its health checker polls. Concurrent checks share one probe; a busy node never probes.

The log says so once per change of state, not once per request: a full disk under load would
otherwise write a line (or a traceback) per webhook. `/healthz` and the metrics read `state`,
`cause`, `since` and `refused_writes`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal, TypeVar

from runtime.store.errors import StorageUnavailable, StoreClosed, storage_unavailable
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
# An idle node asks the database when nothing told the state for this long: often enough for a
# health checker polling every few seconds, rare enough to cost nothing.
PROBE_AFTER_SECONDS = 5.0
# A database that does not answer a trivial query within this long is as good as down (a
# dropped network hangs rather than refuses); /healthz answers within it.
PROBE_TIMEOUT_SECONDS = 2.0

State = Literal["ok", "unavailable"]


class StorageHealth:
    def __init__(self, settle_seconds: float = SETTLE_SECONDS,
                 probe_after_seconds: float = PROBE_AFTER_SECONDS,
                 probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> None:
        self.settle_seconds = settle_seconds
        self.probe_after_seconds = probe_after_seconds
        self.probe_timeout_seconds = probe_timeout_seconds
        self.probes = 0  # round trips `refresh` made, ever
        self._told = time.monotonic()  # when a write or a probe last told the state
        self._probing: asyncio.Task[None] | None = None
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
            if not unavailable.this_write_only:
                self.refused(unavailable.cause)
            if unavailable is error:
                raise
            raise unavailable from error
        self._answered()
        return value

    async def refresh(self, probe: Callable[[], Awaitable[None]]) -> None:
        """Bring the state up to date with `probe` when nothing told it lately (an idle node).

        `probe` is the backend's round trip to the database; it raises what the database
        raises. Never raises itself: the state says what the probe found."""
        if self._probing is None:
            if time.monotonic() - self._told < self.probe_after_seconds:
                return
            self._probing = asyncio.ensure_future(self._probe(probe))
            self._probing.add_done_callback(self._probed)
        # Shielded: a health checker that hangs up does not cancel the probe the others await.
        await asyncio.shield(self._probing)

    def _probed(self, _: asyncio.Task[None]) -> None:
        self._probing = None

    async def _probe(self, probe: Callable[[], Awaitable[None]]) -> None:
        self.probes += 1
        try:
            await asyncio.wait_for(probe(), self.probe_timeout_seconds)
        except StoreClosed:
            return  # shutting down: nothing to learn about the database
        except TimeoutError:
            self.refused(f"the database did not answer within "
                         f"{self.probe_timeout_seconds:g} s", write=False)
        except Exception as error:
            unavailable = storage_unavailable(error)
            if unavailable is None:
                # Not the storage refusing: a bug of the probe's. Said, and the state left
                # as it was (the writes will tell).
                log.exception("the storage probe failed")
                self._told = time.monotonic()
                return
            self.refused(unavailable.cause, write=False)
        else:
            self._answered()

    def _answered(self) -> None:
        """The database took a write, or answered a probe."""
        self._told = time.monotonic()
        if self.state != "ok" and self._told - self._last_refusal >= self.settle_seconds:
            self.recovered()

    def refused(self, cause: str, *, write: bool = True) -> None:
        """The storage refused a write (or, `write=False`, a probe)."""
        if write:
            self.refused_writes += 1
            self._refused_in_outage += 1
        self._last_refusal = self._told = time.monotonic()
        if self.state == "unavailable":
            self.cause = cause  # the latest reason, without another log line
            return
        self.state, self.cause, self.since = "unavailable", cause, utc_now()
        self.outages += 1
        self._started = time.monotonic()
        log.error("storage unavailable: %s; webhooks and API writes are answered 503 "
                  "(Retry-After: %d) until the database takes writes again", cause,
                  RETRY_AFTER_SECONDS)

    def recovered(self) -> None:
        log.warning("storage recovered after %.1f s (was: %s); %d writes were refused",
                    time.monotonic() - self._started, self.cause, self._refused_in_outage)
        self.state, self.cause, self.since = "ok", None, utc_now()
        self._refused_in_outage = 0
        self._started = time.monotonic()

    def to_json(self) -> dict[str, object]:
        return {"status": self.state, "cause": self.cause, "since": self.since.isoformat()}


__all__ = ["PROBE_AFTER_SECONDS", "RETRY_AFTER_SECONDS", "StorageHealth", "StorageUnavailable"]
