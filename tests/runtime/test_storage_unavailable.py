"""Which driver errors mean "the storage refuses" (-> StorageUnavailable, 503) and which do not
(a broken rule, a bug): real errors from real SQLite and PostgreSQL, and the health object's
changes of state, each logged once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from runtime.store import health as health_module
from runtime.store.errors import StorageUnavailable, StoreError, storage_unavailable
from runtime.store.health import StorageHealth
from runtime.store.postgres import PostgresStore, map_error  # the backend's own seam
from tests.e2e.crash_support import free_port
from tests.pg import postgres_url
from tests.runtime.test_storage_probe import Clock


def sqlite_error(path: str, sql: str) -> sqlite3.Error:
    try:
        conn = sqlite3.connect(path)
        conn.execute(sql)
    except sqlite3.Error as error:
        return error
    raise AssertionError("no error")


def mapped(driver: Exception) -> StoreError:
    """The store's error for a driver error, raised from it as the backend's seam does."""
    try:
        raise map_error(driver) from driver
    except StoreError as error:
        return error


def test_sqlite_cannot_open_and_not_a_database_are_unavailable(tmp_path: Path) -> None:
    error = sqlite_error(str(tmp_path / "missing-dir" / "x.db"), "SELECT 1")
    assert (found := storage_unavailable(error)) is not None
    assert found.cause == "cannot open the database file"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 500)
    found = storage_unavailable(sqlite_error(str(garbage), "SELECT * FROM sqlite_master"))
    assert found is not None and "not a database" in found.cause


def test_sqlite_broken_rules_are_not_unavailable(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "rules.db")
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as constraint:
        conn.execute("INSERT INTO t VALUES (1)")
    assert storage_unavailable(constraint.value) is None
    with pytest.raises(sqlite3.OperationalError) as syntax:
        conn.execute("SELEC 1")
    assert storage_unavailable(syntax.value) is None


def test_a_store_error_raised_from_a_refusal_is_one_too(tmp_path: Path) -> None:
    driver = sqlite_error(str(tmp_path / "missing-dir" / "x.db"), "SELECT 1")
    try:
        raise StoreError("batch aborted by another unit's error") from driver
    except StoreError as wrapped:
        found = storage_unavailable(wrapped)
    assert found is not None and found.cause == "cannot open the database file"


async def test_postgres_refused_connection_is_unavailable() -> None:
    with pytest.raises(StoreError) as refused:
        await PostgresStore.open(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    found = storage_unavailable(refused.value)
    assert found is not None and found.cause == "database unreachable"


async def test_postgres_read_only_is_unavailable_and_unique_violation_is_not() -> None:
    conn = await asyncpg.connect(await postgres_url())
    table = f"voip_probe_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute("CREATE TEMP TABLE t (x int PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(asyncpg.UniqueViolationError) as unique:
            await conn.execute("INSERT INTO t VALUES (1)")
        assert storage_unavailable(mapped(unique.value)) is None
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError) as read_only:
            async with conn.transaction(readonly=True):
                await conn.execute(f"CREATE TABLE {table} (x int)")
        found = storage_unavailable(mapped(read_only.value))
        assert found is not None and found.cause == "PostgreSQL is read-only"
    finally:
        await conn.close()


async def test_health_logs_each_change_of_state_once(caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The settling time on the test's clock: a machine stalled 0.3 s after a refusal made
    # the commit "among refusals" end the outage.
    clock = Clock()
    monkeypatch.setattr(health_module, "time", clock)
    health = StorageHealth(settle_seconds=0.3)
    caplog.set_level(logging.INFO, "runtime.storage")

    async def refused() -> None:
        raise sqlite_error("/nonexistent-dir/x.db", "SELECT 1")

    async def committed() -> str:
        return "done"

    for _ in range(5):
        with pytest.raises(StorageUnavailable):
            await health.watch(refused())
    assert (health.state, health.cause, health.refused_writes) == (
        "unavailable", "cannot open the database file", 5)
    # A commit among refusals (a connection the database has not cut yet) ends nothing.
    assert await health.watch(committed()) == "done"
    assert not health.available
    with pytest.raises(StorageUnavailable):
        await health.watch(refused())
    clock.advance(0.4)
    assert await health.watch(committed()) == "done"
    assert await health.watch(committed()) == "done"
    assert health.available and health.cause is None and health.outages == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("storage unavailable: cannot open the database file")
    assert messages[1].startswith("storage recovered") and "6 writes were refused" in messages[1]


async def test_health_lets_other_errors_through_unchanged() -> None:
    health = StorageHealth()

    async def bug() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await health.watch(bug())
    assert health.available and health.refused_writes == 0


async def raising(error: Exception) -> None:
    raise error


async def test_postgres_lock_timeout_and_cancel_refuse_that_write_and_leave_health_ok() -> None:
    """A lock wait past lock_timeout (55P03) and a cancelled statement (57014): the write is
    refused as unavailable (503, not the script's failure), but the store is not down."""
    url = await postgres_url()
    holder = await asyncpg.connect(url)
    waiter = await asyncpg.connect(url)
    table = f"voip_lock_{uuid.uuid4().hex[:12]}"
    try:
        await holder.execute(f"CREATE TABLE {table} (x int PRIMARY KEY)")
        await holder.execute(f"INSERT INTO {table} VALUES (1)")
        async with holder.transaction():
            await holder.execute(f"SELECT * FROM {table} FOR UPDATE")
            await waiter.execute("SET lock_timeout = '50ms'")
            with pytest.raises(asyncpg.LockNotAvailableError) as timed_out:
                await waiter.execute(f"UPDATE {table} SET x = 2")
            await waiter.execute("SET lock_timeout = 0")
            update = asyncio.ensure_future(waiter.execute(f"UPDATE {table} SET x = 2"))
            while not await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 "
                    "AND wait_event_type = 'Lock'", waiter.get_server_pid()):
                await asyncio.sleep(0.01)
            await holder.execute("SELECT pg_cancel_backend($1)", waiter.get_server_pid())
            with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
                await update
        for driver, cause in ((timed_out.value, "PostgreSQL lock wait timed out"),
                              (cancelled.value, "PostgreSQL cancelled the statement")):
            found = storage_unavailable(mapped(driver))
            assert found is not None and found.cause.startswith(cause), found
            assert found.this_write_only
            health = StorageHealth()
            with pytest.raises(StorageUnavailable):
                await health.watch(raising(mapped(driver)))
            assert health.available and health.refused_writes == 0
    finally:
        await holder.execute(f"DROP TABLE IF EXISTS {table}")
        await holder.close()
        await waiter.close()
