"""The PostgreSQL server's instructions per part of a webhook unit, counted by callgrind.

    .venv/bin/python bench/pg_unit_instructions.py [--runs 200,600]

What bench/pg_unit_parts.py reads as CPU time (ticks of 10 ms, moved by every other process
on the machine), counted instead: a private server (initdb in a temporary directory; the
machine's shared server is never touched) gets a store schema and the baseline's webhook units
(bench/baseline_server.py `handle`, a new call each); one unit's statements are recorded as
sent (bench/pg_unit_parts.py `one_unit`) and what it stored removed, so they find what they
found then. The server is then stopped, and each part runs M and N times in a single-user
backend (`postgres --single`) under callgrind: instructions per run = (count at N - count at
M) / (N - M), which cancels the backend's start, the session's set-up and its end.

- the scene (a statement of its own, here an EXECUTE of it prepared, as the driver's
  statement cache has it);
- BEGIN, the call's locks, ROLLBACK;
- BEGIN, the unit's writes as sent, ROLLBACK;
- BEGIN; ROLLBACK alone (what the wrappers cost).

No client, no concurrency, no COMMIT's flush: what the server does for the statements
themselves. Needs PostgreSQL's server binaries and valgrind; as root, it runs the server as
the `postgres` user. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pg_unit_parts import Recorded, one_unit
from runtime.store.postgres_port import prepare_locks
from runtime.store.writes import pg_literal, pg_prepare_writes

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
COLLECTED = re.compile(r"Collected : (\d+)")
MARK = re.compile(r"\$(\d+)")


def read_literal(value: Any) -> str:
    """A read's parameter written in, typed as the parameter would have been inferred (the
    single-user backend takes no parameters)."""
    kind = type(value)
    if kind is str:
        return pg_literal(value)  # E'...': an untyped literal, the context types it
    if value is None:
        return "NULL"
    if kind is int:
        return str(value)  # an integer constant: int4 (or int8), as a parameter is typed
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is float:
        return pg_literal(value) + "::float8"
    if kind is datetime:
        return pg_literal(value) + "::timestamptz"
    return pg_literal(value)  # raises NotLiteral


def with_literals(sql: str, args: Sequence[Any]) -> str:
    """The statement with its `$n` parameters written in."""
    return MARK.sub(lambda m: read_literal(args[int(m[1]) - 1]), sql)


class Server:
    """A private server in `directory`, run as `user` (None: as ourselves)."""

    def __init__(self, directory: Path, user: str | None) -> None:
        self.bin = BIN_DIRS[0]
        self.directory = directory
        self.data = directory / "data"
        self.user = user
        self.runs = 0  # callgrind's outputs, numbered (kept with --keep)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def command(self, *args: str) -> list[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command

    def run(self, *args: str) -> None:
        subprocess.run(self.command(*args), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
                 "-E", "UTF8")
        self.run("pg_ctl", "start", "-w", "-D", str(self.data), "-l",
                 str(self.directory / "server.log"), "-o",
                 f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1")

    def stop(self) -> None:
        self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def count(self, statements: list[str]) -> int:
        """Instructions of a single-user backend running `statements`, one command each."""
        script = self.directory / "script.sql"
        # -j: a command ends at a semicolon followed by an empty line.
        script.write_text("".join(re.sub(r"\n\s*\n", "\n", s) + ";\n\n" for s in statements),
                          encoding="utf-8")
        self.runs += 1
        out = self.directory / f"callgrind.{self.runs}.out"
        with script.open("rb") as feed:
            backend = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                       str(self.bin / "postgres"), "--single", "-j", "-D", str(self.data),
                       "postgres"]
            if self.user:  # valgrind under runuser: it counts the backend, not runuser
                backend = ["runuser", "-u", self.user, "--", *backend]
            done = subprocess.run(backend, stdin=feed, capture_output=True, text=True,
                                  timeout=1200)
        if "ERROR" in done.stdout or "ERROR" in done.stderr:
            raise SystemExit(f"a statement failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        found = COLLECTED.search(done.stderr)
        if found is None:
            raise SystemExit(f"callgrind said nothing: {done.stderr[-2000:]}")
        return int(found[1])


async def recorded(url: str, settings: list[str]) -> tuple[Recorded, str, list[str]]:
    """(the unit, its read as an EXECUTE, the session's set-up, with `settings` as SET
    statements)."""
    unit = await one_unit(url, 500)
    conn = await asyncpg.connect(url, server_settings={"search_path": unit.schema})
    try:
        # What the unit stored goes: its statements find again what they found then.
        await conn.execute("DELETE FROM executions WHERE id = $1", unit.execution_id)
        await conn.execute("DELETE FROM calls WHERE id = $1", unit.call_id)
        # The statistics autovacuum keeps on a live server (none in a single-user backend):
        # without them the planner took the module's every call for the provider id's lookup.
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    # The read's values written in: the backend reads statements, with no parameters.
    values = with_literals(", ".join(f"${i + 1}" for i in range(len(unit.read_args))),
                           unit.read_args)
    setup = [f'SET search_path = "{unit.schema}"', *(f"SET {s}" for s in settings),
             prepare_locks(), pg_prepare_writes(), f"PREPARE voip_bench_read AS {unit.read_sql}"]
    return unit, f"EXECUTE voip_bench_read({values})", setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="200,600", help="M,N: runs of each part counted")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the session (e.g. plan_cache_mode=force_generic_plan)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the directory and callgrind's outputs (to annotate)")
    args = parser.parse_args()
    few, many = (int(n) for n in args.runs.split(","))
    if not BIN_DIRS or shutil.which("valgrind") is None:
        raise SystemExit("needs PostgreSQL's server binaries and valgrind")
    user = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="voip-pg-instr-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    server = Server(directory, user)
    try:
        server.start()
        try:
            unit, read, setup = asyncio.run(recorded(server.url, args.set))
        finally:
            server.stop()
        parts: dict[str, list[str]] = {
            "scene read": [read],
            **{f"BEGIN; {name}; ROLLBACK": ["BEGIN", sql, "ROLLBACK"]
               for name, sql in unit.parts.items()},
            "BEGIN; ROLLBACK": ["BEGIN", "ROLLBACK"],
        }
        print(f"server instructions per run (callgrind, single-user backend, "
              f"({many} runs - {few} runs) / {many - few}):")
        total = 0.0
        for name, statements in parts.items():
            counts = [server.count(setup + statements * runs) for runs in (few, many)]
            each = (counts[1] - counts[0]) / (many - few)
            total += each if name != "BEGIN; ROLLBACK" else 0
            print(f"  {name:<28} {each:>12,.0f}")
        print(f"  (the parts but the last, summed: {total:,.0f}; the last message: "
              f"{len(unit.message)} characters, the writes "
              f"{unit.parts['writes'].count('EXECUTE voip_write_')} statements)")
    finally:
        subprocess.run(server.command("pg_ctl", "stop", "-m", "immediate", "-D",
                                      str(server.data)), capture_output=True, check=False)
        if args.keep:
            print(f"kept: {directory} (callgrind.N.out: the parts in turn, M runs then N)")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
