"""How many statements a webhook's unit of work costs, counted at the driver on both backends.

The unit is the runner's (runtime/runner.py `webhook`): act on the parse result and store the
execution row, in one `store.write`. SQLite: the statements its writer connection ran for the
unit, without the writer's own BEGIN / SAVEPOINT / RELEASE / COMMIT (a statement whose trigger
writes several tables counts once). PostgreSQL: every round trip on the unit's connection,
BEGIN and COMMIT included (asyncpg's query logger; a message of several statements, such as
the writes with COMMIT, is one round trip and counts once).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from runtime import ids
from runtime.acting import ActContext, Effects, act
from runtime.contract import ParseResult
from runtime.store import SqliteStore, Store, Tx
from runtime.store.models import ContactPhone, Execution, ExecutionOutcome, NewModule
from runtime.store.postgres import PostgresStore
from tests.runtime.conftest import Backend

SQLITE_MOST = 4  # statements for an event or a call record, in the common case
SQLITE_MOST_TWO_PARTS = 2 * SQLITE_MOST  # for an event and a call record in one result
PG_MOST = 3  # round trips for one: BEGIN with the locks, the scene, the writes with COMMIT
PG_MOST_TWO_PARTS = 6  # for an event and a call record in one result
WRITER_OWN = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")


@dataclass
class Counted:
    store: Store
    tenant_id: str
    module_id: str
    seen: list[str]

    async def unit(self, result: dict[str, Any]) -> tuple[Effects, list[str]]:
        """Run the runner's unit for `result`; (its effects, the statements it cost)."""
        parsed = ParseResult.model_validate(result)
        execution = Execution(ids.new_id(ids.EXECUTION), self.tenant_id, self.module_id, None,
                              "VoipParseWebhookRequest", ExecutionOutcome.OK,
                              datetime.now(UTC), request={"method": "POST", "body": "{}"})
        context = ActContext(tenant_id=self.tenant_id, module_id=self.module_id, region="RU",
                             execution_id=execution.id, now=datetime.now(UTC))

        async def unit(tx: Tx) -> Effects:
            effects = await act(tx, context, parsed)
            await tx.insert_execution(replace(execution, effects=effects.to_json()))
            return effects

        await asyncio.sleep(0)  # the query logger reports with call_soon: let it catch up
        self.seen.clear()
        effects = await self.store.write(unit)
        await asyncio.sleep(0)
        if isinstance(self.store, SqliteStore):
            return effects, [s for s in self.seen
                             if not s.lstrip().upper().startswith(WRITER_OWN)]
        return effects, list(self.seen)


async def logged_units(store: PostgresStore) -> Counted:
    """A tenant and module in `store` (a one-connection pool), and units counted by the
    statements its connection sends."""
    tenant = await store.create_tenant("t")
    module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
    seen: list[str] = []
    async with store._pool.acquire() as conn:
        conn.add_query_logger(lambda record: seen.append(record.query))
    return Counted(store, tenant.id, module.id, seen)


@pytest.fixture
async def counted(backend: Backend) -> AsyncIterator[Counted]:
    seen: list[str] = []
    if backend.name == "sqlite":
        store = await backend.open(commit_window=0)
        assert isinstance(store, SqliteStore)
        # The trace names a statement again for each statement of its trigger: count once.
        store._writer_conn.set_trace_callback(
            lambda sql: seen.append(sql) if not seen or seen[-1] != sql else None)
    else:
        store = await backend.open(pool_size=1)
        assert isinstance(store, PostgresStore)
        async with store._pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query))
    tenant = await store.create_tenant("acme")
    module = await store.create_module(tenant.id, NewModule(name="pbx", region="RU"))
    alice = await store.create_user(tenant.id, "alice")
    await store.set_bindings(tenant.id, module.id, {"101": alice.id})
    # The client is a known contact: the scene finds it (and the call record names it).
    await store.create_contact(tenant.id, "Ivan", [ContactPhone("79161234567", "+79161234567")])
    yield Counted(store, tenant.id, module.id, seen)


