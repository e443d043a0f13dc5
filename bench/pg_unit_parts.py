"""Where a PostgreSQL webhook unit's server CPU goes, statement by statement.

    .venv/bin/python bench/pg_unit_parts.py postgresql://postgres@127.0.0.1/postgres \
        [--repeat 1500] [--rounds 3]

Runs the baseline's webhook units (bench/baseline_server.py `handle`: a new call each) on a
PostgresStore in a fresh schema (dropped after), records one unit's round trips as sent
(asyncpg's query logger), removes what that unit stored (so its statements find what they
found then: no call yet), and runs each part again and again on one connection of its own,
reading the server process's CPU (/proc/<pid>/stat) before and after:

- the scene;
- BEGIN, the call's locks (an EXECUTE of the connection's prepared locks), ROLLBACK;
- BEGIN, the unit's writes as sent (EXECUTEs of prepared statements), ROLLBACK (they can run
  again);
- BEGIN; ROLLBACK alone (what the wrappers cost).

CPU µs per run, the lowest and the median of `--rounds` (the parts in turn each round, so
a busy machine weighs on them alike). One connection and no concurrency: contention between
units (locks, shared buffers, the WAL) and the COMMIT's flush come on top under load, which
`bench/unit_of_work.py --postgres` measures whole. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baseline_server import handle
from runtime.store.models import NewModule
from runtime.store.postgres import PostgresStore, _init_preparing_connection


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Recorded:
    """One webhook unit as the store sent it."""

    schema: str
    read_sql: str  # the scene, as the driver prepared it
    read_args: list[Any]
    # The unit's other statements by part (locks, writes), each to run between BEGIN and
    # ROLLBACK so it can run again.
    parts: dict[str, str]
    message: str  # the unit's last message, the writes with COMMIT
    call_id: str
    execution_id: str


async def one_unit(url: str, units: int) -> Recorded:
    """One webhook unit's statements and the ids of what it stored, after `units` webhook
    units."""
    store = await PostgresStore.open(url, schema=f"bench_parts_{uuid.uuid4().hex[:12]}",
                                     pool_size=1)
    tenant = await store.create_tenant("bench")
    module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
    counter = itertools.count()

    async def webhook() -> None:
        n = next(counter)
        body = json.dumps({"type": "start", "callId": f"p-{n}",
                           "srcPhone": f"+7916{n % 10_000_000:07d}", "dstPhone": "101"})
        await handle(store, tenant.id, module.id, body.encode())

    for _ in range(units):
        await webhook()
    sent: list[asyncpg.connection.LoggedQuery] = []
    async with store._pool.acquire() as conn:
        conn.add_query_logger(sent.append)
    await webhook()
    await asyncio.sleep(0)  # the logger reports with call_soon
    message = sent[-1].query
    # BEGIN with the locks; the scene; the writes and COMMIT
    if len(sent) != 3 or not sent[0].query.startswith("BEGIN;"):
        raise SystemExit(f"not the unit this bench knows: {[q.query[:80] for q in sent]}")
    read = sent[1]
    parts = {"locks": sent[0].query.removeprefix("BEGIN;").strip().rstrip(";"),
             "writes": message.removesuffix("; COMMIT")}
    # The writes' first call id and execution id (one EXECUTE of the batch's shape, or one a
    # row: writes.py `pg_unit_script`).
    call_id = re.search(r"E'(call_[0-9a-z]+)'", message)
    execution_id = re.search(r"E'(exe_[0-9a-z]+)'", message)
    assert call_id is not None and execution_id is not None, message[:300]
    schema = store.schema
    await store.close()
    return Recorded(schema, read.query, list(read.args), parts, message, call_id[1],
                    execution_id[1])


async def measure(url: str, repeat: int, rounds: int) -> None:
    unit = await one_unit(url, 500)
    conn = await asyncpg.connect(url, server_settings={"search_path": unit.schema})
    try:
        # What the unit stored goes: its statements find again what they found then.
        await conn.execute("DELETE FROM executions WHERE id = $1", unit.execution_id)
        await conn.execute("DELETE FROM calls WHERE id = $1", unit.call_id)
        await _init_preparing_connection(conn)  # the prepared locks and writes
        rows = await conn.fetch(unit.read_sql, *unit.read_args)
        assert rows
        pid = await conn.fetchval("SELECT pg_backend_pid()")

        def wrapped(sql: str) -> Callable[[], Awaitable[Any]]:
            return lambda: conn.execute(f"BEGIN; {sql}; ROLLBACK")

        parts: dict[str, Callable[[], Awaitable[Any]]] = {
            "scene read": lambda: conn.fetch(unit.read_sql, *unit.read_args),
            **{f"BEGIN; {name}; ROLLBACK": wrapped(sql) for name, sql in unit.parts.items()},
            "BEGIN; ROLLBACK": lambda: conn.execute("BEGIN; ROLLBACK"),
        }
        seen: dict[str, list[float]] = {name: [] for name in parts}
        for _ in range(rounds):
            for name, part in parts.items():
                for _ in range(50):
                    await part()
                before = cpu_seconds(pid)
                for _ in range(repeat):
                    await part()
                seen[name].append((cpu_seconds(pid) - before) / repeat * 1e6)
        print(f"server CPU per run (µs), one connection, {repeat} runs x {rounds} rounds:")
        for name, figures in seen.items():
            print(f"  {name:<28} lowest {min(figures):6.0f}   median "
                  f"{statistics.median(figures):6.0f}")
        print(f"  (the last message: {len(unit.message)} characters; the writes "
              f"{unit.parts['writes'].count('EXECUTE voip_write_')} statements)")
    finally:
        await conn.execute(f'DROP SCHEMA "{unit.schema}" CASCADE')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--repeat", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.url, args.repeat, args.rounds))


if __name__ == "__main__":
    main()
