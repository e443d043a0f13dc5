"""Tenants' names are unique in the store (migration 0019), on both backends: a second tenant
of a name is a Conflict, and an install upgrading with tenants that already share a name
starts: the oldest keeps the name, each later one has its id after it, and nothing else of
theirs changes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from runtime.store import Conflict, SqliteStore, Store
from runtime.store.migrate import apply_migrations, load_migrations
from runtime.store.postgres_migrate import MIGRATIONS_DIR as PG_MIGRATIONS
from runtime.store.postgres_migrate import apply_migrations as pg_apply_migrations
from runtime.store.postgres_migrate import load_migrations as pg_load_migrations
from tests.runtime.conftest import Backend, PostgresBackend

T0 = datetime(2025, 3, 4, 10, 15, 2, tzinfo=UTC)
# (id, name, created) of an install made before 0019: three tenants named acme.
BEFORE = [("ten_c", "acme", T0), ("ten_a", "acme", T0 + timedelta(days=2)),
          ("ten_b", "acme", T0 + timedelta(days=1)), ("ten_g", "globex", T0)]


async def test_a_second_tenant_of_a_name_is_a_conflict(store: Store) -> None:
    acme = await store.create_tenant("acme")
    with pytest.raises(Conflict, match="a tenant named 'acme' already exists"):
        await store.create_tenant("acme")
    assert [t.id for t in await store.list_tenants()] == [acme.id]


async def test_an_install_whose_tenants_share_a_name_upgrades_to_0019(
    backend: Backend, tmp_path: Path,
) -> None:
    if isinstance(backend, PostgresBackend):
        conn = await asyncpg.connect(backend.url,
                                     server_settings={"search_path": backend.schema})
        try:
            await pg_apply_migrations(conn, backend.schema,
                                      pg_load_migrations(PG_MIGRATIONS)[:18])
            await conn.executemany("INSERT INTO tenants (id, name, created_at) "
                                   "VALUES ($1, $2, $3)", BEFORE)
            await conn.execute("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, "
                               "created_at) VALUES ('key_b', 'ten_b', 'h', 'p', $1)", T0)
        finally:
            await conn.close()
        store: Store = await backend.open()
    else:
        path = tmp_path / "upgraded.db"
        plain = sqlite3.connect(path, isolation_level=None)
        apply_migrations(plain, load_migrations()[:18])
        plain.executemany("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                          [(i, n, at.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
                           for i, n, at in BEFORE])
        plain.execute("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) "
                      "VALUES ('key_b', 'ten_b', 'h', 'p', '2025-03-04T10:15:02.000Z')")
        plain.close()
        store = await SqliteStore.open(path)
    try:
        names = {t.id: t.name for t in await store.list_tenants()}
        assert names == {"ten_c": "acme", "ten_b": "acme (ten_b)", "ten_a": "acme (ten_a)",
                         "ten_g": "globex"}
        assert [k.id for k in await store.list_api_keys("ten_b")] == ["key_b"]
        with pytest.raises(Conflict):
            await store.create_tenant("acme")
        assert (await store.create_tenant("initech")).name == "initech"
    finally:
        await store.close()
