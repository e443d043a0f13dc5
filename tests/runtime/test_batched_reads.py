"""Reads that pages and live updates make for many rows at once cost one statement, not one per
row, counted at the driver on both backends (as tests/runtime/test_unit_statements.py does):
a tenant with many bindings or a contact with many calls must not be a lever on the store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from aiohttp import web

from runtime.api.bindings import bindings_json
from runtime.contact_redraw import redraw_calls_of
from runtime.store import SqliteStore, Store
from runtime.store.models import ContactPhone, NewModule
from runtime.store.postgres import PostgresStore
from runtime.typedefs import STORE
from tests.runtime.conftest import Backend


@dataclass
class ReadCounter:
    """The statements a store's reads send: SQLite's one reader connection, traced; or the
    one connection of a PostgreSQL pool, logged."""

    store: Store
    seen: list[str] = field(default_factory=list)

    async def start(self) -> None:
        await self.store.get_tenant("ten_warm")  # SQLite: the reader connection, made
        if isinstance(self.store, SqliteStore):
            [conn] = self.store._read_conns
            conn.set_trace_callback(self.seen.append)
        else:
            assert isinstance(self.store, PostgresStore)
            async with self.store._pool.acquire() as conn:
                conn.add_query_logger(lambda record: self.seen.append(record.query))

    async def statements(self) -> list[str]:
        await asyncio.sleep(0)  # asyncpg's query logger reports with call_soon
        sent = list(self.seen)
        self.seen.clear()
        return sent


async def counted_store(backend: Backend) -> tuple[Store, ReadCounter]:
    if backend.name == "sqlite":
        store = await backend.open(readers=1)
    else:
        store = await backend.open(pool_size=1)
    counter = ReadCounter(store)
    await counter.start()
    return store, counter


async def test_listing_bindings_reads_their_users_in_one_statement(backend: Backend) -> None:
    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    module = await store.create_module(acme.id, NewModule(name="pbx", region="RU"))
    users = [await store.create_user(acme.id, f"user {n}") for n in range(30)]
    stranger = await store.create_user(globex.id, "not acme's")
    await store.set_bindings(acme.id, module.id,
                             {str(100 + n): users[n % 30].id for n in range(60)})
    bindings = await store.list_bindings(acme.id, module.id)
    assert bindings is not None and len(bindings) == 60
    # A binding naming a user the tenant does not have (as a race with a deletion leaves):
    # no name, as before.
    bindings.append(type(bindings[0])(module.id, "999", stranger.id))
    request = cast(web.Request, SimpleNamespace(app={STORE: store}))
    await counter.statements()

    listed = await bindings_json(request, acme.id, bindings)

    sent = await counter.statements()
    assert len(sent) == 1, sent  # one per bound user before: 30
    rows = cast(list[dict[str, Any]], listed["bindings"])
    assert [r["member_id"] for r in rows] == [b.member_id for b in bindings]
    assert rows[0] == {"member_id": "100", "user_id": users[0].id, "user_name": "user 0"}
    assert rows[59]["user_name"] == "user 29"
    assert rows[60] == {"member_id": "999", "user_id": stranger.id, "user_name": None}
    assert await bindings_json(request, acme.id, []) == {"bindings": []}


class Hub:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, user_id: str, message: dict[str, Any]) -> None:
        self.published.append((user_id, message))


async def test_a_contact_change_reads_whom_its_calls_rang_in_one_statement(
    backend: Backend,
) -> None:
    from runtime import ids
    from runtime.acting import ActContext, act
    from runtime.contract import ParseResult

    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    module = await store.create_module(acme.id, NewModule(name="pbx", region="RU"))
    alice = await store.create_user(acme.id, "alice")
    bob = await store.create_user(acme.id, "bob")
    await store.set_bindings(acme.id, module.id, {"101": alice.id, "102": bob.id})
    numbers = ["+79161234567", "+79161234568", "+79161234569"]
    await store.create_contact(acme.id, "Ivan", [ContactPhone(n[1:], n) for n in numbers])
    expected: set[tuple[str, str]] = set()
    for n, number in enumerate(numbers):
        for k in range(4):  # four calls a number, ringing alice, bob, or nobody
            member = ["101", "102", "555"][(n + k) % 3]
            parsed = ParseResult.model_validate({"event": {
                "event": "notify_start", "direction": "in", "disposition": "unknown",
                "srcPhone": number[1:], "dstPhone": member, "callId": f"c{n}-{k}"}})
            context = ActContext(tenant_id=acme.id, module_id=module.id, region="RU",
                                 execution_id=ids.new_id(ids.EXECUTION), now=datetime.now(UTC))

            async def unit(tx: Any, parsed: ParseResult = parsed,
                           context: ActContext = context) -> Any:
                return await act(tx, context, parsed)

            effects = await store.write(unit)
            assert effects.call is not None
            if member != "555":
                expected.add(({"101": alice.id, "102": bob.id}[member], effects.call.id))
    assert len(expected) == 8
    hub = Hub()
    await counter.statements()

    await redraw_calls_of(store, cast(Any, hub), acme.id, numbers)

    sent = await counter.statements()
    # The calls of the numbers, then whom they rang: one per call before (12 here).
    assert len(sent) == 2, sent
    assert all(m == {"type": "call_changed", "call_id": m["call_id"]} for _, m in hub.published)
    assert {(user, m["call_id"]) for user, m in hub.published} == expected
    assert len(hub.published) == len(expected)  # each user told once a call


async def test_a_bulk_import_of_thousands_of_numbers_redraws_their_calls(
    backend: Backend,
) -> None:
    """A bulk contact import names up to 20,000 numbers. They are read a few hundred at a
    time: as one read, a statement of a subquery a number went past what one compound
    statement may hold (SQLite: 500 parts), and the import's callers' cards were not redrawn."""
    from runtime import ids
    from runtime.acting import ActContext, act
    from runtime.contract import ParseResult

    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    module = await store.create_module(acme.id, NewModule(name="pbx", region="RU"))
    alice = await store.create_user(acme.id, "alice")
    await store.set_bindings(acme.id, module.id, {"101": alice.id})
    numbers = [f"+7916{n:07d}" for n in range(1_000)]
    parsed = ParseResult.model_validate({"event": {
        "event": "notify_start", "direction": "in", "disposition": "unknown",
        "srcPhone": numbers[-1][1:], "dstPhone": "101", "callId": "c-last"}})
    context = ActContext(tenant_id=acme.id, module_id=module.id, region="RU",
                         execution_id=ids.new_id(ids.EXECUTION), now=datetime.now(UTC))

    async def unit(tx: Any) -> Any:
        return await act(tx, context, parsed)

    effects = await store.write(unit)
    assert effects.call is not None
    hub = Hub()
    await counter.statements()

    await redraw_calls_of(store, cast(Any, hub), acme.id, numbers)

    assert hub.published == [(alice.id, {"type": "call_changed", "call_id": effects.call.id})]
    assert len(await counter.statements()) <= 10  # a few reads, not one a number


async def test_users_are_read_by_one_parameter_however_many(backend: Backend) -> None:
    """`get_users` takes its ids as one parameter: past the 32,766 parameters one statement
    may have (both databases), a module's bound users are still one read, and the tenant's
    only."""
    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    alice = await store.create_user(acme.id, "alice")
    other = await store.create_user(globex.id, "other")
    asked = [alice.id, other.id, *(f"usr_gone{n}" for n in range(40_000)), alice.id]
    await counter.statements()
    assert await store.get_users(acme.id, asked) == {alice.id: alice}
    assert len(await counter.statements()) == 1
    assert await store.get_users(acme.id, []) == {}
    assert await counter.statements() == []  # nothing asked: nothing sent



async def test_tenant_bindings_and_live_token_counts_stay_in_the_tenant(
    backend: Backend,
) -> None:
    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    alice = await store.create_user(acme.id, "alice")
    bob = await store.create_user(acme.id, "bob")
    eve = await store.create_user(globex.id, "eve")
    zeta = await store.create_module(acme.id, NewModule(name="zeta", region="RU"))
    alpha = await store.create_module(acme.id, NewModule(name="alpha", region="RU"))
    theirs = await store.create_module(globex.id, NewModule(name="alpha", region="RU"))
    await store.set_bindings(acme.id, zeta.id, {"9": alice.id, "10": bob.id})
    await store.set_bindings(acme.id, alpha.id, {"2": bob.id, "1": alice.id})
    await store.set_bindings(globex.id, theirs.id, {"1": eve.id})
    for user in (alice, alice, bob, eve):
        await store.create_user_token(user.tenant_id, user.id)
    revoked, _ = await store.create_user_token(acme.id, bob.id)
    await store.revoke_user_token(acme.id, bob.id, revoked.id)
    await counter.statements()

    every = await store.tenant_bindings(acme.id, 500)
    # By module name, then member id (as text, as list_bindings orders them).
    assert [(b.module_name, b.member_id, b.user_id) for b in every] == [
        ("alpha", "1", alice.id), ("alpha", "2", bob.id),
        ("zeta", "10", bob.id), ("zeta", "9", alice.id)]
    assert all(b.module_id == (alpha.id if b.module_name == "alpha" else zeta.id)
               for b in every)
    assert [b.member_id for b in await store.tenant_bindings(acme.id, 500, bob.id)] == [
        "2", "10"]
    assert await store.tenant_bindings(acme.id, 500, eve.id) == []
    assert [b.module_name for b in await store.tenant_bindings(acme.id, 1)] == [
        "alpha", "alpha"]  # the first module by name, as list_modules(limit=1) pages them
    assert await store.live_token_counts(acme.id, [alice.id, bob.id, eve.id, "usr_x"]) == {
        alice.id: 2, bob.id: 1}
    assert await store.live_token_counts(globex.id, [alice.id, eve.id]) == {eve.id: 1}
    assert await store.live_token_counts(acme.id, []) == {}
    assert len(await counter.statements()) == 6  # one statement a read (none for no ids)
    # A page of users' bindings: theirs only, the tenant's only, in the same order.
    assert [(b.module_name, b.member_id, b.user_id)
            for b in await store.users_bindings(acme.id, [bob.id, eve.id, "usr_x"])] == [
        ("alpha", "2", bob.id), ("zeta", "10", bob.id)]
    assert await store.users_bindings(globex.id, [alice.id]) == []
    assert await store.users_bindings(acme.id, []) == []
    assert len(await counter.statements()) == 2


async def test_active_version_numbers_are_the_tenants_in_one_statement(
    backend: Backend,
) -> None:
    store, counter = await counted_store(backend)
    acme = await store.create_tenant("acme")
    globex = await store.create_tenant("globex")
    rolled = await store.create_module(acme.id, NewModule(name="rolled", region="RU"))
    fresh = await store.create_module(acme.id, NewModule(name="fresh", region="RU"))
    await store.create_module(acme.id, NewModule(name="empty", region="RU"))
    theirs = await store.create_module(globex.id, NewModule(name="theirs", region="RU"))
    for source in ("a = 1", "a = 2", "a = 3"):
        await store.add_version(acme.id, rolled.id, source)
    await store.rollback_version(acme.id, rolled.id)
    await store.add_version(acme.id, fresh.id, "b = 1")
    await store.add_version(acme.id, fresh.id, "b = 2", activate=False)
    await store.add_version(globex.id, theirs.id, "c = 1")
    await counter.statements()
    assert await store.active_version_numbers(acme.id) == {rolled.id: 2, fresh.id: 1}
    assert await store.active_version_numbers(globex.id) == {theirs.id: 1}
    assert len(await counter.statements()) == 2