def event(kind: str, **more: Any) -> dict[str, Any]:
    return {"event": {"event": kind, "direction": "in", "disposition": "unknown",
                      "srcPhone": "79161234567", "dstPhone": "101", "callId": "c1", **more}}


RECORD = {"callRecord": {"direction": "in", "disposition": "answered", "srcPhone": "79161234567",
                         "dstPhone": "101", "duration": 74, "call": {"rec": "r-1"},
                         "callId": "c1"}}


async def test_an_event_or_a_call_record_costs_a_few_statements(
    backend: Backend, counted: Counted,
) -> None:
    start, statements = await counted.unit(event("notify_start"))
    assert start.call is not None and start.call.created and len(start.pushes) == 1
    costs = {"new call, notified": statements}
    answer, costs["answered, notified"] = await counted.unit(event("notify_answer"))
    assert answer.call is not None and answer.call.id == start.call.id and answer.pushes
    repeat, costs["repeat"] = await counted.unit(event("notify_answer"))
    assert repeat.call is not None and repeat.call.repeat
    record, costs["call record"] = await counted.unit(RECORD)
    assert record.record is not None and record.activity is not None
    assert record.activity.action == "created" and record.activity.contact_id is not None
    both, costs["end and record"] = await counted.unit({**event("notify_end"), **RECORD})
    assert both.call is not None and both.record is not None

    stored = await counted.store.list_executions(counted.tenant_id)
    assert len(stored) == 5 and all(e.effects for e in stored)  # every unit's row went out
    if backend.name == "sqlite":
        # One read of the call's scene, then the writes, a group of tables a statement.
        for case, sent in costs.items():
            most = SQLITE_MOST_TWO_PARTS if case == "end and record" else SQLITE_MOST
            assert len(sent) <= most, (case, sent)
    else:
        # BEGIN with the call's locks (a prepared statement's EXECUTE); the scene (locking
        # whom it may notify); the writes and COMMIT: three round trips, where it was about
        # fourteen, and nothing read twice.
        for case, sent in costs.items():
            most = PG_MOST_TWO_PARTS if case == "end and record" else PG_MOST
            assert len(sent) <= most, (case, [s[:100] for s in sent])
            assert sent[0].startswith("BEGIN; EXECUTE voip_unit_locks_"), (case, sent[0])
            assert sent[-1].rstrip().endswith("; COMMIT"), (case, sent)  # writes and COMMIT


async def test_a_unit_writing_only_its_execution_row_is_one_statement(
    backend: Backend, counted: Counted,
) -> None:
    """A webhook whose script returned nothing to act on: the execution row alone, one
    statement on SQLite, one round trip on PostgreSQL (a statement that is its own
    transaction, no BEGIN or COMMIT)."""
    effects, sent = await counted.unit({})
    assert effects.call is None and effects.record is None
    assert len(sent) == 1 and "INSERT INTO executions" in sent[0], sent
    [stored] = await counted.store.list_executions(counted.tenant_id)
    assert stored.outcome is ExecutionOutcome.OK


HOSTILE = ["it's", "\\'; DROP TABLE calls; --", "\\", "E'\\x27'", "$$ $x$", "''''",
           "тест №7 🎉", "a\x00b", "\\\\'\\", "\x1f\n\r\t", "%s %(x)s ?1 $1"]


async def test_hostile_text_in_the_writes_sent_with_commit_comes_back_as_written(
    backend: Backend, counted: Counted,
) -> None:
    """The writes that go with COMMIT carry their values written into the statement
    (PostgreSQL): text a script made up to end a literal is stored as the text it is."""
    for n, text in enumerate(HOSTILE):
        fx, sent = await counted.unit(event("notify_start", callId=f"c{n}{text}",
                                            srcPhone=text, dstPhone=f"{text}!"))
        assert fx.call is not None
        call = await counted.store.get_call(counted.tenant_id, fx.call.id)
        stored = text.replace("\x00", "\ufffd") if backend.name == "postgres" else text
        assert call is not None and call.src_phone == stored
        assert call.dst_phone == f"{stored}!" and call.provider_call_id == f"c{n}{stored}"
        if backend.name == "postgres":
            assert sent[-1].rstrip().endswith("; COMMIT")
    assert len(await counted.store.list_calls(counted.tenant_id)) == len(HOSTILE)


