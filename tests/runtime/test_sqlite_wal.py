"""The SQLite WAL file does not keep the size of the largest transaction it ever held: a big
unit (a tenant's deletion batch, a retention batch of large executions) grew it to hundreds
of MB that stayed on disk until the service stopped. And a unit's savepoint journal stays in
memory."""

from __future__ import annotations

import os
from pathlib import Path

from runtime import ids
from runtime.store import SqliteStore, Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now
from runtime.store.sqlite import WAL_SIZE_LIMIT, _connect


async def test_the_wal_is_cut_back_after_a_large_unit(tmp_path: Path) -> None:
    path = tmp_path / "voip.db"
    store = await SqliteStore.open(path, commit_window=0.001)
    try:
        tenant = await store.create_tenant("acme")
        module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
        noisy = "x" * 60_000  # an execution's captured output, near its cap

        async def large(tx: Tx) -> None:
            for _ in range(2 * WAL_SIZE_LIMIT // len(noisy)):
                await tx.insert_execution(Execution(
                    ids.new_id(ids.EXECUTION), tenant.id, module.id, None,
                    "VoipParseWebhookRequest", ExecutionOutcome.OK, utc_now(),
                    duration_ms=1.0, logs=noisy))

        await store.write(large)
        for n in range(3):  # ordinary units afterwards: checkpoints empty the WAL
            await store.create_tenant(f"t{n}")
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size <= WAL_SIZE_LIMIT
        assert len(await store.list_executions(tenant.id, limit=1000)) > 0
    finally:
        await store.close()


def _sqlite_temporary_files_open() -> list[str]:
    """SQLite's temporary files this process holds open (it unlinks each as it makes it)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def test_a_units_savepoint_journal_is_written_to_no_file(tmp_path: Path) -> None:
    """The writer runs each unit of a batch in a savepoint. Its journal (each page the unit
    changes, as it was) went to a temporary file once past 64 KiB, which a new call's unit
    passes: a file made and unlinked for most batches and written with two system calls a
    page, on the event loop's thread."""
    conn = _connect(tmp_path / "voip.db", read_only=False)
    try:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 500,)] * 2000)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SAVEPOINT unit")
        conn.execute("UPDATE t SET v = 'y' || v")  # about 1 MiB of pages changed
        held = _sqlite_temporary_files_open()
        conn.execute("RELEASE unit")
        conn.execute("COMMIT")
        assert held == []
        assert conn.execute("SELECT count(*) FROM t WHERE v LIKE 'yx%'").fetchone()[0] == 2000
    finally:
        conn.close()
