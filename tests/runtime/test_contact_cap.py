"""The contacts' cap (tenant_limits.max_contacts) in the store and in acting, on both backends:
the count it reads (contact_counts, kept by triggers since migration 0012) follows every way a
contact comes and goes, an install upgrading to 0012 starts from the contacts it has, and
missed calls from new numbers racing on several nodes make no more contacts than the cap,
while every call is recorded."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from runtime.acting import ActContext, Effects, act, contact_phones
from runtime.contract import ParseResult
from runtime.store import SqliteStore, Store
from runtime.store.migrate import apply_migrations, load_migrations
from runtime.store.models import NewModule
from runtime.store.postgres_migrate import MIGRATIONS_DIR as PG_MIGRATIONS
from runtime.store.postgres_migrate import apply_migrations as pg_apply_migrations
from runtime.store.postgres_migrate import load_migrations as pg_load_migrations
from tests.runtime.conftest import Backend, PostgresBackend

T0 = datetime(2025, 3, 4, 10, 15, 2, tzinfo=UTC)


def missed(n: int) -> ParseResult:
    """The record of a missed call from number n, a number no contact has."""
    return ParseResult.model_validate({"callRecord": {
        "direction": "in", "disposition": "no_answer", "srcPhone": f"7926555{n:04d}",
        "dstPhone": "101", "duration": 0, "callId": f"missed-{n}", "call": None}})


async def test_the_count_follows_creations_deletions_merges_and_the_tenant(
    backend: Backend,
) -> None:
    store = await backend.open()
    tenant = await store.create_tenant("acme")
    other = await store.create_tenant("other")

    async def count(tenant_id: str) -> int:
        return await store.count_owned("contacts", tenant_id)

    assert await count(tenant.id) == 0
    made = await store.create_contacts(tenant.id, [
        (f"c{n}", contact_phones([f"+7926111000{n}"], "RU")) for n in range(4)])
    await store.create_contact(other.id, "elsewhere", contact_phones(["+79261110000"], "RU"))
    assert (await count(tenant.id), await count(other.id)) == (4, 1)
    assert await store.delete_contact(tenant.id, made[0].id)
    assert await store.merge_contacts(tenant.id, made[1].id, made[2].id) is not None
    assert await count(tenant.id) == 2
    assert await store.write(lambda tx: tx.close_tenant(tenant.id)) is not None
    while await store.write(lambda tx: tx.delete_tenant_batch(tenant.id, 1)):
        pass
    assert await count(tenant.id) == 0
    assert await store.write(lambda tx: tx.finish_tenant(tenant.id))
    assert await count(other.id) == 1


async def test_an_install_upgrading_to_0012_counts_the_contacts_it_has(
    backend: Backend, tmp_path: Path,
) -> None:
    tenant_id = "ten_upgraded"
    rows = [(f"con_{n}", tenant_id, f"c{n}", "2025-03-04T10:15:02.000Z") for n in range(3)]
    if isinstance(backend, PostgresBackend):
        conn = await asyncpg.connect(backend.url,
                                     server_settings={"search_path": backend.schema})
        try:
            await pg_apply_migrations(conn, backend.schema,
                                      pg_load_migrations(PG_MIGRATIONS)[:11])
            await conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ($1, 'u', $2)",
                               tenant_id, T0)
            await conn.executemany("INSERT INTO contacts (id, tenant_id, name, created_at) "
                                   "VALUES ($1, $2, $3, $4)",
                                   [(i, t, name, T0) for i, t, name, _ in rows])
        finally:
            await conn.close()
        store: Store = await backend.open()
    else:
        path = tmp_path / "upgraded.db"
        plain = sqlite3.connect(path, isolation_level=None)
        apply_migrations(plain, load_migrations()[:11])
        plain.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, 'u', ?)",
                      (tenant_id, rows[0][3]))
        plain.executemany("INSERT INTO contacts (id, tenant_id, name, created_at) "
                          "VALUES (?, ?, ?, ?)", rows)
        plain.close()
        store = await SqliteStore.open(path)
    try:
        assert await store.count_owned("contacts", tenant_id) == 3
    finally:
        await store.close()


async def test_missed_calls_racing_on_several_nodes_make_no_more_contacts_than_the_cap(
    backend: Backend,
) -> None:
    first = await backend.open(commit_window=0)
    stores = [first, *[await backend.open(commit_window=0) for _ in range(2)]]
    tenant = await first.create_tenant("acme")
    module = await first.create_module(tenant.id, NewModule(name="pbx", region="RU"))
    await first.create_contact(tenant.id, "known", contact_phones(["+79260000000"], "RU"))

    def unit(n: int):  # type: ignore[no-untyped-def]
        context = ActContext(tenant_id=tenant.id, module_id=module.id, region="RU",
                             execution_id=None, now=T0, max_contacts=3)
        return lambda tx: act(tx, context, missed(n))

    done: list[Effects] = await asyncio.gather(
        *(stores[n % 3].write(unit(n)) for n in range(8)))
    created = [fx.contact_created for fx in done if fx.contact_created is not None]
    refused = [fx.contact_not_created for fx in done if fx.contact_not_created is not None]
    assert (len(created), len(refused)) == (2, 6)  # room for two beside the known one
    assert all(r.limit == 3 and r.phone.startswith("+7926555") for r in refused)
    assert len(await first.list_contacts(tenant.id)) == 3
    assert await first.count_owned("contacts", tenant.id) == 3
    calls = await first.list_calls(tenant.id)
    assert sorted(c.provider_call_id or "" for c in calls) == [f"missed-{n}" for n in range(8)]
    assert sum(c.contact_id is None for c in calls) == 6
    for fx in done:  # every call has its activity entry, with or without a contact
        assert fx.activity is not None and fx.activity.action == "created"
        json = fx.to_json()
        assert ("contact_not_created" in json) is (fx.contact_not_created is not None)
