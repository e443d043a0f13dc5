"""The SQLite database file shrinks after retention deleted much of it: a new database keeps
its free pages in incremental auto-vacuum mode, and the pruner gives those beyond what new
rows will reuse back to the filesystem, a batch at a time. It kept the size of the most it
ever held (tens of GB after a retention period was shortened, or a large tenant deleted). A
database made by an earlier release (no auto-vacuum) is left as it is, without an error."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from runtime import retention
from runtime.retention import Pruner
from runtime.store import SqliteStore
from runtime.store.migrate import apply_migrations
from tests.runtime.test_execution_bytes import logged
from tests.runtime.test_retention import NOW, config, record, tenant_with_module

MIB = 1024 * 1024


def pages(path: Path) -> tuple[int, int]:
    """(pages in the database, of which free), as a separate connection sees them."""
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("PRAGMA page_count").fetchone()[0],
                conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()


async def fill_and_prune(path: Path) -> tuple[int, int]:
    """About 18 MB of executions, all older than their period, then a pruner's pass; the
    pages it released and the file's size once the store is closed."""
    store = await SqliteStore.open(path)
    try:
        _tenant, module = await tenant_with_module(store, "acme")
        old = NOW - timedelta(days=40)
        for chunk in range(6):
            await record(store, [logged(module, old + timedelta(minutes=chunk, seconds=i),
                                        60_000) for i in range(50)])
        report = await Pruner(store, config(), clock=lambda: NOW).run_pass()
        assert report.deleted == {"executions": 300}
        released = report.released_pages
    finally:
        await store.close()
    return released, path.stat().st_size


async def test_the_file_shrinks_after_pruning_and_keeps_room_for_new_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retention, "RELEASE_FREE_BYTES_OVER", MIB)
    path = tmp_path / "voip.db"
    released, size = await fill_and_prune(path)
    assert released > 3000  # of some 4,500 pages of 4 KiB
    assert size < 4 * MIB
    total, free = pages(path)
    assert free <= max(MIB // 4096, total // 8) + 1  # what is kept for new rows


async def test_a_database_of_an_earlier_release_keeps_its_size_without_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retention, "RELEASE_FREE_BYTES_OVER", MIB)
    path = tmp_path / "voip.db"
    plain = sqlite3.connect(path, isolation_level=None)  # no auto-vacuum: an older release's
    apply_migrations(plain)
    plain.close()
    released, size = await fill_and_prune(path)
    assert released == 0
    assert size > 16 * MIB
