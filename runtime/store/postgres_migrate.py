"""Versioned schema migrations for PostgreSQL: `migrations_pg/NNNN_name.sql`, applied at start.

Everything missing is applied in ONE transaction that first takes
`pg_advisory_xact_lock(LOCK_MIGRATIONS, hashtext(schema))`: two nodes starting at once queue on
the lock, and the second finds the work done. DDL is transactional in PostgreSQL, so a failing
migration leaves nothing behind (not even the earlier ones of the same start).
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

from runtime.store.errors import DatabaseRefused
from runtime.store.locks import LOCK_MIGRATIONS
from runtime.store.migrate import Migration, load_migrations

MIGRATIONS_DIR = Path(__file__).parent / "migrations_pg"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def apply_migrations(conn: asyncpg.Connection, schema: str,
                           migrations: list[Migration] | None = None) -> list[int]:
    """Create `schema` if needed and apply what is missing; returns the versions applied now.

    `conn` must have `schema` first on its search_path (the store's connections do).
    """
    ours = migrations is None  # else a test's own tables: no check of what the schema holds
    migrations = load_migrations(MIGRATIONS_DIR) if migrations is None else migrations
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))",
                           LOCK_MIGRATIONS, schema)
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            # Only when missing: creating needs a privilege an existing schema's user may lack.
            await conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        await conn.execute(f"""CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.schema_version (
                                   version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now())""")
        current = await conn.fetchval(
            f"SELECT COALESCE(MAX(version), 0) FROM {quote_ident(schema)}.schema_version")
        if ours:
            await _refuse_unknown_schema(conn, schema, current, len(migrations))
        for migration in migrations:
            if migration.version <= current:
                continue
            await conn.execute(migration.sql)
            await conn.execute(f"INSERT INTO {quote_ident(schema)}.schema_version "
                               "(version, name) VALUES ($1, $2)",
                               migration.version, migration.name)
            applied.append(migration.version)
    return applied


async def _refuse_unknown_schema(conn: asyncpg.Connection, schema: str, version: int,
                                 known: int) -> None:
    """DatabaseRefused unless `schema` is new (nothing but an empty schema_version) or ours at
    a version this release knows: migrating another application's schema (a storage URL
    without `?schema=` lands in `public`) would mix our tables into its, and a newer release's
    schema may not be written by this one. Raised inside the migration's transaction, so
    nothing is changed (the schema_version table created just now is rolled back too)."""
    tables = {row[0] for row in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)}
    fresh = tables <= {"schema_version"} and version == 0
    if not fresh and not {"schema_version", "tenants"} <= tables:
        # (Not the schema_version this transaction may have created a moment ago.)
        listed = sorted(tables - {"schema_version"} if version == 0 else tables)
        shown = ", ".join(listed[:5]) + (", ..." if len(listed) > 5 else "")
        raise DatabaseRefused(f"the PostgreSQL schema {schema} is not voip-runtime's (it holds "
                              f"the tables {shown}); the service did not change it: give the "
                              "storage URL a ?schema= of its own")
    if version > known:
        raise DatabaseRefused(f"the PostgreSQL schema {schema} has schema version {version}, "
                              f"newer than this release knows (1..{known}); the service did "
                              "not change it: run the release that wrote it")
