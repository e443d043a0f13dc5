"""The SQLite WAL file does not keep the size of the largest transaction it ever held: a big
unit (a tenant's deletion batch, a retention batch of large executions) grew it to hundreds
of MB that stayed on disk until the service stopped."""

from __future__ import annotations

from pathlib import Path

from runtime import ids
from runtime.store import SqliteStore, Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now
from runtime.store.sqlite import WAL_SIZE_LIMIT


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
