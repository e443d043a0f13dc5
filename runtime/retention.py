"""The pruner: a background task that bounds the history the service keeps.

Each pass, module by module (those with executions to roll up or prune: a quiet module costs
nothing), rolls the module's new executions up into usage slots (so usage
per day outlives the log), then deletes its executions older than `retention.executions_days`
or beyond its newest `executions_per_module`, and its oldest while the log's captured text
is over `executions_mib_per_module`; then it notes the modules' storage in use for
the day (every ten minutes), deletes usage older than `usage_days`, the notifications and
call history events past their own ages, and the click-to-call forms posted longer ago than a
console session lives (DIAL_FORMS_KEPT), the console sign-outs whose sessions would have
expired by now, user tokens and API keys revoked longer ago than `revoked_credentials_days`,
and module storage keys whose `ttl` has passed. When `calls_days` is set, tenant by tenant,
the calls last changed longer ago go, with their history and activity (CALLS_PER_BATCH
calls a batch: each takes its rows along). Contacts are never touched.

Every step is one unit of at most `batch_rows` rows (runtime/store/retention.py picks them
through an index), followed, when it changed something, by a pause of `batch_pause_ms`: on
SQLite the writer is shared with webhooks, and a batch holds it for a few milliseconds; the
pause also bounds how fast deletions fill the WAL, whose checkpoints hold the writer longer.
A pass repeats a step while its batches come back full, then moves on; passes follow each
other every `interval_seconds`. On PostgreSQL each batch tries the retention lock first (without
waiting): while another node holds it, this node skips the pass, so nodes do not both prune.

`close()` stops after the batch in progress (nothing is left half done: each batch is one
transaction), waiting for it at most CLOSE_WAIT_SECONDS: a batch whose database stopped
answering (a dropped network, a hung host) would otherwise hold a stopping service for good,
since the store, which bounds its own wait for such units, closes after the pruner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from runtime.config import RetentionConfig
from runtime.store import Store, Tx
from runtime.store.errors import StorageUnavailable
from runtime.store.models import MIB, utc_now
from runtime.store.retention import ROLLUP_MARGIN

log = logging.getLogger("runtime.retention")

# How often the modules' storage in use is noted for the usage page (the day's last note is
# the day's figure): one statement over every module with storage.
SNAPSHOT_EVERY = timedelta(minutes=10)

# Click-to-call's once-only rule keeps each posted call form (runtime/console/dial_once.py)
# while it could be posted again: as long as a console session lives (console/session.py's
# LIFETIME_SECONDS; a test holds the two equal), since its nonce is good for that session only.
DIAL_FORMS_KEPT = timedelta(hours=12)

# The metric's label for each kind of row.
EXECUTIONS, NOTIFICATIONS, CALL_EVENTS, USAGE, DIAL_FORMS, SIGNED_OUT, STORAGE, CALLS = (
    "executions", "notifications", "call_events", "usage", "dial_forms", "signed_out",
    "storage", "calls")
REVOKED = "revoked_credentials"


# At close: how long the batch in progress may take to end. A batch takes milliseconds; one
# still running after this waits on a database that does not answer. The pruner then stops
# waiting for it, and the batch's unit is the store's to finish or abandon as it closes
# (store.write does not cancel a started unit when its caller goes away).
CLOSE_WAIT_SECONDS = 2.0

# The SQLite file's free pages are given back to the filesystem (store/retention.py's
# release_free_pages) only beyond this much, or an eighth of the file (rows written later
# reuse them), and this many at a time: moving a page from the file's end costs a few page
# writes, so a batch holds the writer a few milliseconds, as a batch of rows does.
RELEASE_FREE_BYTES_OVER = 64 * 1024 * 1024
FREE_PAGES_PER_BATCH = 256

# A call deleted takes its history events, whom it rang, its notifications and its activity
# entry along (a dozen rows or more for a call that rang a group): a batch of calls is this
# fraction of batch_rows, so it holds the SQLite writer about as long as other batches do.
CALLS_PER_BATCH = 10


class NotOurTurn(Exception):
    """Another node holds the retention lock: this pass is theirs."""


@dataclass(slots=True)
class PassReport:
    """What one pass did: rows deleted by kind, executions rolled up, batches run."""

    deleted: dict[str, int] = field(default_factory=dict)
    rolled_up: int = 0
    batches: int = 0
    released_pages: int = 0  # SQLite's free pages given back to the filesystem
    skipped: bool = False  # another node's turn

    def count(self, kind: str, rows: int) -> None:
        if rows:
            self.deleted[kind] = self.deleted.get(kind, 0) + rows


class Pruner:
    def __init__(self, store: Store, config: RetentionConfig, *,
                 pruned: Counter | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.config = config
        self.pruned = pruned
        self.clock = clock
        self.passes = 0
        self._snapshot_at: datetime | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="retention")

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_WAIT_SECONDS)
        if not done:
            log.warning("closing: the retention batch still waiting for the store after %g s "
                        "was left to the store", CLOSE_WAIT_SECONDS)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = await self.run_pass()
                if report.deleted or report.released_pages:
                    log.info("retention pass: deleted %s; rolled up %d execution(s) in %d "
                             "batch(es); released %d free page(s) of the database file",
                             ", ".join(f"{n} {kind}" for kind, n in
                                       sorted(report.deleted.items())) or "nothing",
                             report.rolled_up, report.batches, report.released_pages)
            except StorageUnavailable as error:
                # The storage refusing writes (disk full, database away) ends the pass; the
                # next one tries again. Expected, and the storage's own log says it: one line.
                log.warning("retention pass stopped: %s; the next pass tries again", error)
            except Exception:
                log.exception("retention pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.config.interval_seconds)

    async def run_pass(self) -> PassReport:
        """One pass over everything (tests call it directly); stops early on `close()`."""
        report = PassReport()
        try:
            await self._pass(report)
        except NotOurTurn:
            report.skipped = True
        self.passes += 1
        return report

    async def _batch(self, report: PassReport,
                     step: Callable[[Tx], Awaitable[int]]) -> int:
        async def unit(tx: Tx) -> int:
            if not await tx.retention_turn():
                raise NotOurTurn
            return await step(tx)

        done = await self.store.write(unit)
        report.batches += 1
        # A batch that found nothing to do costs the writer next to nothing: no pause.
        await asyncio.sleep(self.config.batch_pause_ms / 1000 if done else 0)
        return done

    async def _drain(self, report: PassReport, kind: str | None,
                     step: Callable[[Tx], Awaitable[int]], limit: int | None = None) -> int:
        """Run `step` in batches while they come back full, `limit` rows (batch_rows by
        default), and we are not stopping."""
        total = 0
        limit = self.config.batch_rows if limit is None else limit
        while not self._stop.is_set():
            done = await self._batch(report, step)
            total += done
            if kind is not None and done:
                report.count(kind, done)
                if self.pruned is not None:
                    self.pruned.labels(kind).inc(done)
            if done < limit:
                break
        return total

    async def _pass(self, report: PassReport) -> None:
        c = self.config
        limit = c.batch_rows
        now = self.clock()
        ids: list[str] = []

        until = now - ROLLUP_MARGIN
        executions_before = now - timedelta(days=c.executions_days)
        usage_before = now - timedelta(days=c.usage_days)
        keep_bytes = (None if c.executions_mib_per_module is None
                      else c.executions_mib_per_module * MIB)

        async def list_ids(tx: Tx) -> int:
            # Only the modules with work: quiet ones cost no unit (store/retention.py).
            # Replaced, not extended: a unit may run again (PostgreSQL retries one that met a
            # deadlock or a serialization failure: store/base.py).
            ids[:] = await tx.retention_module_ids(until, executions_before,
                                                   c.executions_per_module, keep_bytes)
            return len(ids)

        await self._batch(report, list_ids)
        for module_id in ids:
            if self._stop.is_set():
                return

            async def roll_up(tx: Tx, m: str = module_id) -> int:
                return await tx.roll_up_usage(m, until, limit)

            async def executions(tx: Tx, m: str = module_id) -> int:
                return await tx.prune_executions(m, executions_before,
                                                 c.executions_per_module, limit, keep_bytes)

            # Rolled up first: only rolled-up executions may go.
            report.rolled_up += await self._drain(report, None, roll_up)
            await self._drain(report, EXECUTIONS, executions)
        if self._stop.is_set():
            return
        if self._snapshot_at is None or now - self._snapshot_at >= SNAPSHOT_EVERY:
            day = now.astimezone(UTC).date()

            async def snapshot(tx: Tx) -> int:
                await tx.snapshot_storage(day)
                return 0

            await self._batch(report, snapshot)
            self._snapshot_at = now

        async def usage(tx: Tx) -> int:
            return await tx.prune_usage(usage_before, limit)

        await self._drain(report, USAGE, usage)
        await self._drain(report, NOTIFICATIONS, lambda tx: tx.prune_notifications(
            now - timedelta(days=c.notifications_days), limit))
        await self._drain(report, CALL_EVENTS, lambda tx: tx.prune_call_events(
            now - timedelta(days=c.call_events_days), limit))
        if c.calls_days is not None:
            await self._prune_calls(report, now - timedelta(days=c.calls_days))
        await self._drain(report, DIAL_FORMS, lambda tx: tx.prune_dial_once(
            now - DIAL_FORMS_KEPT, limit))
        # Console sign-outs are kept until their sessions would have expired anyway.
        await self._drain(report, SIGNED_OUT, lambda tx: tx.prune_signed_out(now, limit))
        await self._drain(report, REVOKED, lambda tx: tx.prune_revoked_credentials(
            now - timedelta(days=c.revoked_credentials_days), limit))
        # Expired module storage: `get` no longer sees it, but it counted as storage in use,
        # and stayed in the database, until a write found its module full.
        await self._drain(report, STORAGE, lambda tx: tx.prune_expired_storage(now, limit))
        # Last, the room all this freed, beyond what new rows will reuse soon (SQLite).
        report.released_pages += await self._drain(
            report, None, lambda tx: tx.release_free_pages(RELEASE_FREE_BYTES_OVER,
                                                           FREE_PAGES_PER_BATCH),
            FREE_PAGES_PER_BATCH)

    async def _prune_calls(self, report: PassReport, before: datetime) -> None:
        tenants: list[str] = []

        async def list_tenants(tx: Tx) -> int:
            tenants[:] = await tx.retention_tenant_ids(before)  # (replaced, as ids in _pass)
            return len(tenants)

        await self._batch(report, list_tenants)
        limit = max(1, self.config.batch_rows // CALLS_PER_BATCH)
        for tenant_id in tenants:
            if self._stop.is_set():
                return

            async def calls(tx: Tx, t: str = tenant_id) -> int:
                return await tx.prune_calls(t, before, limit)

            await self._drain(report, CALLS, calls, limit)
