"""The storage layer: one async `Store` interface; SQLite, or PostgreSQL for several nodes.

    from runtime.store import SqliteStore, Store, Tx
    from runtime.store.postgres import PostgresStore   # or: runtime.store.open.open_store(url)

Read `base.py` first: it documents the unit-of-work API and every operation.
"""

from runtime.store.base import DEFAULT_LIMIT, Store, Tx
from runtime.store.errors import (
    Conflict,
    NestedWrite,
    NotFound,
    StorageLimitExceeded,
    StoreClosed,
    StoreError,
)
from runtime.store.sqlite import SqliteStore

__all__ = [
    "DEFAULT_LIMIT",
    "Conflict",
    "NestedWrite",
    "NotFound",
    "SqliteStore",
    "StorageLimitExceeded",
    "Store",
    "StoreClosed",
    "StoreError",
    "Tx",
]
