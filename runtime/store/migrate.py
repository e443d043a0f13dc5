"""Versioned schema migrations: `migrations/NNNN_name.sql`, applied in order at start.

Each file runs in its own transaction together with its row in `schema_version`, so a
migration is applied completely or not at all, and a restart applies only what is missing.
Two processes starting at once are safe: the loser of BEGIN IMMEDIATE re-reads the version.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from runtime.store.errors import DatabaseRefused
from runtime.store.models import to_iso, utc_now

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.iterdir()):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match[1]), match[2], path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def apply_migrations(conn: sqlite3.Connection,
                     migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is missing; returns the versions applied now. `conn` is in autocommit mode."""
    migrations = load_migrations() if migrations is None else migrations
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_version (
                        version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                        applied_at TEXT NOT NULL)""")
    applied = []
    for migration in migrations:
        if migration.version <= current_version(conn):
            continue
        record = (f"INSERT INTO schema_version (version, name, applied_at) VALUES "
                  f"({migration.version}, '{migration.name}', '{to_iso(utc_now())}');")
        try:
            # executescript commits any open transaction first, so BEGIN/COMMIT go inside it.
            conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n{record}\nCOMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if migration.version <= current_version(conn):
                continue  # another process applied it meanwhile
            raise
        applied.append(migration.version)
    return applied


def refuse_unknown_database(path: Path, migrations: list[Migration] | None = None) -> None:
    """DatabaseRefused unless the file at `path` is new (empty) or a database of ours at a
    schema version this release knows. It reads only (a read-only connection), so a file the
    service must not touch is left exactly as it was: migrating another program's database,
    or one a newer release wrote, would mix our tables into it or corrupt it for its owner."""
    known = len(load_migrations() if migrations is None else migrations)
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise DatabaseRefused(f"cannot open the database {path}: {error}") from None
    try:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")}
        version = (int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                       .fetchone()[0]) if "schema_version" in tables else 0)
    except sqlite3.DatabaseError as error:  # "file is not a database", "... malformed"
        raise DatabaseRefused(f"{path} is not a usable SQLite database ({error}); the service "
                              "did not change it: restore a backup (voip-runtime restore) or "
                              "move the file away to start with an empty database") from None
    finally:
        conn.close()
    # A new database: no table, or only schema_version from a start that stopped before the
    # first migration committed (that CREATE TABLE commits on its own).
    fresh = tables <= {"schema_version"} and version == 0
    if not fresh and not {"schema_version", "tenants"} <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseRefused(f"{path} is not a voip-runtime database (it holds the tables "
                              f"{shown}); the service did not change it: point data_dir or "
                              "storage_url at the service's own database")
    if version > known:
        raise DatabaseRefused(f"{path} has schema version {version}, newer than this release "
                              f"knows (1..{known}); the service did not change it: run the "
                              "release that wrote it")
