"""The execution log's byte budget (retention.executions_mib_per_module), on both backends: a
module whose rows are big keeps its newest rows that fit the budget, whole, and no other
module loses any; the figure follows new rows and deletions; an install upgrading to 0018
counts the rows it already rolled up."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from runtime import ids
from runtime.retention import Pruner
from runtime.store import SqliteStore, Store
from runtime.store.migrate import apply_migrations, load_migrations
from runtime.store.models import Execution, ExecutionOutcome, Module, NewModule
from runtime.store.postgres_migrate import MIGRATIONS_DIR as PG_MIGRATIONS
from runtime.store.postgres_migrate import apply_migrations as pg_apply_migrations
from runtime.store.postgres_migrate import load_migrations as pg_load_migrations
from tests.runtime.conftest import Backend, PostgresBackend
from tests.runtime.test_retention import NOW, WEBHOOK, config, record, tenant_with_module

BIG = 60_000  # bytes of captured output in each of the busy module's rows


def logged(module: Module, at: datetime, size: int) -> Execution:
    return Execution(ids.new_id(ids.EXECUTION), module.tenant_id, module.id, None, WEBHOOK,
                     ExecutionOutcome.OK, at, logs="x" * size)


async def test_a_module_over_its_byte_budget_keeps_its_newest_rows_whole(store: Store) -> None:
    tenant, busy = await tenant_with_module(store, "acme")
    quiet = await store.create_module(tenant.id, NewModule(name="quiet", region="RU"))
    start = NOW - timedelta(hours=5)
    busy_rows = [logged(busy, start + timedelta(seconds=i), BIG) for i in range(40)]
    await record(store, busy_rows + [logged(quiet, start + timedelta(seconds=i), 100)
                                     for i in range(40)])
    # 1 MiB holds 17 rows of 60,000 bytes (18 are 1,080,000).
    pruner = Pruner(store, config(executions_mib_per_module=1, batch_rows=10),
                    clock=lambda: NOW)

    report = await pruner.run_pass()

    assert report.deleted == {"executions": 23}
    left = await store.list_executions(tenant.id, limit=1000)
    assert sorted(e.id for e in left if e.module_id == busy.id) \
        == sorted(e.id for e in busy_rows[23:])
    assert all(len(e.logs) == BIG for e in left if e.module_id == busy.id)
    assert sum(e.module_id == quiet.id for e in left) == 40
    assert (await pruner.run_pass()).deleted == {}

    # Five more big rows: the five oldest of those kept make room for them.
    later = NOW - timedelta(hours=1)
    newer = [logged(busy, later + timedelta(seconds=i), BIG) for i in range(5)]
    await record(store, newer)
    assert (await pruner.run_pass()).deleted == {"executions": 5}
    left = await store.list_executions(tenant.id, limit=1000)
    assert sorted(e.id for e in left if e.module_id == busy.id) \
        == sorted(e.id for e in busy_rows[28:] + newer)


async def test_without_a_budget_big_rows_stay(store: Store) -> None:
    tenant, module = await tenant_with_module(store, "acme")
    await record(store, [logged(module, NOW - timedelta(hours=2, seconds=i), BIG)
                         for i in range(20)])
    report = await Pruner(store, config(executions_mib_per_module=None),
                          clock=lambda: NOW).run_pass()
    assert report.deleted == {}
    assert len(await store.list_executions(tenant.id, limit=100)) == 20


async def test_an_install_upgrading_to_0018_counts_the_rows_it_rolled_up(
    backend: Backend, tmp_path: Path,
) -> None:
    tenant_id, module_id = "ten_upgraded", "mod_upgraded"
    at = [datetime(2026, 12, 1, 10, 0, i, tzinfo=UTC) for i in range(3)]
    rolled_to = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    rows = [(f"exe_{i}", tenant_id, module_id, WEBHOOK, "ok", "y" * 1000) for i in range(3)]
    insert = ("INSERT INTO executions (id, tenant_id, module_id, function, outcome, logs, "
              "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
    if isinstance(backend, PostgresBackend):
        conn = await asyncpg.connect(backend.url,
                                     server_settings={"search_path": backend.schema})
        try:
            await pg_apply_migrations(conn, backend.schema,
                                      pg_load_migrations(PG_MIGRATIONS)[:17])
            await conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'u', $2)",
                               tenant_id, at[0])
            await conn.execute("INSERT INTO modules (id, tenant_id, name, region, "
                               "webhook_token, created_at, updated_at) "
                               "VALUES ($1, $2, 'pbx', 'RU', 'tok', $3, $3)",
                               module_id, tenant_id, at[0])
            await conn.executemany(insert, [(*r, t) for r, t in zip(rows, at, strict=True)])
            await conn.execute("INSERT INTO usage_cursor (module_id, rolled_to, kept) "
                               "VALUES ($1, $2, 3)", module_id, rolled_to)
        finally:
            await conn.close()
        store: Store = await backend.open()
    else:
        path = tmp_path / "upgraded.db"

        def iso(moment: datetime) -> str:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

        plain = sqlite3.connect(path, isolation_level=None)
        apply_migrations(plain, load_migrations()[:17])
        plain.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, 'u', ?)",
                      (tenant_id, iso(at[0])))
        plain.execute("INSERT INTO modules (id, tenant_id, name, region, webhook_token, "
                      "created_at, updated_at) VALUES (?, ?, 'pbx', 'RU', 'tok', ?, ?)",
                      (module_id, tenant_id, iso(at[0]), iso(at[0])))
        plain.executemany("INSERT INTO executions (id, tenant_id, module_id, function, outcome, "
                          "logs, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(*r, iso(t)) for r, t in zip(rows, at, strict=True)])
        plain.execute("INSERT INTO usage_cursor (module_id, rolled_to, kept) VALUES (?, ?, 3)",
                      (module_id, iso(rolled_to)))
        plain.close()
        store = await SqliteStore.open(path)
    try:
        # 3,000 bytes kept, 2,000 allowed: the oldest row goes, the two newest stay.
        deleted = await store.write(lambda tx: tx.prune_executions(
            module_id, datetime(2000, 1, 1, tzinfo=UTC), None, 100, 2000))
        assert deleted == 1
        left = await store.list_executions(tenant_id, limit=10)
        assert sorted(e.id for e in left) == ["exe_1", "exe_2"]
    finally:
        await store.close()
