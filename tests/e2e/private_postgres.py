"""A PostgreSQL server of the test's own (initdb + pg_ctl in a temporary directory, its own
port), for tests that stop and start the database: the machine's shared server is never
touched. Run as the `postgres` user when the tests run as root (PostgreSQL refuses root).
Skipped, saying why, where the server binaries are missing."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.crash_support import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class PrivatePostgres:
    def __init__(self, bin_dir: Path, directory: Path, user: str | None) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "server.log"
        self.port = free_port()
        self.user = user

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return command

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._command(*args), capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{args[0]}: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                  "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=40 -c shared_buffers=16MB")

    def stop(self) -> None:
        """A fast shutdown: sessions are ended at once, in-progress transactions rolled back."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data))

    def destroy(self) -> None:
        subprocess.run(self._command("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data)),
                       capture_output=True, check=False, timeout=120)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not BIN_DIRS or not (BIN_DIRS[0] / "initdb").exists():
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: this test "
                    "starts and stops a server of its own")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root without a postgres user to run PostgreSQL as")
    directory = Path(tempfile.mkdtemp(prefix="voip-private-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    server = PrivatePostgres(BIN_DIRS[0], directory, user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