async def test_pg_literals_read_back_as_the_values_they_write(pg_backend: Any) -> None:
    """Every kind of value the acting writes hold, through `pg_literal` and back."""
    from runtime.store.writes import NotLiteral, pg_literal

    conn = await asyncpg.connect(pg_backend.url)
    try:
        for text in [*HOSTILE, "", "\\" * 7, "'" * 9, "".join(map(chr, range(1, 300)))]:
            got = await conn.fetchval(f"SELECT {pg_literal(text)}::text")
            assert got == text.replace("\x00", "\ufffd"), text
        await conn.execute("SET standard_conforming_strings = off")  # E'' does not care
        assert await conn.fetchval(f"SELECT {pg_literal(HOSTILE[1])}::text") == HOSTILE[1]
        moment = datetime(2026, 12, 6, 18, 25, 42, 123000, tzinfo=UTC)
        assert await conn.fetchval(f"SELECT {pg_literal(moment)}::timestamptz") == moment
        assert await conn.fetchval(f"SELECT {pg_literal(74.5)}::float8") == 74.5
        assert await conn.fetchval(f"SELECT {pg_literal(7)}::int") == 7
        assert await conn.fetchval(f"SELECT {pg_literal(True)}::bool") is True
        assert await conn.fetchval(f"SELECT {pg_literal(None)}::text") is None
        for other in (b"x", datetime(2026, 1, 1), [1]):
            with pytest.raises(NotLiteral):
                pg_literal(other)
    finally:
        await conn.close()


def test_the_writes_with_commit_write_each_value_as_pg_literal_does() -> None:
    """`pg_unit_script` writes a row's values itself (the common kinds inline, a UTC time
    once per message): the text is what `pg_literal` gives each value, times of the same
    instant with other offsets included."""
    from datetime import timedelta, timezone

    from runtime.store.writes import PG_PREPARED, SLOTS, pg_literal, pg_unit_script

    moment = datetime(2026, 12, 6, 18, 25, 42, 123000, tzinfo=UTC)
    later = moment + timedelta(milliseconds=1)
    same_elsewhere = moment.astimezone(timezone(timedelta(hours=3)))
    values = [*HOSTILE, None, True, False, 7, 74.5, float("inf"), moment, later, moment,
              same_elsewhere, later, ""]
    slot = SLOTS[0]
    script = pg_unit_script([(slot, [values, values[::-1]])], prepared=True)
    expected = [f"EXECUTE {PG_PREPARED[slot.name]}({', '.join(pg_literal(v) for v in row)})"
                for row in (values, values[::-1])]
    assert script == "; ".join(expected)
    assert "+03:00" in script  # the time with its own offset is not taken for the UTC one


async def test_writes_failing_with_commit_roll_the_whole_unit_back_postgres(
    pg_backend: Any,
) -> None:
    """The unit's last writes fail on the server (here: a module that is gone): COMMIT is
    not run, the unit's transaction is rolled back whole, and the connection serves the next
    unit."""
    from runtime.store.errors import NotFound

    store = await pg_backend.open(pool_size=1)
    tenant = await store.create_tenant("t")
    module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
    counted = Counted(store, tenant.id, module.id, [])
    parsed = ParseResult.model_validate(event("notify_start"))
    context = ActContext(tenant_id=tenant.id, module_id=module.id, region="RU",
                         execution_id=None, now=datetime.now(UTC))

    async def orphan_row(tx: Tx) -> None:
        await act(tx, context, parsed)  # locks, the scene, then a call queued
        await tx.insert_execution(Execution(
            ids.new_id(ids.EXECUTION), tenant.id, "mod_gone", None,
            "VoipParseWebhookRequest", ExecutionOutcome.OK, datetime.now(UTC)))

    with pytest.raises(NotFound):
        await store.write(orphan_row)
    assert await store.list_calls(tenant.id) == []
    assert await store.list_executions(tenant.id) == []
    fx, _ = await counted.unit(event("notify_start"))  # the same connection, usable
    assert fx.call is not None and fx.call.created
    assert len(await store.list_calls(tenant.id)) == 1


