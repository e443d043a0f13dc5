"""Group commit over one SQLite connection: the single writer of the database.

Callers submit units of work; one writer task on the event loop takes every queued unit (plus
those arriving within `commit_window` seconds), runs them in ONE transaction, each inside its
own SAVEPOINT (through `tx.run_unit`, which sends the unit's queued writes as it ends), then
COMMITs in a dedicated thread (the fsync must not block the loop) and only
then resolves the callers' futures. A unit that raises is rolled back to its savepoint alone; a
dry-run unit is always rolled back to its savepoint. One fsync per batch instead of per request.

Only the writer task touches the connection (the commit thread uses it while the task awaits the
commit, never at the same time), which is why the connection may be opened with
check_same_thread=False.

BEGIN IMMEDIATE runs on the loop, with no busy wait: the service is normally the only writer of
its file, so the write lock is free and the statement takes tens of microseconds, where a hop to
the commit thread and back took 1.6 ms at p50 under load (the thread must win the GIL from a
busy loop, and wake it again) and about 300 µs of CPU per batch when idle. Only when another
connection holds the lock (a second process on the same file) does the writer wait for it, in
the commit thread, for up to the busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime.store.errors import NestedWrite, StorageUnavailable, StoreClosed, StoreError
from runtime.store.models import StoreStats
from runtime.store.sqlite_file import DatabaseFile
from runtime.store.tx import SqlTx, run_unit

T = TypeVar("T")
Unit = Callable[[Any], Awaitable[Any]]

# Set while the writer task runs units: a nested store.write would wait for itself forever.
_IN_WRITER: contextvars.ContextVar[bool] = contextvars.ContextVar("in_writer", default=False)


@dataclass(slots=True)
class _Job:
    unit: Unit
    dry: bool
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Counters:
    batches: int = 0
    units: int = 0
    failed_units: int = 0
    dry_runs: int = 0
    largest_batch: int = 0


_STOP = object()

# Every unit's savepoint has the one name: a unit's is released (or rolled back and released)
# before the next one opens, and a name refers to the latest savepoint holding it. Named by
# the unit's place in the batch, a batch of n units ran 2n different statement texts: past
# about 60 units (webhooks.py's concurrency is 64) they outnumbered the connection's cache
# of prepared statements (128, least recently used first out), so each batch prepared every
# savepoint statement again, and pushed out those its units run less often than once each
# (BEGIN, COMMIT, an answered call's writes). One name: two texts, always prepared.
_SAVEPOINT = "SAVEPOINT unit"
_RELEASE = "RELEASE unit"
_ROLLBACK_TO = "ROLLBACK TO unit"


class GroupCommitWriter:
    def __init__(self, conn: sqlite3.Connection, tx: SqlTx, *, commit_window: float,
                 max_batch: int, busy_timeout: float, file: DatabaseFile) -> None:
        self._conn = conn
        self._file = file
        self._busy_timeout = busy_timeout
        # The writer waits for the lock itself (see _begin); SQLite's own busy handler would
        # sleep on the loop. Set back for whoever uses the connection after close().
        conn.execute("PRAGMA busy_timeout = 0")
        self._tx = tx
        self._window = commit_window
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job | object] = asyncio.Queue()
        self._closed = False
        self._counters = _Counters()
        # One thread for BEGIN/COMMIT: they may wait on locks or fsync.
        self._sync = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        # Kept: `asyncio.get_running_loop()` makes a system call on Python 3.11 (getpid, to
        # notice a fork), and every write asked for it.
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="sqlite-writer")

    async def submit(self, unit: Callable[[Any], Awaitable[T]], *, dry: bool) -> T:
        if _IN_WRITER.get():
            raise NestedWrite("store.write/dry_run called inside a unit of work")
        if self._closed:
            raise StoreClosed("the store is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put_nowait(_Job(unit, dry, future))
        return await future

    def stats(self) -> StoreStats:
        c = self._counters
        return StoreStats(batches=c.batches, units=c.units, failed_units=c.failed_units,
                          dry_runs=c.dry_runs, largest_batch=c.largest_batch)

    async def close(self) -> None:
        """Refuse new units, finish every queued one, stop the task and the commit thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_STOP)
        try:
            await self._task
        finally:
            self._sync.shutdown(wait=True)
            self._conn.execute(f"PRAGMA busy_timeout = {round(self._busy_timeout * 1000)}")

    # --- the writer task ------------------------------------------------------------------

    async def _run(self) -> None:
        _IN_WRITER.set(True)
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            if self._window > 0:
                await asyncio.sleep(self._window)
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            jobs = [j for j in batch if isinstance(j, _Job) and not j.future.done()]
            if jobs:
                try:
                    await self._run_batch(jobs)
                except Exception as exc:  # a bug or a broken connection: never hang callers
                    if self._conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):  # the task must live on
                            self._conn.execute("ROLLBACK")
                    for job in jobs:
                        _fail(job, exc)

    async def _in_thread(self, sql: str) -> None:
        await self._loop.run_in_executor(self._sync, self._conn.execute, sql)

    def _commit(self) -> None:
        """In the commit thread: COMMIT, then make sure it went into the database file.
        After the commit, so a file removed while it ran is caught too."""
        self._conn.execute("COMMIT")
        self._file.check()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE: take the write lock now, on the loop when it is free (see above)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            await self._loop.run_in_executor(self._sync, self._begin_waiting)

    def _begin_waiting(self) -> None:
        """In the commit thread: retry BEGIN IMMEDIATE until the other writer lets go, backing
        off from 1 ms to 50 ms, for up to the busy timeout (then SQLite's 'database is locked'
        reaches the batch's callers)."""
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.001
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _run_batch(self, jobs: list[_Job]) -> None:
        try:
            await self._begin()
        except sqlite3.Error as exc:
            for job in jobs:
                _fail(job, exc)
            return
        done: list[tuple[_Job, Any]] = []
        for index, job in enumerate(jobs):
            self._conn.execute(_SAVEPOINT)
            try:
                value = await run_unit(self._tx, job.unit)
            except Exception as exc:
                self._counters.failed_units += 1
                if not self._rollback_unit():
                    # SQLite aborted the whole transaction (I/O error, disk full): what ran
                    # before is lost; fail those, retry the rest in a fresh transaction.
                    _fail(job, exc)
                    lost = StoreError(f"batch aborted by another unit's error: {exc!r}")
                    lost.__cause__ = exc  # so a full disk reads as such (errors.py)
                    for earlier, _ in done:
                        _fail(earlier, lost)
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    if index + 1 < len(jobs):
                        await self._run_batch(jobs[index + 1:])
                    return
                _fail(job, exc)
                continue
            except BaseException:
                # The writer itself is being cancelled: nothing of this batch commits.
                self._conn.execute("ROLLBACK")
                for j in jobs:
                    if not j.future.done():
                        j.future.cancel()
                raise
            if job.dry:
                self._counters.dry_runs += 1
                self._rollback_unit()
            else:
                self._conn.execute(_RELEASE)
            done.append((job, value))
        try:
            await self._loop.run_in_executor(self._sync, self._commit)
        except (sqlite3.Error, StorageUnavailable) as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            for job, value in done:
                if job.dry:
                    _succeed(job, value)
                else:
                    _fail(job, exc)
            return
        c = self._counters
        c.batches += 1
        c.units += len(jobs)
        c.largest_batch = max(c.largest_batch, len(jobs))
        for job, value in done:
            _succeed(job, value)

    def _rollback_unit(self) -> bool:
        """Undo the running unit's savepoint; False when SQLite aborted the whole
        transaction."""
        try:
            self._conn.execute(_ROLLBACK_TO)
            self._conn.execute(_RELEASE)
        except sqlite3.Error:
            return False
        return True


def _busy(exc: sqlite3.OperationalError) -> bool:
    # The extended codes (SQLITE_BUSY_RECOVERY, ...) carry SQLITE_BUSY in their low byte.
    return (exc.sqlite_errorcode & 0xFF) == sqlite3.SQLITE_BUSY


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)


def _succeed(job: _Job, value: Any) -> None:
    if not job.future.done():
        job.future.set_result(value)
