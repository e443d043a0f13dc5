"""The store's test suites run against BOTH backends: `backend` is parametrized.

    async def test_x(store: Store) -> None: ...          # test_x[sqlite], test_x[postgres]
    async def test_y(backend: Backend) -> None:
        node_a, node_b = await backend.open(), await backend.open()   # two stores, one DB

SQLite: a file in the test's tmp_path. PostgreSQL: a fresh schema in the database named by
VOIP_TEST_POSTGRES_URL, dropped afterwards (tests/pg.py: skipped without it, failed under CI).
`Backend` also reads raw rows, so a test can prove that nothing changed.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from runtime.store import SqliteStore, Store
from runtime.store.postgres import PostgresStore
from tests import pg

BACKENDS = ["sqlite", "postgres"]


class Backend(abc.ABC):
    name: str

    def __init__(self) -> None:
        self.stores: list[Store] = []

    @abc.abstractmethod
    async def _open(self, **options: Any) -> Store: ...

    async def open(self, **options: Any) -> Store:
        """Another store on the same database (for PostgreSQL, as another node would)."""
        store = await self._open(**options)
        self.stores.append(store)
        return store

    @abc.abstractmethod
    async def tables(self) -> list[str]: ...

    @abc.abstractmethod
    async def rows(self, table: str) -> list[tuple[Any, ...]]: ...

    async def count(self, table: str) -> int:
        return len(await self.rows(table))

    async def snapshot(self, *, skip: tuple[str, ...] = ()) -> dict[str, list[Any]]:
        """Every row of every table (but those skipped), to prove that nothing changed."""
        return {t: sorted(await self.rows(t), key=repr)
                for t in await self.tables() if t not in skip}

    async def close(self) -> None:
        for store in self.stores:
            await store.close()


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def _open(self, **options: Any) -> Store:
        options.setdefault("commit_window", 0.001)
        return await SqliteStore.open(self.path, **options)

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    async def tables(self) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]

    async def rows(self, table: str) -> list[tuple[Any, ...]]:
        return self._query(f"SELECT * FROM {table}")


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, url: str, schema: str) -> None:
        super().__init__()
        self.url = url
        self.schema = schema

    async def _open(self, **options: Any) -> Store:
        options.pop("commit_window", None)  # SQLite's group commit only
        return await PostgresStore.open(self.url, schema=self.schema, **options)

    async def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(self.url, server_settings={"search_path": self.schema})
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def tables(self) -> list[str]:
        return [r[0] for r in await self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", self.schema)]

    async def rows(self, table: str) -> list[tuple[Any, ...]]:
        return await self.query(f"SELECT * FROM {table}")

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await pg.drop_schema(self.url, self.schema)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen: Backend
    if request.param == "sqlite":
        chosen = SqliteBackend(tmp_path / "runtime.db")
    else:
        chosen = PostgresBackend(await pg.postgres_url(), pg.new_schema_name())
    try:
        yield chosen
    finally:
        await chosen.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()


@pytest.fixture
async def pg_backend() -> AsyncIterator[PostgresBackend]:
    """For tests about the PostgreSQL backend's own machinery (no SQLite twin)."""
    chosen = PostgresBackend(await pg.postgres_url(), pg.new_schema_name())
    try:
        yield chosen
    finally:
        await chosen.close()
