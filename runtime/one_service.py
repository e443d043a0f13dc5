"""One service per SQLite database: a second `voip-runtime serve` on the same file refuses to
start.

SQLite would let two services write one file, but each keeps what it knows in memory: the
active version of each module (modules_cache.py), the live notifications of its operators, its
group commit. A version activated through one would not be seen by the other, and the other's
operators would miss its calls. Several nodes share a PostgreSQL database, never a SQLite file.

The claim is an exclusive `flock` on `<database>-service.lock` beside the database, held for the
life of the process and released by the kernel however the process ends (a crash leaves
nothing to clean up). The file holds the pid of the service that holds it, for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from runtime.store.errors import DatabaseRefused


def sqlite_database(storage_url: str) -> Path | None:
    """The SQLite file a storage URL names; None for PostgreSQL."""
    parts = urlsplit(storage_url)
    return Path(unquote(parts.netloc + parts.path)) if parts.scheme == "sqlite" else None


def lock_path(database: Path) -> Path:
    return database.with_name(f"{database.name}-service.lock")


class ServiceLock:
    """The held claim; `release()` ends it (the process's exit does too)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def claim_database(database: Path) -> ServiceLock:
    """Claim `database` for this process; DatabaseRefused when another service holds it."""
    path = lock_path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise DatabaseRefused(
            f"{database}: another voip-runtime service is running on this database{by}; "
            "each service needs its own data_dir (nodes of one cluster share a PostgreSQL "
            "database, not a SQLite file)") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return ServiceLock(fd)
