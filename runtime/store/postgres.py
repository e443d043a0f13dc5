"""`PostgresStore`: the `Store` for deployments of several service nodes sharing one database.

    store = await PostgresStore.open("postgresql://voip@db.internal/voip?schema=voip")
    ...
    await store.close()

Commit strategy: one transaction per unit, on a connection from an asyncpg pool, and the
server's own group commit (PostgreSQL flushes the WAL up to a commit record, so transactions
committing together share one flush). bench/store_backends.py measured it against the shape
of the SQLite writer (units in savepoints of one transaction per batch, on one connection):
2000 acting units, 64 in flight, one tenant, medians of 3 interleaved rounds, on a 2-core
machine running the server too. Spread over 16 modules with an operator each: pool of 10
about 1120 units/s, pool of 4 about 1080, batches on one connection about 460 (SQLite's
group commit about 2700). All on one module and operator: pools about 780, batches 490.
(Those figures are from a unit of about fourteen round trips; a webhook's unit is now three:
BEGIN with the call's locks, its scene, its writes with COMMIT.
tests/runtime/test_unit_statements.py holds it there.) A unit's
statements are round trips; one connection runs them one after another, a pool runs several
units' at once. The pool also wins where it matters for several nodes: a batch would hold
the locks (locks.py) of all its units until its commit, so another node's unit for any of
those calls would wait for the whole batch, two nodes' batches could deadlock (losing a whole
batch), and one unit waiting on a lock would stall every write of its node. With a pool, a
lock wait holds up one unit, and a deadlock one unit.

- `write(unit)` returns after COMMIT (with `synchronous_commit` at least `on`/`local`; a
  server set to `off` is set back to `on` for our sessions, since a webhook is answered only
  after its effects are durable).
- A unit takes its locks before it reads what they guard (locks.py), BEGIN travelling with
  the first ones (an EXECUTE of a statement each connection prepared: postgres_port.py
  `prepare_locks`), and holds them to COMMIT, which travels with its last writes (EXECUTEs
  of the connection's prepared writes: writes.py). Nothing is read outside the unit's
  transaction, and nothing it read is read again at COMMIT. (Reading first and taking the
  locks with COMMIT, the reads checked again under them, saves a round trip but was counted
  at about a fifth more of the server's work per webhook: BENCHMARKS.md.)
- A unit that meets a deadlock, a serialization failure, one of the schema's backstop unique
  indexes, or `RetryUnit` (a stale read, locks.py) is rolled back and run again, up to
  MAX_ATTEMPTS times: units only await `tx` methods (base.py), so running one again is
  safe.
- `dry_run(unit)` runs the unit in a transaction and rolls it back.
- The caller being cancelled does not cancel a started unit: it runs to its end, as with
  SQLite, so a connection is never abandoned mid-statement. `close()` waits for those.
- Driver errors reach callers as `runtime.store.errors` (postgres_port.map_error).

The URL is a libpq-style `postgresql://` or `postgres://` URL. Ours: `?schema=NAME` puts the
tables in that schema (created if missing) instead of the connection's default one;
`?pool_size=N` sets the pool's size (DEFAULT_POOL_SIZE); `?command_timeout=SECONDS` how long
a statement on a pool connection may go unanswered (DEFAULT_COMMAND_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg

from runtime.store.base import Tx
from runtime.store.errors import DatabaseRefused, NestedWrite, StoreClosed, StoreError
from runtime.store.locks import AdvisoryLocks, RetryUnit
from runtime.store.migrate import Migration
from runtime.store.models import Notification, StoreStats, utc_now
from runtime.store.pg_reads_target import PoolReads
from runtime.store.postgres_migrate import apply_migrations, quote_ident
from runtime.store.postgres_port import DRIVER_ERRORS, PgPort, map_error, prepare_locks
from runtime.store.queries import Reads
from runtime.store.reads import Query, QueryReads
from runtime.store.storage_url import POSTGRES_SCHEMES, pg_parameters
from runtime.store.tx import SqlTx, run_unit
from runtime.store.writes import pg_prepare_writes

log = logging.getLogger("runtime.store.postgres")

T = TypeVar("T")

MAX_ATTEMPTS = 8
DEFAULT_POOL_SIZE = 10
# A server that does not answer (a dropped network, a hung host) is not refused: without a
# bound, a new connection waits asyncpg's 60 s and a unit waiting for a pool connection held by
# a hung one waits until TCP gives up, while the provider's webhook times out unanswered.
# Bounded, the unit fails as "database unreachable" and the webhook is answered 503 with
# Retry-After. Connecting takes milliseconds; a unit waits for a free connection only while
# the pool is saturated, which for this long means the database is as good as down.
CONNECT_TIMEOUT_SECONDS = 5.0
ACQUIRE_TIMEOUT_SECONDS = 10.0
# A statement on a pool connection (a unit's, a read's) that the server has not answered within
# this long meets a server that hangs (SIGSTOPped, a network black hole) rather than one that
# is slow: its caller is answered 503 (errors.storage_unavailable, "database unreachable")
# and its connection is abandoned, where it would otherwise wait until the server answers or
# TCP gives up (many minutes), holding the connection, and the webhook, all along. Generous,
# because a live server must never be cut: a unit's COMMIT waiting on a busy disk's fsync
# takes seconds at worst, and a lock wait ends at the server's own lock_timeout (30 s,
# SESSION_SETTINGS), whose precise error ("another session holds a row") must come first. A
# PostgreSQL-side statement_timeout would not do: a hung server enforces nothing. The
# dedicated connections (migrations at start, the cluster's listener) have bounds of their own.
DEFAULT_COMMAND_TIMEOUT_SECONDS = 40.0
CLOSE_WAIT_SECONDS = 5.0  # at close: for running units, then for the pool's connections
# Our sessions never sit idle inside a transaction (units only await tx methods); a node that
# hangs while holding locks is cut off, and a lock wait ends in an error rather than never.
SESSION_SETTINGS = {
    "idle_in_transaction_session_timeout": "60s",
    "lock_timeout": "30s",
    "application_name": "voip-runtime",
}
# Backstop unique indexes (0001_init.sql): violating one means the unit raced; run it again.
RACE_CONSTRAINTS = frozenset({"calls_provider_id", "activity_one_per_call"})
# A unit that read a contact which a merge or a delete then removed writes a call or activity
# row pointing at it: its foreign key fails. Run again, it reads the contact as it now is.
CONTACT_REFERENCES = frozenset({"calls_contact_id_fkey", "activity_contact_id_fkey"})

# Set while a unit runs: a nested store.write would hold a second connection and could
# deadlock against the first; refused as on SQLite.
_IN_UNIT: contextvars.ContextVar[bool] = contextvars.ContextVar("in_pg_unit", default=False)


@dataclass(frozen=True, slots=True)
class PgTarget:
    """Where to connect: asyncpg's DSN (our own parameters removed) and the schema."""

    dsn: str
    schema: str | None
    pool_size: int | None = None
    command_timeout: float | None = None

    @classmethod
    def parse(cls, url: str, schema: str | None = None) -> PgTarget:
        """`?schema=` and `?pool_size=` are ours; other parameters go to asyncpg."""
        parts = urlsplit(url)
        if parts.scheme not in POSTGRES_SCHEMES:
            raise ValueError(f"not a PostgreSQL URL: {parts.scheme!r}")
        given = pg_parameters(url)
        if schema is None:
            schema = given.schema
        return cls(urlunsplit(parts._replace(query=urlencode(given.rest))), schema,
                   given.pool_size, given.command_timeout)

    def settings(self, application_name: str | None = None) -> dict[str, str]:
        settings = dict(SESSION_SETTINGS)
        if application_name:
            settings["application_name"] = application_name
        if self.schema is not None:
            settings["search_path"] = quote_ident(self.schema)
        return settings

    @property
    def where(self) -> str:
        """host:port/database for messages: never the user's password."""
        parts = urlsplit(self.dsn)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        schema = f" (schema {self.schema})" if self.schema else ""
        return f"{parts.hostname or 'localhost'}{port}{parts.path or '/'}{schema}"

    async def connect(self, application_name: str | None = None) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, server_settings=self.settings(application_name),
                                     timeout=CONNECT_TIMEOUT_SECONDS)