async def test_the_writes_with_commit_execute_the_connections_prepared_statements_postgres(
    pg_backend: Any,
) -> None:
    """The writes that go with COMMIT are EXECUTEs of statements prepared on the connection
    (writes.pg_prepare_writes): a new call's four rows one EXECUTE of their shape's statement
    (writes.PG_SHAPES), other batches one of each slot's statement a row. Inserts and updates
    land so, as they do from the statement of data-modifying CTEs still sent where a
    connection prepared nothing."""
    store = await pg_backend.open(pool_size=1)
    counted = await logged_units(store)

    start, sent = await counted.unit(event("notify_start"))
    assert start.call is not None and start.call.created
    assert sent[-1].count("EXECUTE voip_write_") == 1, sent[-1]
    assert "EXECUTE voip_write_new_call(" in sent[-1] and "INSERT INTO" not in sent[-1]
    answer, sent = await counted.unit(event("notify_answer"))
    assert answer.call is not None and answer.call.id == start.call.id
    assert "EXECUTE voip_write_calls_changed(" in sent[-1]

    store._prepared = False  # as where the tables are not the store's: the CTE statement
    other, sent = await counted.unit(event("notify_start", callId="c2", srcPhone="111"))
    assert other.call is not None and other.call.created
    assert "WITH w0 AS (INSERT INTO calls" in sent[-1] and "EXECUTE voip_write" not in sent[-1]

    calls = {c.id: c for c in await store.list_calls(counted.tenant_id)}
    assert calls[start.call.id].state.value == "answered"
    assert calls[other.call.id].state.value == "ringing"
    events = await store.list_call_events(counted.tenant_id, start.call.id)
    assert [e.kind for e in events] == ["notify_start", "notify_answer"]
    assert len(await store.list_executions(counted.tenant_id)) == 3


async def test_a_batch_with_nul_in_its_text_still_goes_out_whole_sqlite(tmp_path: Any) -> None:
    """Text holding NUL (a hostile script's) goes through the one write statement whole."""
    store = await SqliteStore.open(tmp_path / "runtime.db", commit_window=0)
    try:
        tenant = await store.create_tenant("t")
        module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
        counted = Counted(store, tenant.id, module.id, [])
        fx, _ = await counted.unit(event("notify_start", srcPhone="79\x0016", callId="p\x00"))
        assert fx.call is not None
        call = await store.get_call(tenant.id, fx.call.id)
        assert call is not None and call.src_phone == "79\x0016"
        assert call.provider_call_id == "p\x00"
        conn = sqlite3.connect(store.path)
        assert conn.execute("SELECT count(*) FROM executions").fetchone() == (1,)
        conn.close()
    finally:
        await store.close()


async def test_statement_counting_sees_the_driver(pg_backend: Any) -> None:
    """The PostgreSQL count above is asyncpg's own log of the connection: BEGIN is in it."""
    store = await pg_backend.open(pool_size=1)
    seen: list[str] = []
    async with store._pool.acquire() as conn:
        conn.add_query_logger(lambda record: seen.append(record.query))
    await store.create_tenant("t")
    await asyncio.sleep(0)
    assert seen[0].rstrip(";").upper() == "BEGIN" and len(seen) >= 3
    assert isinstance(conn, asyncpg.pool.PoolConnectionProxy)


