"""The bytes of script source a tenant's versions hold (the quota tenant_limits.max_source_bytes
reads it, runtime/operations/caps.py), on both backends: kept by triggers since migration 0016,
it follows every way a version comes and goes (a module deleted takes its versions' bytes
along, a tenant deleted all of them), counts UTF-8 bytes, not characters, and an install
upgrading to 0016 starts from the versions it has."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from runtime.store import SqliteStore, Store
from runtime.store.migrate import apply_migrations, load_migrations
from runtime.store.models import NewModule
from runtime.store.postgres_migrate import MIGRATIONS_DIR as PG_MIGRATIONS
from runtime.store.postgres_migrate import apply_migrations as pg_apply_migrations
from runtime.store.postgres_migrate import load_migrations as pg_load_migrations
from tests.runtime.conftest import Backend, PostgresBackend

T0 = datetime(2025, 3, 4, 10, 15, 2, tzinfo=UTC)
ASCII = "def parse(request):\n    return {}\n"  # 34 bytes
CYRILLIC = "# звонок\n"  # 9 characters, 15 bytes


async def test_the_bytes_follow_versions_modules_and_the_tenant(backend: Backend) -> None:
    store = await backend.open()
    tenant = await store.create_tenant("acme")
    other = await store.create_tenant("other")

    async def used(tenant_id: str) -> int:
        return await store.count_owned("source_bytes", tenant_id)

    assert await used(tenant.id) == 0
    pbx = await store.create_module(tenant.id, NewModule(name="pbx", region="RU"))
    crm = await store.create_module(tenant.id, NewModule(name="crm", region="RU"))
    elsewhere = await store.create_module(other.id, NewModule(name="pbx", region="RU"))
    await store.add_version(tenant.id, pbx.id, ASCII)
    await store.add_version(tenant.id, pbx.id, CYRILLIC + ASCII)
    await store.add_version(tenant.id, crm.id, CYRILLIC)
    await store.add_version(other.id, elsewhere.id, ASCII)
    assert (await used(tenant.id), await used(other.id)) == (34 + 49 + 15, 34)
    assert await store.delete_module(tenant.id, pbx.id)  # with its active version
    assert await used(tenant.id) == 15
    assert await store.write(lambda tx: tx.close_tenant(tenant.id)) is not None
    while await store.write(lambda tx: tx.delete_tenant_batch(tenant.id, 1)):
        pass
    assert await store.write(lambda tx: tx.finish_tenant(tenant.id))
    assert (await used(tenant.id), await used(other.id)) == (0, 34)


async def test_an_install_upgrading_to_0016_counts_the_versions_it_has(
    backend: Backend, tmp_path: Path,
) -> None:
    tenant_id, module_id = "ten_upgraded", "mod_upgraded"
    versions = [(f"ver_{n}", module_id, n + 1, source, "sha")
                for n, source in enumerate([ASCII, CYRILLIC])]
    if isinstance(backend, PostgresBackend):
        conn = await asyncpg.connect(backend.url,
                                     server_settings={"search_path": backend.schema})
        try:
            await pg_apply_migrations(conn, backend.schema,
                                      pg_load_migrations(PG_MIGRATIONS)[:15])
            await conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'u', $2)",
                               tenant_id, T0)
            await conn.execute("INSERT INTO modules (id, tenant_id, name, region, "
                               "webhook_token, created_at, updated_at) "
                               "VALUES ($1, $2, 'pbx', 'RU', 'tok', $3, $3)",
                               module_id, tenant_id, T0)
            await conn.executemany("INSERT INTO script_versions (id, module_id, number, source, "
                                   "sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                                   [(*v, T0) for v in versions])
        finally:
            await conn.close()
        store: Store = await backend.open()
    else:
        path = tmp_path / "upgraded.db"
        at = "2025-03-04T10:15:02.000Z"
        plain = sqlite3.connect(path, isolation_level=None)
        apply_migrations(plain, load_migrations()[:15])
        plain.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, 'u', ?)",
                      (tenant_id, at))
        plain.execute("INSERT INTO modules (id, tenant_id, name, region, webhook_token, "
                      "created_at, updated_at) VALUES (?, ?, 'pbx', 'RU', 'tok', ?, ?)",
                      (module_id, tenant_id, at, at))
        plain.executemany("INSERT INTO script_versions (id, module_id, number, source, sha256, "
                          "created_at) VALUES (?, ?, ?, ?, ?, ?)", [(*v, at) for v in versions])
        plain.close()
        store = await SqliteStore.open(path)
    try:
        assert await store.count_owned("source_bytes", tenant_id) == 34 + 15
        module = await store.get_module(tenant_id, module_id)
        assert module is not None
        await store.add_version(tenant_id, module_id, ASCII)  # the triggers go on from there
        assert await store.count_owned("source_bytes", tenant_id) == 34 + 15 + 34
    finally:
        await store.close()
