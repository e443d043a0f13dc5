"""PostgreSQL's plans for a webhook's unit (migration 0017): the call scene chooses its call
without sorting, and a new call writes no entry in the indexes only read by user.

The server sets up every node of a statement's plan each time it runs it, reached or not: a
Sort above the open or ended call's lookup was set up and torn down with every webhook's call
scene for one row at most.
Checked on the generic plan (the one a prepared statement settles on) of the statement the
store really sends.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from runtime.store.dialect import POSTGRES
from runtime.store.locks import NOTIFY_SCENE_COLUMN
from runtime.store.queries import FIND_ENDED_CALL, FIND_OPEN_CALL, scene_sql
from tests.runtime.conftest import PostgresBackend

LOOKUP_INDEXES = {"calls_open_numbers", "calls_numbers"}


async def generic_plan(backend: PostgresBackend, sql: str, params: int) -> dict[str, Any]:
    conn = await asyncpg.connect(backend.url, server_settings={
        "search_path": backend.schema, "plan_cache_mode": "force_generic_plan"})
    try:
        await conn.execute(f"PREPARE planned AS {POSTGRES.render(sql)}")
        nulls = ", ".join(["NULL"] * params)
        text = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE planned({nulls})")
    finally:
        await conn.close()
    return dict(json.loads(text)[0]["Plan"])


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


def indexes_under(plan: dict[str, Any]) -> set[str]:
    return {n["Index Name"] for n in nodes(plan) if "Index Name" in n}


async def test_the_scene_chooses_its_call_without_sorting(pg_backend: PostgresBackend) -> None:
    store = await pg_backend.open()
    await store.close()
    for sql, params in ((scene_sql(POSTGRES), 11),
                        (scene_sql(POSTGRES, NOTIFY_SCENE_COLUMN), 12),
                        (FIND_OPEN_CALL, 6), (FIND_ENDED_CALL, 7)):
        plan = await generic_plan(pg_backend, sql, params)
        used = indexes_under(plan)
        assert LOOKUP_INDEXES & used, (sql, used)  # the lookups go through these indexes
        sorted_lookups = [indexes_under(n) & LOOKUP_INDEXES for n in nodes(plan)
                          if n["Node Type"] == "Sort"]
        assert not any(sorted_lookups), (sql, sorted_lookups)


async def test_user_indexes_hold_rows_naming_a_user_and_serve_reads_by_user(
        pg_backend: PostgresBackend) -> None:
    # A call nobody answered yet and a phone that rang with nobody bound leave no entry in
    # these; the ON DELETE SET NULL of a deleted user (and the reads by user) still use them.
    store = await pg_backend.open()
    await store.close()
    for name, predicate in (("calls_answered_user", "WHERE (answered_user_id IS NOT NULL)"),
                            ("call_notified_user", "WHERE (user_id IS NOT NULL)"),
                            ("calls_numbers", "WHERE ((state)::text = 'ended'::text)")):
        (definition,) = (await pg_backend.query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2",
            pg_backend.schema, name))[0]
        assert definition.endswith(predicate), definition
    for table, column, index in (("calls", "answered_user_id", "calls_answered_user"),
                                 ("call_notified", "user_id", "call_notified_user")):
        plan = await generic_plan(
            pg_backend, f"UPDATE {table} SET {column} = NULL WHERE {column} = $1", 1)
        assert index in indexes_under(plan), plan
