"""Retention: bytes stored per webhook, and webhook latency while the pruner deletes.

    .venv/bin/python bench/retention.py [--seconds 20] [--rate 200] [--preload 100000]
                                        [--postgres URL]   # bytes on PostgreSQL

1. Bytes per webhook. The real service (`voip-runtime serve`) with the seed-json module takes
   webhooks at a fixed rate (bench/loadgen.py, its own process; each webhook a new call with
   its history, activity and execution row); the database's bytes in use (SQLite: pages in
   use, WAL included; PostgreSQL: pg_total_relation_size of every table of the schema) are
   read before and after and divided by the webhooks answered 2xx. Per table too.
2. p99 with pruning running vs not. The same database is preloaded with `--preload`
   executions 40 days old (a request body and logs each, like a webhook's), rolled up already.
   Two copies of it serve the same load: one configured to keep executions for 10 years
   (the pruner passes and finds nothing to delete), one for 30 days (the pruner deletes the
   whole preload, in its batches, while the webhooks arrive). Prints each run's p50/p99 and
   how many rows the pruner deleted during it (`voip_retention_pruned_rows_total`).

Asserts nothing about timing: figures are for BENCHMARKS.md, taken on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.webhooks import (  # noqa: E402
    SEED,
    drop_schema,
    free_port,
    load,
    module_hook,
    process,
    row,
    service_args,
    wait_ready,
)
from runtime import ids  # noqa: E402
from runtime.config import DATABASE_FILE, RetentionConfig  # noqa: E402
from runtime.retention import Pruner  # noqa: E402
from runtime.store import Store, Tx  # noqa: E402
from runtime.store.models import Execution, ExecutionOutcome, utc_now  # noqa: E402
from runtime.store.open import open_store  # noqa: E402

PRUNED = re.compile(r'^voip_retention_pruned_rows_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.M)
REQUEST_BODY = '{"type":"start","callId":"%s","srcPhone":"+79161234567","dstPhone":"101"}'


def configure(args: list[str], retention: dict[str, Any], storage_url: str | None) -> None:
    """Add `retention:` (and a storage URL) to the config file service_args wrote."""
    path = Path(args[-1])
    config = yaml.safe_load(path.read_text())
    config["retention"] = retention
    if storage_url:
        config["storage_url"] = storage_url
    path.write_text(yaml.safe_dump(config))


def sqlite_bytes(data: Path) -> dict[str, int]:
    """Bytes in use by table (dbstat, when SQLite has it) and in all ("total")."""
    conn = sqlite3.connect(f"file:{data / DATABASE_FILE}?mode=ro", uri=True)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        used = (conn.execute("PRAGMA page_count").fetchone()[0]
                - conn.execute("PRAGMA freelist_count").fetchone()[0])
        sizes = {"total": used * page_size}
        try:
            for name, size in conn.execute(
                    "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                sizes[name] = size
        except sqlite3.OperationalError:
            pass  # no dbstat in this build: the total only
        return sizes
    finally:
        conn.close()


async def postgres_bytes(url: str) -> dict[str, int]:
    import asyncpg

    schema = re.search(r"[?&]schema=(\w+)", url)
    conn = await asyncpg.connect(re.sub(r"[?&]schema=\w+", "", url))
    try:
        rows = await conn.fetch(
            "SELECT c.relname, pg_total_relation_size(c.oid) AS size FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
            "AND c.relkind = 'r'", schema.group(1) if schema else "public")
    finally:
        await conn.close()
    sizes = {r["relname"]: int(r["size"]) for r in rows}
    sizes["total"] = sum(sizes.values())
    return sizes


async def pruned_rows(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        return {kind: float(n) for kind, n in PRUNED.findall(await response.text())}


async def preload(storage_url: str, hook_url: str, count: int) -> None:
    """`count` executions 40 days old for the module behind `hook_url`, then rolled up."""
    store: Store = await open_store(storage_url)
    try:
        module = await store.get_module_by_webhook_token(hook_url.rsplit("/", 1)[1])
        assert module is not None
        old = utc_now() - timedelta(days=40)
        logs = "parsed a start event for +79161234567 -> 101\n" * 8
        for first in range(0, count, 1000):
            batch = [Execution(
                ids.new_id(ids.EXECUTION), module.tenant_id, module.id, module.active_version_id,
                "VoipParseWebhookRequest", ExecutionOutcome.OK,
                old + timedelta(milliseconds=10 * n), duration_ms=1.0, cpu_ms=0.8, logs=logs,
                request={"method": "POST", "url": "/hooks/x", "headers": [],
                         "body": REQUEST_BODY % f"pre-{n}"},
                result={"event": {"type": "start"}})
                for n in range(first, min(first + 1000, count))]

            async def unit(tx: Tx, rows: list[Execution] = batch) -> None:
                for e in rows:
                    await tx.insert_execution(e)

            await store.write(unit)
        # Rolled up now, so the runs below differ only in what the pruner deletes.
        await Pruner(store, RetentionConfig(executions_days=3650, executions_per_module=None,
                                            batch_rows=10_000, batch_pause_ms=0)).run_pass()
    finally:
        await store.close()


def serve(data: Path, retention: dict[str, Any], storage_url: str | None,
          workers: int) -> tuple[list[str], str]:
    port = free_port()
    args = service_args(data, port, workers)
    configure(args, retention, storage_url)
    return args, f"http://127.0.0.1:{port}"


def bytes_per_webhook(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    data = work / "fresh"
    command, base = serve(data, {}, args.postgres, args.workers)
    with process(command):
        asyncio.run(wait_ready(f"{base}/healthz"))
        hook = asyncio.run(module_hook(base, "acme", SEED))
        load(hook, 4, 1.0, rate=50)  # warm up: workers started, pages allocated
        before = measure(args, data)
        figures = load(hook, args.concurrency, args.seconds, rate=args.rate)
        time.sleep(1.0)  # the last commits land
        after = measure(args, data)
    ok = max(figures["ok"], 1)
    print(row("webhooks while measuring bytes", figures))
    print(f"bytes per webhook: {(after['total'] - before['total']) / ok:,.0f} in all")
    for table in sorted(after, key=lambda t: after[t] - before.get(t, 0), reverse=True):
        grown = after[table] - before.get(table, 0)
        if table != "total" and grown > 0:
            print(f"  {table:<28} {grown / ok:10,.0f}")
    return data, hook


def measure(args: argparse.Namespace, data: Path) -> dict[str, int]:
    if args.postgres:
        return asyncio.run(postgres_bytes(args.postgres))
    return sqlite_bytes(data)


def p99_with_pruning(args: argparse.Namespace, work: Path, seeded: Path, hook: str) -> None:
    if args.postgres:
        print("p99 with pruning: SQLite only (the copies below are of the SQLite file)")
        return
    asyncio.run(preload(f"sqlite://{seeded / DATABASE_FILE}", hook, args.preload))
    print(f"\npreloaded {args.preload:,} executions 40 days old ({sqlite_bytes(seeded)['total']:,}"
          " bytes in use)")
    runs = {"pruner idle (10-year retention)": {"executions_days": 3650,
                                                "executions_per_module": None},
            "pruner deleting (30-day retention)": {"executions_days": 30,
                                                   "executions_per_module": None}}
    for label, retention in runs.items():
        data = work / label.split()[1]
        shutil.copytree(seeded, data, ignore=shutil.ignore_patterns("config.yaml"))
        command, base = serve(data, {**retention, "interval_seconds": 1}, None, args.workers)
        with process(command):
            asyncio.run(wait_ready(f"{base}/healthz"))
            hook_url = base + "/hooks/" + hook.rsplit("/", 1)[1]
            load(hook_url, 4, 1.0, rate=50)
            figures = load(hook_url, args.concurrency, args.seconds, rate=args.rate)
            deleted = asyncio.run(pruned_rows(base))
        print(row(label, figures) + f"   pruned during the run: {deleted or 'nothing'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preload", type=int, default=100_000,
                        help="old executions the pruner deletes during the second run")
    parser.add_argument("--postgres", default=None, help="measure bytes on PostgreSQL (a "
                        "database URL; the bench uses a schema of its own and drops it)")
    args = parser.parse_args()
    schema = f"bench_retention_{os.getpid()}"
    database = args.postgres
    if database:
        args.postgres = f"{database}{'&' if '?' in database else '?'}schema={schema}"
    try:
        with tempfile.TemporaryDirectory(prefix="voip-bench-retention-") as tmp:
            work = Path(tmp)
            seeded, hook = bytes_per_webhook(args, work)
            p99_with_pruning(args, work, seeded, hook)
    finally:
        if database:
            drop_schema(database, schema)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(f"the load generator failed: {error.stderr}")
