"""The webhook's call scene reads through indexes that keep it cheap as history grows.

A frequent caller's calls pile up for months (calls are never pruned): the read that looks for
an open call with the same numbers must visit open calls only, not every call the two numbers
ever had. And the lookups choosing the call read their order (the latest first) from the index
instead of sorting their rows in a temporary b-tree on every webhook. Checked on SQLite's plan
for the statement the store really sends.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runtime.store import SqliteStore
from runtime.store.dialect import SQLITE
from runtime.store.queries import (
    FIND_CALL_BY_PROVIDER_ID,
    FIND_ENDED_CALL,
    FIND_OPEN_CALL,
    scene_sql,
)


def plan(database: Path, sql: str, params: int) -> list[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("EXPLAIN QUERY PLAN " + SQLITE.render(sql), [None] * params)
        return [str(row[3]) for row in rows]


async def test_open_call_lookups_read_only_open_calls(tmp_path: Path) -> None:
    database = tmp_path / "plans.db"
    store = await SqliteStore.open(database)
    await store.close()

    scene = plan(database, str(scene_sql(SQLITE)), 11)
    open_lookup = [step for step in scene if "calls_open_numbers" in step]
    assert open_lookup, scene
    # The only read through calls_numbers left is the recently ended call's, bounded by time.
    assert all("ended_at>?" in step for step in scene if "calls_numbers" in step), scene

    alone = plan(database, str(FIND_OPEN_CALL), FIND_OPEN_CALL.count("$"))
    assert any("calls_open_numbers" in step for step in alone), alone


async def test_open_calls_index_holds_open_calls_only(tmp_path: Path) -> None:
    database = tmp_path / "index.db"
    store = await SqliteStore.open(database)
    await store.close()
    with sqlite3.connect(database) as connection:
        (sql,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'calls_open_numbers'").fetchone()
    assert "WHERE state <> 'ended'" in sql


async def test_call_lookups_take_the_latest_from_the_index(tmp_path: Path) -> None:
    database = tmp_path / "order.db"
    store = await SqliteStore.open(database)
    await store.close()

    for sql in (FIND_CALL_BY_PROVIDER_ID, FIND_OPEN_CALL, FIND_ENDED_CALL):
        steps = plan(database, str(sql), sql.count("$"))
        assert not any("TEMP B-TREE" in step for step in steps), (sql, steps)
    scene = plan(database, str(scene_sql(SQLITE)), 11)
    # The one sort left is the chosen call's history (its few rows, in received order).
    assert sum("TEMP B-TREE" in step for step in scene) == 1, scene
