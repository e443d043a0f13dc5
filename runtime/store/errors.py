"""What the store raises, grouped by what the caller does about it.

    StoreError                 base; anything else is a bug or an I/O failure
    ├── NotFound               a referenced record does not exist for this tenant -> 404
    ├── Conflict               a uniqueness or state rule was broken (name taken, no previous
    │                          version to roll back to) -> 409
    ├── StorageLimitExceeded   a module's key-value storage is full -> the script's StorageError
    ├── StoreClosed            the store is closing; the request cannot be served -> 503
    ├── StorageUnavailable     the database cannot take a write now (disk full, I/O error,
    │                          PostgreSQL unreachable or read-only) -> 503 with Retry-After
    ├── NestedWrite            `store.write` called from inside a unit of work (would deadlock)
    └── DatabaseRefused        at start: the file is corrupt, not a database, another
                               program's or a newer release's -> the service does not start

Backends map their own driver errors (sqlite3.IntegrityError, asyncpg's) to these at the seam,
so nothing above the store ever sees a driver exception for a domain condition.
`storage_unavailable(error)` recognises the driver errors that mean "the storage refuses"
(by SQLite result code and PostgreSQL SQLSTATE, also under a StoreError raised from one);
the backends' `write` raises those as StorageUnavailable and records them in `store.health`.
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


class DatabaseRefused(StoreError):
    """At start: the database file is not one this release may open and write (corrupt, not
    SQLite, another program's, or made by a newer release). Nothing in it was changed; the
    service does not start (`voip-runtime serve` prints the message and exits 1)."""


class StorageUnavailable(StoreError):
    """The database cannot take a write now (disk full, I/O error, PostgreSQL unreachable,
    shutting down or read-only). Nothing of the refused write was committed; the same request
    can be retried once the store recovers (-> 503 with Retry-After)."""

    def __init__(self, cause: str, detail: str, *, this_write_only: bool = False) -> None:
        super().__init__(f"{cause} ({detail})" if detail else cause)
        self.cause = cause
        # True: only this write was refused (a lock wait that timed out); the database takes
        # others, so the store's health does not turn "unavailable" for it.
        self.this_write_only = this_write_only


# SQLite primary result codes (the low byte of an extended code) that mean the file or the
# disk under it refuses, rather than a rule of ours was broken.
_SQLITE_CAUSES = {
    5: "the database is locked by another process",   # SQLITE_BUSY, after the busy timeout
    8: "the database is read-only",                   # SQLITE_READONLY
    10: "disk I/O error",                             # SQLITE_IOERR
    11: "the database file is corrupt",               # SQLITE_CORRUPT
    13: "disk full",                                  # SQLITE_FULL
    14: "cannot open the database file",              # SQLITE_CANTOPEN
    15: "database locking protocol error",            # SQLITE_PROTOCOL
    26: "the database file is not a database",        # SQLITE_NOTADB
}

# PostgreSQL SQLSTATE classes and codes that mean the server cannot take the write now.
_POSTGRES_CAUSES = (
    ("08", "PostgreSQL connection lost"),
    ("57P", "PostgreSQL is shutting down or starting"),
    ("53100", "PostgreSQL disk full"),
    ("53", "PostgreSQL is out of resources"),
    ("58", "PostgreSQL system error"),
    ("25006", "PostgreSQL is read-only"),
)
# SQLSTATEs that refuse one write, not the database: another session held a row this write
# needs past our lock_timeout, or someone cancelled the statement (pg_cancel_backend, an
# operator's statement_timeout). Not the script's doing either: the caller is answered 503 and
# its retry goes through once the row is free, while the store stays "ok" for every other
# write (health.py), so a health check does not take the node out for one held row.
_POSTGRES_WRITE_CAUSES = (
    ("55P03", "PostgreSQL lock wait timed out (another session holds a row this write needs)"),
    ("57014", "PostgreSQL cancelled the statement"),
)


def _driver_cause(error: BaseException) -> tuple[str, bool] | None:
    """The cause, and whether it refuses this write only, when `error` itself is a driver
    error meaning "unavailable".

    Duck-typed on the drivers' attributes (`sqlite_errorcode`, asyncpg's `sqlstate`) so this
    module imports neither driver (the store imports asyncpg only for PostgreSQL, open.py).
    """
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        cause = _SQLITE_CAUSES.get(code & 0xFF)
        return None if cause is None else (cause, False)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        for prefix, cause in _POSTGRES_CAUSES:
            if sqlstate.startswith(prefix):
                return cause, False
        for code_, cause in _POSTGRES_WRITE_CAUSES:
            if sqlstate == code_:
                return cause, True
        return None
    # The client side of a connection the server dropped mid-operation: "connection is
    # closed" (InterfaceError), "cannot switch to state ...; another operation is in
    # progress" (InternalClientError). Other InterfaceErrors are our bugs: not these.
    if type(error).__module__.startswith("asyncpg") and (
            type(error).__name__ == "InternalClientError" or "closed" in str(error)):
        return "PostgreSQL connection lost", False
    if isinstance(error, OSError):  # connection refused or reset, host unreachable, timeout
        return "database unreachable", False
    return None


def storage_unavailable(error: BaseException) -> StorageUnavailable | None:
    """`error` as a StorageUnavailable when it (or an error it was raised from) means the
    database cannot take a write now; None for anything else (a bug, a broken rule)."""
    seen: BaseException | None = error
    for _ in range(6):  # the store's own error, then the driver's under it
        if seen is None:
            break
        if isinstance(seen, StorageUnavailable):
            return seen
        found = _driver_cause(seen)
        if found is not None:
            cause, this_write_only = found
            return StorageUnavailable(cause, f"{type(seen).__name__}: {seen}",
                                      this_write_only=this_write_only)
        seen = seen.__cause__ or seen.__context__
    return None


class PhoneTaken(Conflict):
    """A phone number given for a contact already belongs to another contact of the tenant
    (one number, one contact: a call's history must not split between two)."""

    def __init__(self, phone: str, contact_id: str, index: int | None = None) -> None:
        where = "" if index is None else f" (contacts.{index})"
        super().__init__(f"{phone} already belongs to contact {contact_id}{where}")
        self.phone = phone
        self.contact_id = contact_id
        self.index = index
