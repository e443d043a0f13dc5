"""Data at rest: the data directory and its secrets readable by the service's user only.

A sandbox worker (or any other local user) must not read tenants' settings, webhook tokens or
the operator token from the database files, nor take a lock on them that stops the service's
writes. So: the data directory is 0700, the database, its `-wal`/`-shm` and the token file are
0600 from the first start, and an older install is fixed at start (one log line says what). The
service process is also made non-dumpable (a same-uid process cannot read its memory or
environment through /proc) and the operator token is wiped from its environment once read.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# New files the service creates (SQLite's database, journal and shared memory, logs) are for
# its own user only; SQLite gives -wal and -shm the database file's mode.
SERVICE_UMASK = 0o077
# The service's claim on the database (runtime/one_service.py) too: a lock file others may
# open, they may `flock`, and the service then refuses to start.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", "-service.lock")
PR_SET_DUMPABLE = 4


def _restrict(path: Path, mode: int) -> bool:
    """chmod `path` to `mode` when it grants more; True when it had to be changed."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if current & ~mode:
        os.chmod(path, current & mode)
        return True
    return False


def database_files(database: Path) -> list[Path]:
    return [database] + [database.with_name(database.name + suffix)
                         for suffix in SQLITE_COMPANIONS]


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (an empty file is a valid new
    SQLite database), so it is private from its first moment whatever the umask."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def restrict_database_files(database: Path) -> list[Path]:
    """The database and its companions to 0600, one log line saying which were looser (a
    database outside the data directory, which `secure_data_directory` does not see); returns
    them."""
    fixed = [path for path in database_files(database) if _restrict(path, PRIVATE_FILE_MODE)]
    if fixed:
        log.warning("data at rest: restricted to the service's user: %s",
                    ", ".join(str(path) for path in fixed))
    return fixed


def secure_data_directory(data_dir: Path, private_files: list[Path]) -> None:
    """Create `data_dir` as 0700 or tighten it, tighten `private_files` (those that exist) to
    0600, and log once what an older install had looser."""
    data_dir.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    fixed = [data_dir] if _restrict(data_dir, PRIVATE_DIRECTORY_MODE) else []
    fixed += [path for path in private_files if _restrict(path, PRIVATE_FILE_MODE)]
    if fixed:
        log.warning("data at rest: restricted to the service's user: %s",
                    ", ".join(str(path) for path in fixed))


def wipe_environment_variable(name: str) -> str | None:
    """Remove `name` from this process's environment and overwrite its value in place.

    `/proc/<pid>/environ` shows the environment block the process started with, which
    `unsetenv` leaves untouched: the bytes there are zeroed as well."""
    value = os.environ.pop(name, None)
    prefix = name.encode() + b"="
    _wipe_from_initial_block(prefix)
    return value


def _wipe_from_initial_block(prefix: bytes) -> None:
    """Zero `prefix...` in the process's initial environment block (between env_start and
    env_end of /proc/self/stat), where it stays after os.environ and libc forget it."""
    try:
        with open("/proc/self/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[1].split()
        # Fields after the command name start at field 3; env_start and env_end are 50, 51.
        env_start, env_end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return
    block = ctypes.string_at(env_start, env_end - env_start)
    offset = 0
    for entry in block.split(b"\0"):
        if entry.startswith(prefix) and len(entry) > len(prefix):
            ctypes.memset(env_start + offset + len(prefix), 0, len(entry) - len(prefix))
        offset += len(entry) + 1


def make_process_undumpable() -> bool:
    """PR_SET_DUMPABLE 0: /proc/<pid>/{mem,environ,maps} and ptrace need CAP_SYS_PTRACE."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
