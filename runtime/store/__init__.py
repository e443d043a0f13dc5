"""The storage layer: one async `Store` interface; SQLite, or PostgreSQL for several nodes.

    from runtime.store import SqliteStore, Store, Tx
    from runtime.store.postgres import PostgresStore   # or: runtime.store.open.open_store(url)

Read `base.py` first: it documents the unit-of-work API and every operation. One SQL
implementation serves both databases:

    base.py          the interface: Tx (a unit's operations) and Store
    models.py        the records, as frozen dataclasses
    tables.py        each table's columns, listed once; row encoders and decoders built from them
    queries.py       every read, once (`Reads`), and the webhook's one-statement `call_scene`
    tx.py            every Tx operation, once (`SqlTx`), over a port and a locking hook
    writes.py        a unit's acting writes, queued and sent together (PostgreSQL: EXECUTEs
                     of statements each connection prepared, sent with COMMIT; SQLite: one per
                     group of tables, through narrow TEMP views)
    dialect.py       what differs: parameter marks, times, JSON, booleans, keys, a few words
    port.py          run / many / one / all / value over SQLite (synchronous); postgres_port.py
                     the same over asyncpg, beginning a unit's transaction with its first locks
                     and ending it with its last writes; pg_reads_target.py the pool as reads
                     use it
    locks.py         the locking hook: nothing on SQLite, advisory locks on PostgreSQL
    sqlite.py        SqliteStore: the group-commit writer (sqlite_writer.py), reader threads
    postgres.py      PostgresStore: a pool, a transaction per unit (its locks first, with
                     BEGIN; its reads under them; its writes with COMMIT), retries
    reads.py         the Store's reads, forwarding to `Reads`
    storage_url.py   the storage URL read without a driver: its backend, our `?schema=` and
                     `?pool_size=` (the configuration checks it at start); open.py opens it
    migrate.py, postgres_migrate.py, migrations/, migrations_pg/: each backend's schema history

A new field of calls: the model (models.py), its column (tables.py), a migration per backend.
A new operation: its method in base.py and its one implementation in tx.py or queries.py
(a read of the Store also forwards to it in reads.py, one line).
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
