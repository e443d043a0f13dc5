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
from runtime.store.pg_reads_target import PoolReads
from runtime.store.port import Args
from runtime.store.writes import Batch, NotLiteral, pg_literal, pg_unit_script, pg_unit_writes

Connection = asyncpg.Connection | PoolConnectionProxy
Target = Connection | PoolReads

DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


def _storable(value: Any) -> Any:
    if type(value) is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if type(value) is list:
        return [_storable(v) for v in value]
    return value


def _storable_args(args: Args) -> list[Any]:
    """`_storable` of each argument, in one frame (a call per argument cost more than the
    check: a statement's arguments are mostly text without NUL)."""
    out = list(args)
    for index, value in enumerate(out):
        kind = type(value)
        if (kind is str and "\x00" in value) or kind is list:
            out[index] = _storable(value)
    return out


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


_LOCKS = """SELECT count(pg_advisory_xact_lock($1, hashtext(k))) FROM (
    SELECT k FROM unnest($2::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n) AS ordered"""


def _hex_lock(space: int, key: str) -> str | None:
    """`pg_advisory_xact_lock(space, hashtext(key))` with the key written as hex digits, so
    the statement needs no parameter and holds nothing a caller wrote (the same lock as
    `hashtext($n)` on the key as text). None: the key is not valid UTF-8."""
    try:
        data = _storable(key).encode("utf-8")
    except UnicodeEncodeError:
        return None
    return (f"pg_advisory_xact_lock({int(space)}, "
            f"hashtext(convert_from(decode('{data.hex()}', 'hex'), 'UTF8')))")


# A unit's first locks are taken by an EXECUTE of a statement each connection prepares for up
# to this many keys at once (`prepare_locks`); more keys go as a statement of their own. Sent
# as text, the locks' SELECT was parsed, analysed and planned for every unit: about 40% of
# what the server spent on taking them (callgrind).
PREPARED_LOCKS = 4


def locks_name(keys: int) -> str:
    return f"voip_unit_locks_{keys}"


def prepare_locks() -> str:
    """The PREPARE statements of the locks on 1..PREPARED_LOCKS keys of one space, each
    `pg_advisory_xact_lock(space, hashtext(key))` in the order given, for a connection to run
    once (postgres.py `_init_preparing_connection`)."""
    return "; ".join(
        f"PREPARE {locks_name(n)}(int, {', '.join(['text'] * n)}) AS SELECT "
        + ", ".join(f"pg_advisory_xact_lock($1, hashtext(${i + 2}))" for i in range(n))
        for n in range(1, PREPARED_LOCKS + 1))


def prepared_locks(space: int, keys: Sequence[str]) -> str | None:
    """The EXECUTE of the connection's prepared statement taking these locks in order
    (`prepare_locks`), the keys written in as literals; None for more keys than it takes, or
    a key that is not valid UTF-8."""
    if len(keys) > PREPARED_LOCKS:
        return None
    try:
        listed = ", ".join([pg_literal(k) for k in keys])
        listed.encode("utf-8")
    except (NotLiteral, UnicodeEncodeError):
        return None
    return f"EXECUTE {locks_name(len(keys))}({int(space)}, {listed})"


