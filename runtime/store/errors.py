"""What the store raises, grouped by what the caller does about it.

    StoreError                 base; anything else is a bug or an I/O failure
    ├── NotFound               a referenced record does not exist for this tenant -> 404
    ├── Conflict               a uniqueness or state rule was broken (name taken, no previous
    │                          version to roll back to) -> 409
    ├── StorageLimitExceeded   a module's key-value storage is full -> the script's StorageError
    ├── StoreClosed            the store is closing; the request cannot be served -> 503
    └── NestedWrite            `store.write` called from inside a unit of work (would deadlock)

Backends map their own driver errors (sqlite3.IntegrityError, asyncpg's) to these at the seam,
so nothing above the store ever sees a driver exception for a domain condition.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class StorageLimitExceeded(StoreError):
    pass


class StoreClosed(StoreError):
    pass


class NestedWrite(StoreError):
    pass
