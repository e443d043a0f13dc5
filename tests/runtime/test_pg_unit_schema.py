"""PostgreSQL's migration 0011 (migrations_pg/0011_lighter_unit_writes.sql): a call and an
execution name (module, tenant) with one foreign key, and the few-word columns are checked by
domains instead of CHECKs. An install at 0010 upgrades with its rows kept; the rules hold
as before (the same words refused, deleting a tenant removes its calls and executions), and
one is stricter: a row cannot name a module of another tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest

from runtime import ids
from runtime.store.postgres_migrate import MIGRATIONS_DIR, apply_migrations, load_migrations
from tests.runtime.conftest import PostgresBackend

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def connected(pg_backend: PostgresBackend) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection in the test's schema, beside the store's own."""
    conn = await asyncpg.connect(pg_backend.url,
                                 server_settings={"search_path": pg_backend.schema})
    try:
        yield conn
    finally:
        await conn.close()


async def _tenant_with_module(conn: asyncpg.Connection, name: str) -> tuple[str, str]:
    tenant_id, module_id = ids.new_id("ten"), ids.new_id("mod")
    await conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                       tenant_id, name, NOW)
    await conn.execute("""INSERT INTO modules (id, tenant_id, name, region, webhook_token,
                          created_at, updated_at) VALUES ($1, $2, 'm', 'RU', $3, $4, $4)""",
                       module_id, tenant_id, ids.new_webhook_token(), NOW)
    return tenant_id, module_id


async def _insert_call(conn: asyncpg.Connection, tenant_id: str, module_id: str,
                       state: str = "ringing") -> str:
    call_id = ids.new_id("call")
    await conn.execute("""INSERT INTO calls (id, tenant_id, module_id, direction, state,
                          disposition, src_phone, dst_phone, created_at, updated_at)
                          VALUES ($1, $2, $3, 'in', $4, 'unknown', '+79161234567', '101',
                          $5, $5)""", call_id, tenant_id, module_id, state, NOW)
    return call_id


async def _insert_execution(conn: asyncpg.Connection, tenant_id: str, module_id: str,
                            outcome: str = "ok") -> str:
    execution_id = ids.new_id("exe")
    await conn.execute("""INSERT INTO executions (id, tenant_id, module_id, function, outcome,
                          created_at) VALUES ($1, $2, $3, 'VoipParseWebhookRequest', $4, $5)""",
                       execution_id, tenant_id, module_id, outcome, NOW)
    return execution_id


async def test_an_install_at_0010_upgrades_keeping_its_rows_and_rules(
    pg_backend: PostgresBackend,
) -> None:
    before = [m for m in load_migrations(MIGRATIONS_DIR) if m.version <= 10]
    conn = await asyncpg.connect(pg_backend.url,
                                 server_settings={"search_path": pg_backend.schema})
    try:
        await apply_migrations(conn, pg_backend.schema, before)
        acme, acme_module = await _tenant_with_module(conn, "acme")
        call_id = await _insert_call(conn, acme, acme_module, "answered")
        execution_id = await _insert_execution(conn, acme, acme_module, "error")
        await conn.execute("""INSERT INTO call_events (id, call_id, kind, direction, src_phone,
                              dst_phone, payload, effect, received_at) VALUES ($1, $2,
                              'notify_start', 'in', '+79161234567', '101', '{}', 'applied',
                              $3)""", ids.new_id("cev"), call_id, NOW)
        await conn.execute("""INSERT INTO call_notified (call_id, phone, kind, created_at)
                              VALUES ($1, '101', 'ringing', $2)""", call_id, NOW)
        await conn.execute("""INSERT INTO notifications (id, tenant_id, call_id, kind, payload,
                              created_at) VALUES ($1, $2, $3, 'ringing', '{}', $4)""",
                           ids.new_id("ntf"), acme, call_id, NOW)
    finally:
        await conn.close()

    store = await pg_backend.open()  # applies 0011 (and any later migration)
    call = await store.get_call(acme, call_id)
    assert call is not None and call.state.value == "answered"
    execution = await store.get_execution(acme, execution_id)
    assert execution is not None and execution.outcome.value == "error"
    assert await pg_backend.query("SELECT max(version) FROM schema_version") == [
        (len(load_migrations(MIGRATIONS_DIR)),)]

    conn = await asyncpg.connect(pg_backend.url,
                                 server_settings={"search_path": pg_backend.schema})
    try:
        # The words each column takes, as its CHECK took them: another is refused.
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert_call(conn, acme, acme_module, "ringing-ish")
        with pytest.raises(asyncpg.CheckViolationError):
            await _insert_execution(conn, acme, acme_module, "fine")
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE calls SET state = 'over' WHERE id = $1", call_id)
        for table, column in (("call_events", "effect"), ("call_notified", "kind"),
                              ("notifications", "kind")):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"UPDATE {table} SET {column} = 'nonsense'")
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1
    finally:
        await conn.close()


async def test_a_row_naming_a_module_of_another_tenant_is_refused(
    pg_backend: PostgresBackend,
) -> None:
    await pg_backend.open()
    async with connected(pg_backend) as conn:
        acme, acme_module = await _tenant_with_module(conn, "acme")
        globex, _ = await _tenant_with_module(conn, "globex")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _insert_call(conn, globex, acme_module)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _insert_execution(conn, globex, acme_module)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await _insert_call(conn, acme, ids.new_id("mod"))  # no such module at all


async def test_deleting_a_tenant_still_removes_its_calls_and_executions(
    pg_backend: PostgresBackend,
) -> None:
    await pg_backend.open()
    async with connected(pg_backend) as conn:
        acme, acme_module = await _tenant_with_module(conn, "acme")
        globex, globex_module = await _tenant_with_module(conn, "globex")
        for tenant_id, module_id in ((acme, acme_module), (globex, globex_module)):
            await _insert_call(conn, tenant_id, module_id)
            await _insert_execution(conn, tenant_id, module_id)
        await conn.execute("DELETE FROM tenants WHERE id = $1", acme)
        for table in ("calls", "executions"):
            assert await conn.fetch(f"SELECT tenant_id FROM {table}") == [(globex,)]