class PgPort:
    """A port on the pool (reads, `PoolReads`), or on one unit's connection (`unit=True`), where the
    transaction begins with the unit's first statement: when that statement takes locks
    (`lock`), BEGIN travels with it in one round trip; the unit's last writes travel with its
    COMMIT (`commit`).

    `prepared=True`: the connection has prepared the writes that go with COMMIT and the
    statements taking locks (postgres.py `_init_preparing_connection`): a unit's first locks
    go with its BEGIN as one EXECUTE, its last writes with its COMMIT as EXECUTEs.
    """

    __slots__ = ("begun", "dialect", "prepared", "target", "unit")

    def __init__(self, target: Target, *, unit: bool = False, prepared: bool = False) -> None:
        self.target = target
        self.dialect = POSTGRES
        self.unit = unit
        self.begun = False
        # The connection has prepared the writes that go with COMMIT (writes.py
        # `pg_prepare_writes`, postgres.py): they go as EXECUTEs of those.
        self.prepared = prepared

    async def _begin(self, then: str = "") -> None:
        self.begun = True
        try:
            await self.target.execute(f"BEGIN;{then}")
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def _execute(self, sql: str, args: Args) -> None:
        """A rendered statement as it is, opening no transaction (`commit`'s lone batch)."""
        try:
            await self.target.execute(sql, *_storable_args(args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def lock(self, space: int, keys: Sequence[str]) -> None:
        """Transaction-level advisory locks on `keys` (hashtext), taken in the order given."""
        if self.unit and not self.begun and self.prepared:
            execute = prepared_locks(space, keys)
            if execute is not None:  # the prepared statement: nothing parsed or planned
                await self._begin(f" {execute};")
                return
        if self.unit and not self.begun:
            locks = [_hex_lock(space, k) for k in keys]
            if all(lock is not None for lock in locks):
                await self._begin(f" SELECT {', '.join(str(lock) for lock in locks)};")
                return
        await self.run(_LOCKS, [space, list(keys)])

    async def commit(self, batch: Batch) -> None:
        """Send the unit's last queued writes and commit, in one round trip.

        - Nothing sent yet (a unit that only queued writes, such as its execution row): the
          batch alone, one statement that is its own transaction (committed when it returns);
          with no batch, nothing.
        - In a transaction: the batch with its values written in (`pg_unit_script`) and
          COMMIT, one message of the simple query protocol. Should the batch fail, the
          server skips the COMMIT and the transaction stays open, failed, for the caller's
          rollback. A value that has no literal form (none of the acting writes' today) costs
          the two round trips it did before: the batch with parameters, then COMMIT.
        """
        if not batch:
            await self.end(commit=True)
            return
        if not self.begun:
            sql, args = pg_unit_writes(batch)
            await self._execute(POSTGRES.render(sql), args)
            return
        try:
            script = pg_unit_script(batch, prepared=self.prepared)
        except NotLiteral:
            await self.write_batch(batch)
            await self.end(commit=True)
            return
        await self._finish(script)

    async def _finish(self, script: str) -> None:
        self.begun = True  # until COMMIT has run: a failure leaves a transaction to roll back
        try:
            await self.target.execute(f"{script}; COMMIT")
        except DRIVER_ERRORS as error:
            raise map_error(error) from error
        self.begun = False

    async def end(self, *, commit: bool) -> None:
        """COMMIT (or ROLLBACK) the unit's transaction, if it began."""
        if self.begun:
            self.begun = False
            try:
                await self.target.execute("COMMIT" if commit else "ROLLBACK")
            except DRIVER_ERRORS as error:
                raise map_error(error) from error

    async def run(self, sql: str, args: Args = ()) -> int:
        if self.unit and not self.begun:
            await self._begin()
        try:
            status = await self.target.execute(POSTGRES.render(sql), *_storable_args(args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error
        return affected(status)

    async def many(self, sql: str, rows: Sequence[Args]) -> None:
        if self.unit and not self.begun:
            await self._begin()
        try:
            await self.target.executemany(POSTGRES.render(sql),
                                          [tuple(_storable_args(r)) for r in rows])
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def one(self, sql: str, args: Args = ()) -> Any:
        rendered = POSTGRES.render(sql)
        if self.unit and not self.begun:
            await self._begin()
        try:
            return await self.target.fetchrow(rendered, *_storable_args(args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def all(self, sql: str, args: Args = ()) -> list[Any]:
        rendered = POSTGRES.render(sql)
        if self.unit and not self.begun:
            await self._begin()
        try:
            return await self.target.fetch(rendered, *_storable_args(args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def value(self, sql: str, args: Args = ()) -> Any:
        rendered = POSTGRES.render(sql)
        if self.unit and not self.begun:
            await self._begin()
        try:
            return await self.target.fetchval(rendered, *_storable_args(args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def run_unique(self, sql: str, args: Args, message: str) -> None:
        # In a savepoint, so the unit's transaction stays usable after it, as with SQLite.
        assert self.unit, "a unit's statement"
        await self.run("SAVEPOINT unique_check")
        try:
            await self.run(sql, args)
        except Conflict as error:
            await self.run("ROLLBACK TO SAVEPOINT unique_check")
            raise Conflict(message) from error
        await self.run("RELEASE SAVEPOINT unique_check")

    async def write_batch(self, batch: Batch) -> None:
        sql, args = pg_unit_writes(batch)
        await self.run(sql, args)
