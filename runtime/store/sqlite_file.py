"""The SQLite database file the service opened, still in place under its name.

Removed while the service runs (an operator's `rm -rf data/`, a cleanup job, a restore that
moved another file over it), the file lives on for the open connection: SQLite keeps writing
and committing into it, and nothing says otherwise, while all of it is gone at the next start.
So the writer asks after each commit, and the idle node's health probe asks too: a commit into
a file that is no longer the database is no durable write.

By name and inode (`os.stat`), with no descriptor of our own on the file: closing any
descriptor of a database file drops the POSIX locks SQLite holds on it through its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from runtime.store.errors import StorageUnavailable

REMOVED = "the database file was removed"


class DatabaseFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        found = os.stat(path)
        self._identity = (found.st_dev, found.st_ino)

    def check(self) -> None:
        """StorageUnavailable when the file under the name is gone or is another file."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise StorageUnavailable(REMOVED, f"{self.path} no longer exists; what the "
                                     "service writes now would be lost (put the database "
                                     "back, then restart)") from None
        if (found.st_dev, found.st_ino) != self._identity:
            raise StorageUnavailable(REMOVED, f"{self.path} is another file than the one the "
                                     "service opened; restart it to use that one") from None
