"""`PgPort`: the port (port.py) over asyncpg, a unit's connection or the pool (reads).

The seam every PostgreSQL statement passes:
- PostgreSQL text cannot hold NUL (U+0000), which a script's phone number, a log line or an
  id taken from a URL path can. NUL in a text parameter becomes U+FFFD: a lookup by such a
  value finds nothing (as the id does not exist) instead of failing, and a stored phone or log
  keeps every other character. Storage keys, which must round-trip exactly, are bytea.
- asyncpg's errors become `runtime.store.errors` (the driver's error stays as `__cause__`, for
  the retry decision in `postgres.py`): a unique violation is a Conflict, a foreign key
  violation a NotFound, anything else a StoreError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from runtime.store.dialect import POSTGRES
from runtime.store.errors import Conflict, NotFound, StoreError
from runtime.store.port import Args
from runtime.store.writes import Batch, pg_unit_writes

Connection = asyncpg.Connection | PoolConnectionProxy
Target = Connection | asyncpg.Pool

DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def _storable(value: Any) -> Any:
    if type(value) is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if type(value) is list:
        return [_storable(v) for v in value]
    return value


def map_error(error: Exception) -> StoreError:
    """The store's error for a driver error (the caller raises it `from error`)."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return Conflict(f"already exists ({error.constraint_name or 'unique'}): "
                        f"{error.detail or error}")
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return NotFound(f"refers to a record that does not exist: {error.detail or error}")
    if isinstance(error, asyncpg.PostgresError):
        return StoreError(f"database error ({error.sqlstate}): {error}")
    return StoreError(f"database unavailable: {type(error).__name__}: {error}")


def affected(status: str) -> int:
    """Rows changed, from a status tag such as "UPDATE 1" or "DELETE 0"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgPort:
    __slots__ = ("dialect", "target")

    def __init__(self, target: Target) -> None:
        self.target = target
        self.dialect = POSTGRES

    async def run(self, sql: str, args: Args = ()) -> int:
        try:
            status = await self.target.execute(POSTGRES.render(sql), *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error
        return affected(status)

    async def many(self, sql: str, rows: Sequence[Args]) -> None:
        try:
            await self.target.executemany(POSTGRES.render(sql),
                                          [tuple(map(_storable, r)) for r in rows])
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def one(self, sql: str, args: Args = ()) -> Any:
        try:
            return await self.target.fetchrow(POSTGRES.render(sql), *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def all(self, sql: str, args: Args = ()) -> list[Any]:
        try:
            return await self.target.fetch(POSTGRES.render(sql), *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def value(self, sql: str, args: Args = ()) -> Any:
        try:
            return await self.target.fetchval(POSTGRES.render(sql), *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def run_unique(self, sql: str, args: Args, message: str) -> None:
        # In a savepoint, so the unit's transaction stays usable after it, as with SQLite.
        assert not isinstance(self.target, asyncpg.Pool)
        try:
            async with self.target.transaction():
                await self.run(sql, args)
        except Conflict as error:
            raise Conflict(message) from error

    async def write_batch(self, batch: Batch) -> None:
        sql, args = pg_unit_writes(batch)
        await self.run(sql, args)
