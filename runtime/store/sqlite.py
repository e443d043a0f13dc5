"""`SqliteStore`: the embedded backend of `Store`.

    store = await SqliteStore.open(data_dir / "runtime.db")
    ...
    await store.close()

One writer connection (WAL, synchronous=FULL, foreign keys on) owned by a group-commit
writer task (`sqlite_writer.py`), running every unit through one `SqlTx` over a synchronous
port (a statement takes microseconds there; awaiting it costs no trip through the event
loop); reads for the API run on separate read-only connections in a small thread pool, so a
slow listing never blocks the event loop and never waits for the writer (WAL lets readers
see the last commit while a write transaction is open). A write that returned is visible to
every read started after it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from runtime.data_at_rest import create_private_file, restrict_database_files
from runtime.store.base import Tx
from runtime.store.errors import DatabaseRefused, StorageUnavailable, StoreClosed
from runtime.store.locks import Locks
from runtime.store.migrate import apply_migrations, refuse_unknown_database
from runtime.store.models import StoreStats, utc_now
from runtime.store.port import SqlitePort, run_sync
from runtime.store.queries import Reads
from runtime.store.reads import Query, QueryReads
from runtime.store.sqlite_file import DatabaseFile
from runtime.store.sqlite_writer import GroupCommitWriter
from runtime.store.tx import SqlTx
from runtime.store.writes import sqlite_unit_writes_sql

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
WAL_SIZE_LIMIT = 16 * 1024 * 1024


def unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/SAVEPOINT/COMMIT ourselves (the sqlite3 module's
    # implicit transactions would fight the writer's batching).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    # The dialect's {fold}: searching contacts by name in any case, Cyrillic included.
    conn.create_function("unicode_lower", 1, unicode_lower, deterministic=True)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk when COMMIT returns (WAL's NORMAL may lose the last ones
        # on power loss), since a webhook is answered only after its effects are durable.
        conn.execute("PRAGMA synchronous = FULL")
        # The WAL file keeps the size of the largest transaction it ever held (a tenant's
        # deletion batch, a retention batch of large executions: hundreds of MB) until the
        # service stops; with a limit, a checkpoint that empties it cuts it back to this.
        # Above what checkpoints let it reach in normal running (about 4 MiB), so not cut
        # back and grown again all the time.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        # Each unit of a group commit runs in a savepoint, whose journal (the pages it changed,
        # as they were) SQLite spills to a temporary file past 64 KiB: a new call's unit
        # passes that, so most batches made a file, unlinked it and wrote it page by page (two
        # system calls a page, more than half of the writer's writes) on the event loop's
        # thread. In memory, it holds one unit's pages at most: releasing a savepoint inside
        # the batch's transaction empties it. (Only the writer: the readers' sorts of large
        # lists keep their files.)
        conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def filesystem_takes_writes(directory: Path) -> None:
    """StorageUnavailable when the filesystem holding `directory` is read-only or full."""
    fs = os.statvfs(directory)
    if fs.f_flag & os.ST_RDONLY:
        raise StorageUnavailable("the database is read-only",
                                 f"the filesystem of {directory} is mounted read-only")
    # root may write into the blocks reserved for it; anyone else only into the available ones.
    free = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail
    if free == 0:
        raise StorageUnavailable("disk full", f"no free space on the filesystem of {directory}")


def backup_database(path: Path, target: Path) -> None:
    """Copy the database at `path` into the empty file `target`, consistently, while the
    service may be writing it: SQLite's online backup API reads one snapshot (a read
    transaction in WAL mode never blocks the writer, nor is it blocked). The copy is one
    self-contained file (rollback journal, not WAL)."""
    source = _connect(path, read_only=True)
    try:
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            source.backup(copy)  # all pages in one step: one snapshot
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()
    finally:
        source.close()


class SqliteStore(QueryReads):
    def __init__(self, path: Path, writer_conn: sqlite3.Connection, *, commit_window: float,
                 max_batch: int, readers: int, clock: Callable[[], datetime],
                 busy_timeout: float) -> None:
        self.path = path
        self._file = DatabaseFile(path)
        self._writer_conn = writer_conn
        self._writer = GroupCommitWriter(writer_conn,
                                         SqlTx(SqlitePort(writer_conn), Locks(), clock),
                                         commit_window=commit_window, max_batch=max_batch,
                                         busy_timeout=busy_timeout, file=self._file)
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, commit_window: float = 0.002,
                   max_batch: int = 1000, readers: int = 2,
                   clock: Callable[[], datetime] = utc_now,
                   busy_timeout: float = BUSY_TIMEOUT_MS / 1000) -> SqliteStore:
        """Open (creating if needed) and migrate the database at `path`.

        commit_window: seconds the writer waits after the first queued unit to gather more into
        the same commit (0 = commit whatever is queued right away). max_batch bounds a batch.
        clock: the time management writes are stamped with (tests pass a fake one).
        busy_timeout: seconds a batch waits for another process's write lock on the file.
        """
        path = Path(path)
        # Private from the first start: only the service's user reads tenants' secrets or
        # locks the files (SQLite gives -wal and -shm the database file's mode).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private_file(path)
        restrict_database_files(path)

        def prepare() -> sqlite3.Connection:
            refuse_unknown_database(path)
            try:
                conn = _connect(path, read_only=False)
            except sqlite3.Error as error:
                raise DatabaseRefused(f"cannot open the database {path}: {error}") from error
            try:
                apply_migrations(conn)
                for statement in sqlite_unit_writes_sql():  # the views units write through
                    conn.execute(statement)
            except sqlite3.Error as error:  # a corrupt page, a full disk: say which, and stop
                conn.close()
                raise DatabaseRefused(f"cannot prepare the database {path}: {error}") from error
            except BaseException:
                conn.close()
                raise
            return conn

        conn = await asyncio.get_running_loop().run_in_executor(None, prepare)
        return cls(path, conn, commit_window=commit_window, max_batch=max_batch,
                   readers=readers, clock=clock, busy_timeout=busy_timeout)

    # --- units of work --------------------------------------------------------------------

    async def write(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        return await self.health.watch(self._writer.submit(unit, dry=False))

    async def dry_run(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        return await self._writer.submit(unit, dry=True)

    def stats(self) -> StoreStats:
        return self._writer.stats()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writer.close()
        await asyncio.get_running_loop().run_in_executor(None, self._readers.shutdown, True)
        for conn in self._read_conns:
            conn.close()
        # A last checkpoint folds the WAL into the main file (tidy, and quick to reopen).
        try:
            self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._writer_conn.close()

    async def probe(self) -> None:
        """The database file is still in place, the filesystem under it still takes writes
        (not remounted read-only, not full), and a reader gets an answer: on an idle node
        nothing else would say so before the next webhook's write fails."""
        await asyncio.to_thread(self._file.check)
        await asyncio.to_thread(filesystem_takes_writes, self.path.parent)
        await super().probe()

    # --- reads ----------------------------------------------------------------------------

    def _reader(self) -> Reads:
        reads: Reads | None = getattr(self._local, "reads", None)
        if reads is None:
            conn = _connect(self.path, read_only=True)
            reads = self._local.reads = Reads(SqlitePort(conn))
            with self._read_lock:
                self._read_conns.append(conn)
        return reads

    async def _read(self, query: Query, *args: Any) -> Any:
        if self._closed:
            raise StoreClosed("the store is closed")

        def run() -> Any:
            # The query's coroutine never suspends on a SqlitePort: run it here, in the thread.
            return run_sync(query(self._reader(), *args))

        return await asyncio.get_running_loop().run_in_executor(self._readers, partial(run))