async def test_a_failed_units_queued_writes_never_reach_another_unit(backend: Backend) -> None:
    """Writes are queued until the unit ends: a unit that fails after queueing some leaves
    nothing behind, even on SQLite where the next unit of the batch runs on the same Tx."""
    store = await backend.open(commit_window=0.05)
    tenant = await store.create_tenant("t")
    module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
    counted = Counted(store, tenant.id, module.id, [])
    parsed = ParseResult.model_validate(event("notify_start"))
    context = ActContext(tenant_id=tenant.id, module_id=module.id, region="RU",
                         execution_id=None, now=datetime.now(UTC))

    async def fails(tx: Tx) -> None:
        await act(tx, context, parsed)  # a call and its history, queued
        raise RuntimeError("the script's result could not be used")

    results = await asyncio.gather(store.write(fails), counted.unit(event("notify_end")),
                                   return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    [call] = await store.list_calls(tenant.id)  # only the second unit's
    assert call.state.value == "ended"
    assert [e.kind for e in await store.list_call_events(tenant.id, call.id)] == ["notify_end"]


async def test_a_batch_of_many_units_runs_the_same_few_savepoint_statements_sqlite(
    tmp_path: Any,
) -> None:
    """A batch holding more units than the writer connection keeps prepared statements (the
    sqlite3 module's cache, 128) commits each of them, rolls a failing one back alone, and
    runs one text of each savepoint statement whatever its size: texts numbered per unit
    outnumbered the cache, each prepared again every batch (runtime/store/sqlite_writer.py)."""
    store = await SqliteStore.open(tmp_path / "runtime.db", commit_window=0.05)
    try:
        tenant = await store.create_tenant("t")
        module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
        counted = Counted(store, tenant.id, module.id, [])
        savepoints: list[str] = []
        store._writer_conn.set_trace_callback(
            lambda sql: savepoints.append(sql)
            if sql.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")) else None)
        parsed = ParseResult.model_validate(event("notify_start", callId="lost"))
        context = ActContext(tenant_id=tenant.id, module_id=module.id, region="RU",
                             execution_id=None, now=datetime.now(UTC))

        async def fails(tx: Tx) -> None:
            await act(tx, context, parsed)
            raise RuntimeError("the script's result could not be used")

        units = 150
        results = await asyncio.gather(
            *(counted.unit(event("notify_start", callId=f"c{n}")) for n in range(units // 2)),
            store.write(fails),
            *(counted.unit(event("notify_start", callId=f"c{n}"))
              for n in range(units // 2, units)),
            return_exceptions=True)
        assert isinstance(results[units // 2], RuntimeError)
        assert store.stats().largest_batch > 128  # one batch, as the test means
        calls = await store.list_calls(tenant.id, limit=1000)
        assert sorted(c.provider_call_id or "" for c in calls) == sorted(
            f"c{n}" for n in range(units))
        assert len(await store.list_executions(tenant.id, limit=1000)) == units
        assert sorted(set(savepoints)) == ["RELEASE unit", "ROLLBACK TO unit", "SAVEPOINT unit"]
    finally:
        await store.close()


@pytest.mark.parametrize("key", ["mod_1\x1fid\x1fcall-1", "mod_1\x1fid\x1fзвонок №7",
                                 "mod_1\x1fid\x1fnul\x00here", "mod_1\x1fid\x1f'; DROP"])
async def test_the_first_lock_written_as_hex_is_the_same_lock_postgres(
    pg_backend: Any, key: str,
) -> None:
    """BEGIN travels with a unit's first locks, their keys written as hex digits; a later
    lock on the same key is a parameter. Both must be one lock, or two nodes would not
    exclude each other."""
    from runtime.store.locks import LOCK_CALL
    from runtime.store.postgres_port import PgPort

    store = await pg_backend.open()
    other = await asyncpg.connect(pg_backend.url)
    try:
        async with store._pool.acquire() as conn:
            port = PgPort(conn, unit=True)
            await port.lock(LOCK_CALL, [key])  # the first statement: BEGIN and the hex form
            assert port.begun
            taken = await other.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CALL,
                key.replace("\x00", "\ufffd"))  # the parameter form (PgPort's NUL rule)
            assert taken is False
            await port.end(commit=False)
        assert await other.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", LOCK_CALL,
            key.replace("\x00", "\ufffd")) is True  # released with the transaction
    finally:
        await other.close()


@pytest.mark.parametrize("keys", [["mod_1\x1fid\x1fcall-1"],
                                  ["mod_1\x1fid\x1fзвонок №7", "mod_1\x1fid\x1fnul\x00here"],
                                  [f"mod_1\x1fid\x1f'; DROP {n}" for n in range(5)]])
async def test_a_units_locks_are_the_same_locks_postgres(
    pg_backend: Any, keys: list[str],
) -> None:
    """A unit takes its first locks with its BEGIN, by EXECUTE of a statement the connection
    prepared (up to four keys; more as a statement of their own), the keys written in as
    literals: the same locks as a parameter names, or two nodes would not exclude each other."""
    from runtime.store.locks import LOCK_CALL
    from runtime.store.postgres_port import PgPort

    store = await pg_backend.open()
    other = await asyncpg.connect(pg_backend.url)
    try:
        async with store._pool.acquire() as conn:
            port = PgPort(conn, unit=True, prepared=True)
            await port.lock(LOCK_CALL, keys)
            assert port.begun
            for key in keys:
                taken = await other.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_CALL,
                    key.replace("\x00", "\ufffd"))
                assert taken is False, key
            await port.end(commit=False)
        assert await other.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", LOCK_CALL,
            keys[0].replace("\x00", "\ufffd")) is True  # released with the transaction
    finally:
        await other.close()


async def test_a_role_without_the_temp_privilege_runs_units_as_any_other_postgres(
    pg_backend: Any,
) -> None:
    """The store creates no temporary objects: on a role that may not (TEMP revoked), units
    take their locks with BEGIN by the connection's prepared statements, read, and write
    with COMMIT, as anywhere else."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"voip_notemp_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_backend.url)
    await admin.execute(f'CREATE ROLE "{name}" LOGIN')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.execute(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC')
    await admin.execute(f'GRANT CONNECT, CREATE ON DATABASE "{name}" TO "{name}"')
    parts = urlsplit(pg_backend.url)
    url = urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port or 5432}",
                                    path=f"/{name}"))
    try:
        store = await PostgresStore.open(url, schema="voip", pool_size=1)
        try:
            counted = await logged_units(store)
            fx, sent = await counted.unit(event("notify_start"))
            assert fx.call is not None and fx.call.created
            assert sent[0].startswith("BEGIN; EXECUTE voip_unit_locks_")  # locks first
            assert len(sent) == PG_MOST and sent[-1].rstrip().endswith("; COMMIT")
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE "{name}"')
        await admin.close()


async def test_a_lock_a_units_select_takes_is_held_to_its_commit_postgres(
    pg_backend: Any,
) -> None:
    """A statement of a unit that takes a transaction-level lock itself (retention's, tried
    without waiting) runs in the unit's transaction, begun with the locks taken before it:
    both are held to COMMIT and released with it."""
    from runtime.store.locks import LOCK_CALL, LOCK_RETENTION
    from runtime.store.postgres_port import PgPort

    store = await pg_backend.open(pool_size=1)
    other = await asyncpg.connect(pg_backend.url)

    async def free(space: int, key: str) -> bool:
        taken = await other.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))",
                                     space, key)
        if taken:
            await other.execute("SELECT pg_advisory_unlock($1, hashtext($2))", space, key)
        return bool(taken)

    try:
        async with store._pool.acquire() as conn:
            port = PgPort(conn, unit=True, prepared=True)
            await port.lock(LOCK_CALL, ["probe"])
            assert port.begun and not await free(LOCK_CALL, "probe")  # BEGIN with the lock
            assert await port.value("SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                                    [LOCK_RETENTION, "probe"]) is True
            assert not await free(LOCK_RETENTION, "probe")  # its lock is still held ...
            assert not await free(LOCK_CALL, "probe")  # ... with the one taken before it
            await port.end(commit=True)
        assert await free(LOCK_RETENTION, "probe") and await free(LOCK_CALL, "probe")
    finally:
        await other.close()


def test_sqlite_groups_are_contiguous_in_slot_order() -> None:
    # sqlite_statements gathers a group's slots in one pass over a batch (in SLOTS order).
    from runtime.store.writes import _GROUP_OF, SLOTS, SQLITE_GROUPS

    order = [_GROUP_OF[s.name] for s in SLOTS]
    runs = [g for i, g in enumerate(order) if i == 0 or order[i - 1] != g]
    assert runs == [group for group, _ in SQLITE_GROUPS]
