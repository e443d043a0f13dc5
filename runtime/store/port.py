"""The port: how the store's SQL reaches a database. Four verbs, one shape for both backends.

    await port.run(sql, args)      -> rows changed
    await port.many(sql, rows)     -> None (the same statement for each row)
    await port.one(sql, args)      -> a row or None
    await port.all(sql, args)      -> rows
    await port.value(sql, args)    -> the first column of the first row, or None
    await port.run_unique(sql, args, message)  -> Conflict(message) on a unique violation,
                                                  the transaction still usable
    await port.write_batch(batch)  -> a unit's queued acting writes, in as few statements
                                      as the database allows (writes.py)

Statements are written once in `$n` style; the port renders them for its dialect.

`SqlitePort` runs each statement synchronously on its connection: its coroutines never
suspend, so a unit on the SQLite writer costs no event-loop round trip per statement, and a
reader thread can drive the same query code with `run_sync`. `PgPort` (postgres_port.py)
awaits asyncpg.

SQLite's driver errors pass through unchanged (an IntegrityError is a bug in the caller, and
`run_unique` maps the one that is not), except a foreign key that fails in a unit's acting
writes: the module (or tenant) they belong to was deleted while its script ran, a NotFound as
PgPort says it; PgPort maps asyncpg's to the store's errors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from runtime.store.dialect import SQLITE, Dialect
from runtime.store.errors import Conflict, NotFound
from runtime.store.writes import Batch, sqlite_statements

T = TypeVar("T")
Args = Sequence[Any]

# The sqlite3 module binds None through its adapter protocol (only exact int, float, str and
# bytearray skip it), and with no adapter registered for None that lookup raises and formats
# an AttributeError inside the module for every NULL parameter: a webhook's unit binds a
# dozen or more (absent extensions, times, ids), 2,000 instructions each. An adapter found
# in the registry is called instead; `{}.get` is a C function answering None for None, so a
# NULL is still bound as NULL. (Process-wide, as adapters are; it changes no value bound.)
_NONE_IS_NULL: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NONE_IS_NULL.get)


class Port(Protocol):
    dialect: Dialect

    async def run(self, sql: str, args: Args = ()) -> int: ...

    async def many(self, sql: str, rows: Sequence[Args]) -> None: ...

    async def one(self, sql: str, args: Args = ()) -> Any: ...

    async def all(self, sql: str, args: Args = ()) -> list[Any]: ...

    async def value(self, sql: str, args: Args = ()) -> Any: ...

    async def run_unique(self, sql: str, args: Args, message: str) -> None: ...

    async def write_batch(self, batch: Batch) -> None: ...


class SqlitePort:
    __slots__ = ("_conn", "dialect")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.dialect = SQLITE

    async def run(self, sql: str, args: Args = ()) -> int:
        return self._conn.execute(SQLITE.render(sql), args).rowcount

    async def many(self, sql: str, rows: Sequence[Args]) -> None:
        self._conn.executemany(SQLITE.render(sql), rows)

    async def one(self, sql: str, args: Args = ()) -> Any:
        return self._conn.execute(SQLITE.render(sql), args).fetchone()

    async def all(self, sql: str, args: Args = ()) -> list[Any]:
        return self._conn.execute(SQLITE.render(sql), args).fetchall()

    async def value(self, sql: str, args: Args = ()) -> Any:
        row = self._conn.execute(SQLITE.render(sql), args).fetchone()
        return None if row is None else row[0]

    async def run_unique(self, sql: str, args: Args, message: str) -> None:
        # A failed statement undoes only itself in SQLite: the transaction stays usable.
        try:
            self._conn.execute(SQLITE.render(sql), args)
        except sqlite3.IntegrityError as error:
            if "UNIQUE" not in str(error):
                raise
            raise Conflict(message) from error

    async def write_batch(self, batch: Batch) -> None:
        # Through the writer connection's TEMP views (writes.sqlite_unit_writes_sql).
        try:
            for sql, rows in sqlite_statements(batch):
                if len(rows) == 1:
                    self._conn.execute(sql, rows[0])
                else:
                    self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as error:
            if "FOREIGN KEY" not in str(error):
                raise
            raise NotFound(f"refers to a record that does not exist: {error}") from error


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine that never suspends (store code over a `SqlitePort`)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("store code over a SqlitePort suspended")
