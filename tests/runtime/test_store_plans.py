"""The webhook's call scene reads through indexes that keep it cheap as history grows.

A frequent caller's calls pile up for months (calls are never pruned): the read that looks for
an open call with the same numbers must visit open calls only, not every call the two numbers
ever had. And a webhook's unit builds no temporary b-tree (migration 0008): the lookups choosing
the call read their order (the latest first) from the index, and the rows it writes are checked
without one. Checked on SQLite's plan for the statement the store really sends.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from runtime.store import SqliteStore
from runtime.store.dialect import SQLITE
from runtime.store.queries import (
    FIND_CALL_BY_PROVIDER_ID,
    FIND_ENDED_CALL,
    FIND_OPEN_CALL,
    scene_sql,
)
from runtime.store.writes import SQLITE_PLAIN


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


def ephemeral_tables(database: Path, sql: str) -> int:
    numbered = [int(n) for n in re.findall(r"\?(\d+)", sql)]
    params = max(numbered) if numbered else sql.count("?")
    with sqlite3.connect(database) as connection:
        return sum(row[1] == "OpenEphemeral"
                   for row in connection.execute("EXPLAIN " + sql, [None] * params))


async def test_written_rows_are_checked_without_temporary_btrees(tmp_path: Path) -> None:
    database = tmp_path / "writes.db"
    store = await SqliteStore.open(database)
    await store.close()
    for slot in ("calls_new", "calls_changed", "call_events", "call_notified", "notifications",
                 "executions", "activity_new", "contacts", "contact_phones"):
        assert ephemeral_tables(database, SQLITE_PLAIN[slot]) == 0, slot


# The CHECKs 0008 rewrote, and the values each accepts.
CHECKED = [
    ("calls", "state", ["ringing", "answered", "ended"]),
    ("call_events", "effect", ["applied", "repeat", "late"]),
    ("call_notified", "kind", ["ringing", "answered", "ended"]),
    ("notifications", "kind", ["ringing", "answered", "ended"]),
    ("executions", "outcome", ["ok", "error", "invalid", "limit", "rejected"]),
]


async def test_rewritten_checks_accept_and_refuse_what_they_did(tmp_path: Path) -> None:
    database = tmp_path / "checks.db"
    store = await SqliteStore.open(database)
    await store.close()
    with sqlite3.connect(database, isolation_level=None) as connection:
        connection.execute("BEGIN")
        for table, column, allowed in CHECKED:
            # All but an INTEGER PRIMARY KEY (its rowid, given by SQLite).
            columns = [(row[1], row[2]) for row in connection.execute(
                f"PRAGMA table_info({table})") if not (row[5] and row[2] == "INTEGER")]
            names = [name for name, _ in columns]
            for value in [*allowed, "bogus", "Ringing", "ok "]:
                row = [value if name == column else 0 if kind in ("INTEGER", "REAL") else
                       f"{table}-{value}-{name}" for name, kind in columns]
                insert = (f"INSERT INTO {table} ({', '.join(names)}) "
                          f"VALUES ({', '.join('?' for _ in names)})")
                if value in allowed:
                    connection.execute(insert, row)
                else:
                    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                        connection.execute(insert, row)
        connection.execute("ROLLBACK")


async def test_user_indexes_hold_rows_naming_a_user_and_serve_reads_by_user(
        tmp_path: Path) -> None:
    # Migration 0009: no index entry for a call nobody answered yet, or a phone that rang with
    # nobody bound; a read (or ON DELETE SET NULL) by user still goes through the index.
    database = tmp_path / "users.db"
    store = await SqliteStore.open(database)
    await store.close()
    with sqlite3.connect(database) as connection:
        for name, column in (("calls_answered_user", "answered_user_id"),
                             ("call_notified_user", "user_id")):
            (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                        [name]).fetchone()
            assert f"WHERE {column} IS NOT NULL" in sql
    for table, column, index in (("calls", "answered_user_id", "calls_answered_user"),
                                 ("call_notified", "user_id", "call_notified_user")):
        steps = plan(database, f"UPDATE {table} SET {column} = NULL WHERE {column} = $1", 1)
        assert any(index in step for step in steps), steps


async def test_reads_by_a_list_of_ids_start_from_the_ids(tmp_path: Path) -> None:
    """The reads given many ids at once (as one JSON array) look each up by its key: never a
    walk over every user, or every call the tenant ever had, checking it against the list."""
    from runtime.store.queries import GET_USERS, USERS_NOTIFIED_OF_CALLS

    database = tmp_path / "plans.db"
    store = await SqliteStore.open(database)
    await store.close()
    users = plan(database, str(GET_USERS), 2)
    assert users[0].startswith("SCAN j"), users
    assert any(re.match(r"SEARCH u USING INDEX \w+ \(id=\?\)", s) for s in users), users
    rang = plan(database, str(USERS_NOTIFIED_OF_CALLS), 2)
    assert rang[0].startswith("SCAN j"), rang
    assert any(re.match(r"SEARCH c USING INDEX \w+ \(id=\?\)", s) for s in rang), rang
    assert not any("calls_tenant" in s or s.startswith("SCAN c") for s in rang), rang


async def test_old_storage_figures_are_pruned_through_an_index(tmp_path: Path) -> None:
    """The modules' storage in use is noted a row per module and day, kept `usage_days` (400):
    the pass that prunes the old ones read and sorted every row each time (30 s), a table that
    grows for the service's first 400 days (2,000 modules with storage: 800,000 rows)."""
    from datetime import UTC, datetime

    database = tmp_path / "usage.db"
    store = await SqliteStore.open(database)
    sent: list[str] = []
    store._writer_conn.set_trace_callback(sent.append)
    await store.write(lambda tx: tx.prune_usage(datetime(2026, 1, 1, tzinfo=UTC), 200))
    store._writer_conn.set_trace_callback(None)
    await store.close()

    (statement,) = [sql for sql in sent if sql.startswith("DELETE FROM usage_storage")]
    with sqlite3.connect(database) as connection:
        steps = [str(row[3]) for row in connection.execute("EXPLAIN QUERY PLAN " + statement)]
    assert not any(step.startswith("SCAN usage_storage") or "TEMP B-TREE" in step
                   for step in steps), steps
