"""Run N units of one kind after a warm-up, for counting instructions per unit under callgrind.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/a.cg \
        .venv/bin/python bench/unit_instructions.py webhook 640

Instructions per unit = (total at N units - total at M units) / (N - M): the difference cancels
start-up, imports, the warm-up and the store's opening, and counts every thread (the group
commit's COMMIT runs in its own thread, which a --toggle-collect around the loop would miss).
Same units as bench/unit_of_work.py: 32 clients at a time on SQLite, every caller new, the garbage
collector settled as the service settles it (runtime/collector.py). A fixed
PYTHONHASHSEED keeps repeated counts within a few thousand instructions per unit.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_server import handle
from bench.unit_of_work import clients, execution_row_only
from runtime import collector
from runtime.store import SqliteStore
from runtime.store.models import NewModule

CONCURRENCY = 32
WARM_UP = 100  # per client's share: 3 rounds of the 32 clients


async def run(kind: str, units: int) -> None:
    work = handle if kind == "webhook" else execution_row_only
    with tempfile.TemporaryDirectory(prefix="voip-instr-") as tmp:
        store = await SqliteStore.open(Path(tmp) / "unit.db", commit_window=0)
        tenant = await store.create_tenant("bench")
        module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
        client = clients(work, store, tenant.id, module.id)
        collector.settle()  # as the service does at startup
        await asyncio.gather(*(client(WARM_UP // CONCURRENCY) for _ in range(CONCURRENCY)))
        await asyncio.gather(*(client(units // CONCURRENCY) for _ in range(CONCURRENCY)))
        # Batches can vary with the threads' timing, and each costs a COMMIT: shown so that
        # counts made with different batching are not compared as if alike.
        print(store.stats(), file=sys.stderr)
        await store.close()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2])))
