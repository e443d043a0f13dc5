"""`voip-runtime backup FILE` and `voip-runtime restore FILE`, for the SQLite backend.

A backup is a consistent copy taken while the service runs (SQLite's online backup API,
`store.sqlite.backup_database`), written `0600` beside its final name and moved there only
once it checked out, so a FILE that exists is always a whole backup. A restore goes into an
empty data directory only (never over a database, however old), from a file that passes
SQLite's integrity check and carries a schema version this release knows; the service
migrates it to the current version when it starts. PostgreSQL deployments use
`pg_dump`/`pg_restore` (README, "Operations").
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from runtime.config import Config
from runtime.store.migrate import load_migrations
from runtime.store.sqlite import backup_database

# Tables every database of ours has had since the first migration.
OUR_TABLES = frozenset({"schema_version", "tenants", "modules", "script_versions", "calls",
                        "contacts", "executions"})


class BackupError(Exception):
    """The backup or restore was refused or failed; the message says why."""


@dataclass(frozen=True, slots=True)
class Checked:
    schema_version: int
    size: int


def sqlite_path(config: Config) -> Path:
    """The database file the configuration names; BackupError for a PostgreSQL URL."""
    parts = urlsplit(config.resolved_storage_url)
    if parts.scheme != "sqlite":
        raise BackupError("the storage is PostgreSQL: back it up with pg_dump and restore it "
                          "with pg_restore (README, \"Operations\")")
    return Path(unquote(parts.netloc + parts.path))


def check_database(path: Path) -> Checked:
    """Refuse anything but a sound database of ours at a schema version this release knows."""
    known = len(load_migrations())
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{path}: cannot open: {error}") from None
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path}: failed SQLite's integrity check: "
                              f"{'; '.join(problems[:5])}")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if missing := OUR_TABLES - tables:
            raise BackupError(f"{path}: not a voip-runtime database (no "
                              f"{', '.join(sorted(missing))} table)")
        version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                      .fetchone()[0])
    except sqlite3.DatabaseError as error:  # "file is not a database", ...
        raise BackupError(f"{path}: not a usable SQLite database: {error}") from None
    finally:
        conn.close()
    if not 1 <= version <= known:
        raise BackupError(f"{path}: schema version {version} is unknown to this release "
                          f"(it knows 1..{known}): restore it with the release that made it")
    return Checked(version, path.stat().st_size)


# `backup` writes `.<name>.partial-<its pid>` beside the file it makes.
_PARTIAL = re.compile(r"\.(.+)\.partial-([0-9]+)")
_SQLITE_HEADER = b"SQLite format 3\x00"


def _remove_stale_partials(directory: Path) -> None:
    """Remove the partial copies that earlier backups left when they were killed (a cron
    job's timeout, a reboot: their `finally` never ran), each as large as the database, one
    per run for good. Only ours: a name of that form, a process that is gone, and a file
    that is empty or a SQLite database."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            found = _PARTIAL.fullmatch(entry.name)
            if found is None or _running(int(found[2])) or not entry.is_file(
                    follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                with open(entry.path, "rb") as partial:
                    header = partial.read(len(_SQLITE_HEADER))
                if header in (b"", _SQLITE_HEADER):
                    os.unlink(entry.path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # someone else's; a number no pid is
        return True
    return True


def _new_private_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _publish(partial: Path, target: Path) -> None:
    """Give the finished copy its name, durably, refusing to replace anything there."""
    _fsync(partial)
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BackupError(f"{target} exists: choose a new file name") from None
    finally:
        partial.unlink()
    _fsync(target.parent)


def backup(config: Config, target: Path) -> Checked:
    source = sqlite_path(config)
    if not source.exists():
        raise BackupError(f"no database at {source} (is data_dir right?)")
    if target.exists():
        raise BackupError(f"{target} exists: choose a new file name")
    target = target.absolute()
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent} to write {target.name} into")
    _remove_stale_partials(target.parent)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _new_private_file(partial)
        backup_database(source, partial)
        checked = check_database(partial)
        _publish(partial, target)
    except (OSError, sqlite3.Error) as error:
        raise BackupError(f"backup failed: {error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return checked


def _holds_anything(directory: Path) -> bool:
    return directory.exists() and any(directory.iterdir())


def restore(config: Config, source: Path) -> Checked:
    target = sqlite_path(config)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    for directory in {config.data_dir.absolute(), target.parent.absolute()}:
        if _holds_anything(directory):
            raise BackupError(f"{directory} is not empty: restore into an empty data "
                              "directory (move the current one aside first)")
    checked = check_database(source)
    try:
        for directory in {config.data_dir, target.parent}:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        _new_private_file(target)
        backup_database(source, target)
        _fsync(target)
    except (OSError, sqlite3.Error) as error:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        raise BackupError(f"restore failed: {error}") from None
    return checked