def _retryable(error: BaseException) -> bool:
    if isinstance(error, RetryUnit):
        return True
    cause = error.__cause__
    if isinstance(cause, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
        return True
    if isinstance(cause, asyncpg.ForeignKeyViolationError):
        return cause.constraint_name in CONTACT_REFERENCES
    return (isinstance(cause, asyncpg.UniqueViolationError)
            and cause.constraint_name in RACE_CONSTRAINTS)


def _timed_out(error: BaseException) -> bool:
    """Whether `error` (the store's, raised from the driver's) is a statement that went
    unanswered past the pool's command_timeout."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__
    return False


class _Counters:
    __slots__ = ("dry_runs", "failed_units", "retries", "units")

    def __init__(self) -> None:
        self.units = self.failed_units = self.dry_runs = self.retries = 0


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Durability: COMMIT must mean "on disk" (a webhook is answered only after it).
    await conn.execute("SELECT set_config('synchronous_commit', 'on', false) "
                       "WHERE current_setting('synchronous_commit') = 'off'")


# The store's own types (migrations_pg/0011): domains over text. The driver learns a type it
# does not know by asking the server (two queries) the first time a statement's parameter has
# it (a row's columns come as the domain's text); learnt as a connection opens, by a statement
# with a parameter of each (kept in the driver's statement cache), never in the middle of a unit.
STORE_TYPES = ("voip_call_state", "voip_event_effect", "voip_outcome")
_LEARN_TYPES = "SELECT " + ", ".join(f"${n}::{name}" for n, name in enumerate(STORE_TYPES, 1))


async def _init_preparing_connection(conn: asyncpg.Connection) -> None:
    await _init_connection(conn)
    # The locks that go with BEGIN and the writes that go with COMMIT, as EXECUTEs
    # (postgres_port.py `prepare_locks`, writes.py).
    await conn.execute(f"{prepare_locks()}; {pg_prepare_writes()}")
    await conn.fetchrow(_LEARN_TYPES, *[None] * len(STORE_TYPES))


async def _can_prepare_writes(conn: asyncpg.Connection) -> bool:
    """Whether the writes that go with COMMIT (and the locks) can be prepared: not where the
    tables are not the store's (a test's own migrations). Those connections send them as
    text."""
    try:
        await conn.execute(f"{prepare_locks()}; {pg_prepare_writes()}")
    except asyncpg.PostgresError:
        return False
    return True


async def _keep_session(conn: object) -> None:
    """Pool reset on release: nothing beyond asyncpg's own rollback of an open transaction.

    The default reset (`RESET ALL`, `pg_advisory_unlock_all()`, `UNLISTEN *`, `CLOSE ALL`)
    costs a round trip per unit and would undo `_init_connection`. Units leave no session
    state behind: their locks are transaction-level, they SET nothing, LISTEN nothing (the
    cluster listens on its own connection) and open no cursors.
    """


class PostgresStore(QueryReads):
    def __init__(self, target: PgTarget, schema: str, pool: asyncpg.Pool, *,
                 clock: Callable[[], datetime], prepared: bool = True) -> None:
        self.target = target
        self.schema = schema  # the schema the tables live in (current_schema() if not given)
        self._pool = pool
        # Reads and NOTIFYs: a connection each, bounded as a unit's (pg_reads_target.py).
        self._port = PgPort(PoolReads(pool, ACQUIRE_TIMEOUT_SECONDS))
        self._reads = Reads(self._port)
        self._clock = clock
        self._closed = False
        self._running: set[asyncio.Task[Any]] = set()
        self._counters = _Counters()
        self._prepared = prepared  # connections prepared the writes (writes.py)

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None, pool_size: int | None = None,
                   clock: Callable[[], datetime] = utc_now,
                   migrations: list[Migration] | None = None) -> PostgresStore:
        """Connect, migrate (safe when several nodes start at once), open the pool.

        schema: overrides the URL's `?schema=`. pool_size: connections kept for units and
        reads (else the URL's `?pool_size=`, else DEFAULT_POOL_SIZE). clock: the time
        management writes are stamped with (tests pass a fake one).
        """
        target = PgTarget.parse(url, schema)
        pool_size = pool_size or target.pool_size or DEFAULT_POOL_SIZE
        # At start a failure is the operator's to fix (server down, wrong URL, a schema that
        # is not ours): DatabaseRefused, which `serve` prints as one line and exits 1.
        try:
            conn = await target.connect()
        except DRIVER_ERRORS as error:
            raise DatabaseRefused(f"cannot connect to PostgreSQL at {target.where}: "
                                  f"{map_error(error)}") from error
        try:
            resolved = target.schema or await conn.fetchval("SELECT current_schema()") or "public"
            await apply_migrations(conn, resolved, migrations)
            prepared = await _can_prepare_writes(conn)
        except DRIVER_ERRORS as error:
            raise DatabaseRefused(f"cannot prepare the PostgreSQL database at {target.where}: "
                                  f"{map_error(error)}") from error
        finally:
            await conn.close()
        init = _init_preparing_connection if prepared else _init_connection
        pool = await asyncpg.create_pool(
            target.dsn, min_size=1, max_size=pool_size, init=init,
            reset=_keep_session, server_settings=target.settings(),
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=target.command_timeout or DEFAULT_COMMAND_TIMEOUT_SECONDS,
        )
        assert pool is not None
        return cls(target, resolved, pool, clock=clock, prepared=prepared)

    # --- units of work --------------------------------------------------------------------

    async def write(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        return await self.health.watch(self._submit(unit, dry=False))

    async def dry_run(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        return await self._submit(unit, dry=True)

    async def _submit(self, unit: Callable[[Tx], Awaitable[T]], *, dry: bool) -> T:
        if _IN_UNIT.get():
            raise NestedWrite("store.write/dry_run called inside a unit of work")
        if self._closed:
            raise StoreClosed("the store is closed")
        task = asyncio.ensure_future(self._attempts(unit, dry))
        self._running.add(task)
        task.add_done_callback(self._finished)
        # A cancelled caller leaves the unit running to its end (commit or rollback).
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that went away must not leave a warning

    async def _attempts(self, unit: Callable[[Tx], Awaitable[T]], dry: bool) -> T:
        _IN_UNIT.set(True)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                value = await self._once(unit, dry)
            except Exception as error:
                if attempt < MAX_ATTEMPTS and _retryable(error):
                    self._counters.retries += 1
                    await asyncio.sleep(random.uniform(0, 0.002 * attempt))
                    continue
                self._counters.failed_units += 1
                raise
            if dry:
                self._counters.dry_runs += 1
            else:
                self._counters.units += 1
            return value
        raise AssertionError("unreachable")

    async def _once(self, unit: Callable[[Tx], Awaitable[T]], dry: bool) -> T:
        try:
            # The wait for a connection is bounded by a timer on this task, not by
            # acquire(timeout=...), which runs every acquire in a task of its own
            # (asyncio.wait_for): a cost on every unit for a wait that nearly never happens.
            # TimeoutError (an OSError): "database unreachable" (errors.storage_unavailable).
            async with asyncio.timeout(ACQUIRE_TIMEOUT_SECONDS):
                conn = await self._pool.acquire()
            try:
                # BEGIN goes with the unit's first statement (PgPort), COMMIT with the
                # writes it queued last (PgPort.commit).
                port = PgPort(conn, unit=True, prepared=self._prepared)
                tx = SqlTx(port, AdvisoryLocks(port), self._clock)
                try:
                    if dry:
                        value = await run_unit(tx, unit)
                        await port.end(commit=False)
                    else:
                        value = await unit(tx)
                        await port.commit(tx.take_pending())
                except BaseException as error:
                    if _timed_out(error):
                        # The server did not answer: a ROLLBACK (and the release, which
                        # first waits for asyncpg's cancel request to the same server) would
                        # wait as long again. Closed instead; the pool opens a new one. The
                        # transaction never committed, or its caller is not told it did: its
                        # webhook got no 2xx, and the provider's retry is a repeat at worst.
                        conn.terminate()
                        raise
                    # A broken connection cannot roll back; the pool discards it on release.
                    with contextlib.suppress(*DRIVER_ERRORS, StoreError):
                        await port.end(commit=False)
                    raise
                return value
            finally:
                await self._pool.release(conn)
        except DRIVER_ERRORS as error:
            # Acquiring, or a unit's own direct use of the driver.
            raise map_error(error) from error

    def stats(self) -> StoreStats:
        # Every unit is its own transaction: a "batch" of one.
        c = self._counters
        return StoreStats(batches=c.units, units=c.units, failed_units=c.failed_units,
                          dry_runs=c.dry_runs, largest_batch=1 if c.units else 0)

    @property
    def retries(self) -> int:
        """Units run again after a race (deadlock, stale read, backstop index)."""
        return self._counters.retries

    async def close(self) -> None:
        """Let running units end, then close the pool; both bounded, since a server that
        hangs (a dropped network) would otherwise hold a stopping service until TCP gives up.
        An abandoned unit's transaction never committed, or its caller never heard so: its
        webhook got no 2xx, and the provider's retry is a repeat at worst."""
        if self._closed:
            return
        self._closed = True
        if self._running:
            _, stuck = await asyncio.wait(list(self._running), timeout=CLOSE_WAIT_SECONDS)
            if stuck:
                log.warning("closing: %d unit(s) still waiting for PostgreSQL after %g s "
                            "were abandoned", len(stuck), CLOSE_WAIT_SECONDS)
                for task in stuck:
                    task.cancel()
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            self._pool.terminate()

    # --- for the cluster (runtime/cluster.py) -----------------------------------------------

    async def connect(self, application_name: str) -> asyncpg.Connection:
        """A dedicated connection (LISTEN needs one that the pool never hands out)."""
        return await self.target.connect(application_name)

    def channel(self, kind: str) -> str:
        """A NOTIFY channel of this deployment: named after the schema (at most 63 bytes), as
        the trigger in migrations_pg/0001_init.sql names the modules channel."""
        name = f"voip_{kind}_{self.schema}"
        if len(name.encode("utf-8")) <= 63:
            return name
        digest = hashlib.md5(self.schema.encode("utf-8"), usedforsecurity=False).hexdigest()
        return f"voip_{kind}_{digest}"

    async def notify(self, channel: str, payloads: Sequence[str]) -> None:
        """Send NOTIFYs, in order, in one statement."""
        if self._closed:
            raise StoreClosed("the store is closed")
        await self._port.run("SELECT pg_notify($1, p) FROM unnest($2::text[]) "
                             "WITH ORDINALITY AS t(p, n) ORDER BY n", [channel, list(payloads)])

    async def get_notification(self, user_id: str, notification_id: str
                               ) -> Notification | None:
        found: Notification | None = await self._read(Reads.get_notification, user_id,
                                                       notification_id)
        return found

    # --- reads ----------------------------------------------------------------------------

    async def _read(self, query: Query, *args: Any) -> Any:
        if self._closed:
            raise StoreClosed("the store is closed")
        return await query(self._reads, *args)
