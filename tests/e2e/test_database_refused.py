"""A database file the service must not use, found at start: garbage, a damaged file, another
program's SQLite database, or one a newer release wrote. `voip-runtime serve` exits 1 with one
line naming the file and what to do (no traceback), and the file is left as it was."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from runtime.config import DATABASE_FILE
from runtime.store.errors import DatabaseRefused
from runtime.store.migrate import apply_migrations, load_migrations
from runtime.store.postgres import PostgresStore
from runtime.store.postgres_migrate import MIGRATIONS_DIR as PG_MIGRATIONS
from runtime.store.sqlite import SqliteStore
from tests import pg
from tests.e2e.crash_support import free_port
from tests.e2e.service_process import ServiceProcess


def garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all" * 500)


def foreign(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
        conn.commit()


def foreign_with_schema_version(path: Path) -> None:
    """Another program that keeps its own `schema_version` table (many migration tools do)."""
    foreign(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT, "
                     "applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (3, 'invoices', '2026-01-01')")
        conn.commit()


def damaged(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE x (a TEXT)")
        conn.executemany("INSERT INTO x VALUES (?)", [("a" * 1000,)] * 200)
        conn.commit()
    path.write_bytes(path.read_bytes()[:4196])


def newer(path: Path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        apply_migrations(conn)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # one file: the hash covers everything
        conn.execute("INSERT INTO schema_version VALUES (?, 'from_the_future', '2027-01-01')",
                     (len(load_migrations()) + 1,))
        conn.commit()


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (garbage, "is not a usable SQLite database (file is not a database)"),
    "damaged": (damaged, "is not a usable SQLite database (database disk image is malformed)"),
    "foreign": (foreign, "is not a voip-runtime database (it holds the tables invoices)"),
    "foreign_with_schema_version": (
        foreign_with_schema_version,
        "is not a voip-runtime database (it holds the tables invoices, schema_version)"),
    "newer": (newer, f"has schema version {len(load_migrations()) + 1}, newer than this "
                     "release knows"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_serve_refuses_a_database_it_must_not_use_and_leaves_it_alone(
        tmp_path: Path, case: str) -> None:
    prepare, message = CASES[case]
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / DATABASE_FILE
    prepare(database)
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    service = ServiceProcess(tmp_path, data_dir=data)
    service.start()
    try:
        assert service.wait(60) == 1, service.log()
    finally:
        service.stop()
    log = service.log()
    assert f"voip-runtime: {database} {message}" in log, log
    assert "the service did not change it" in log, log
    assert "Traceback" not in log, log
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    # Nothing else but the claim that one service serves this file (runtime/one_service.py).
    assert sorted(p.name for p in data.iterdir()) == [DATABASE_FILE,
                                                      f"{DATABASE_FILE}-service.lock"]


async def test_the_store_refuses_a_foreign_database_without_touching_it(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    foreign(database)
    before = database.read_bytes()
    with pytest.raises(DatabaseRefused, match="not a voip-runtime database"):
        await SqliteStore.open(database)
    assert database.read_bytes() == before


async def test_a_start_that_stopped_before_the_first_migration_starts_again(
        tmp_path: Path) -> None:
    """Only an empty `schema_version` (its CREATE commits on its own): a new database."""
    database = tmp_path / "new.db"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        conn.commit()
    store = await SqliteStore.open(database)
    try:
        assert await store.list_tenants() == []
    finally:
        await store.close()


async def test_serve_says_in_one_line_that_postgresql_cannot_be_reached(tmp_path: Path) -> None:
    """Not the URL as written: it may carry a password."""
    url = f"postgresql://voip:secret-password@127.0.0.1:{free_port()}/voip?schema=voip"
    service = ServiceProcess(tmp_path, storage_url=url)
    service.start()
    try:
        assert service.wait(60) == 1, service.log()
    finally:
        service.stop()
    log = service.log()
    assert "voip-runtime: cannot connect to PostgreSQL at 127.0.0.1:" in log, log
    assert "/voip (schema voip): database unavailable: ConnectionRefusedError" in log, log
    assert "secret-password" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("case", ["foreign", "newer"])
async def test_serve_refuses_a_postgresql_schema_that_is_not_its_own(
        tmp_path: Path, case: str) -> None:
    url = await pg.postgres_url()
    schema = pg.new_schema_name()
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        if case == "foreign":
            await admin.execute(f'CREATE TABLE "{schema}".invoices (id int, total numeric)')
            message = (f"the PostgreSQL schema {schema} is not voip-runtime's (it holds the "
                       "tables invoices)")
        else:
            store = await PostgresStore.open(url, schema=schema)
            await store.close()
            known = len(load_migrations(PG_MIGRATIONS))
            await admin.execute(f'INSERT INTO "{schema}".schema_version (version, name) '
                                "VALUES ($1, 'from_the_future')", known + 1)
            message = (f"the PostgreSQL schema {schema} has schema version {known + 1}, newer "
                       f"than this release knows (1..{known})")
        before = await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 "
                                   "ORDER BY 1", schema)
        service = ServiceProcess(tmp_path, storage_url=f"{url}?schema={schema}")
        service.start()
        try:
            assert await asyncio.to_thread(service.wait, 60) == 1, service.log()
        finally:
            service.stop()
        log = service.log()
        assert f"voip-runtime: {message}" in log, log
        assert "Traceback" not in log, log
        after = await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1 "
                                  "ORDER BY 1", schema)
        assert after == before
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def test_a_second_service_on_the_same_sqlite_database_refuses_to_start(
        tmp_path: Path) -> None:
    # Each would keep its own module cache and live notifications: a version activated
    # through one would not be seen by the other. The first goes on serving.
    data = tmp_path / "data"
    first = ServiceProcess(tmp_path, data_dir=data)
    second = ServiceProcess(tmp_path, data_dir=data)
    first.start()
    try:
        await first.wait_ready()
        second.start()
        try:
            assert second.wait(60) == 1, second.log()
        finally:
            second.stop()
        log = second.log()
        assert (f"voip-runtime: {(data / DATABASE_FILE).resolve()}: another voip-runtime "
                f"service is running on this database (pid {first.process.pid})") in log, log
        assert "Traceback" not in log, log
        await first.wait_ready(5)  # still serving
    finally:
        first.stop()
    # Its claim ends with it: the second starts now.
    again = ServiceProcess(tmp_path, data_dir=data)
    again.start()
    try:
        await again.wait_ready()
    finally:
        again.stop()
