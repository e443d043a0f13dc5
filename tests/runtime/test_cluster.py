"""runtime/cluster.py against a real PostgreSQL: two nodes' clusters on one schema.

The end-to-end view (real servers, WebSockets) is tests/e2e/test_two_nodes.py; here the parts
one by one: relaying and its own-message filter, large messages, module invalidation from any
writer, and the listener's reconnect.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from asyncpg.exceptions._base import InternalClientError

from runtime.cluster import MAX_PAYLOAD_BYTES, RELAY_ATTEMPTS, Cluster, listener_name
from runtime.hub import Credential, CredentialEnded, EndReason, Hub, Subscription
from runtime.modules_cache import ModuleCache
from runtime.store.models import NewModule, Notification, NotificationKind
from runtime.store.postgres import PostgresStore
from tests.runtime.conftest import PostgresBackend


@dataclass
class Node:
    store: PostgresStore
    hub: Hub
    modules: ModuleCache
    cluster: Cluster


@pytest.fixture
async def two(pg_backend: PostgresBackend) -> AsyncIterator[tuple[Node, Node]]:
    nodes = []
    for _ in range(2):
        store = await pg_backend.open()
        assert isinstance(store, PostgresStore)
        hub = Hub()
        modules = ModuleCache(store)
        cluster = Cluster(store, hub, modules, check_interval=0.5)
        await cluster.start()
        nodes.append(Node(store, hub, modules, cluster))
    yield nodes[0], nodes[1]
    for node in nodes:
        await node.cluster.close()


async def received(subscription: Subscription, timeout: float = 5) -> dict[str, Any]:
    return await asyncio.wait_for(subscription.queue.get(), timeout)


async def caught_up(a: Node, b: Node) -> None:
    """Wait until B has heard every change A committed so far. PostgreSQL sends a listener
    its notifications in the order their transactions committed, over both channels of its one
    connection, so a live message A relays now reaches B after them all (a fixed pause was a
    guess a loaded machine could outlast, B then dropping the entry the test had just read)."""
    probe = b.hub.subscribe("usr_probe")
    try:
        await a.hub.publish("usr_probe", {"type": "probe"})
        assert await received(probe) == {"type": "probe"}
    finally:
        b.hub.unsubscribe(probe)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def test_a_message_published_on_one_node_reaches_the_other_once(
    two: tuple[Node, Node],
) -> None:
    a, b = two
    on_a, on_b = a.hub.subscribe("usr_1"), b.hub.subscribe("usr_1")
    message = {"type": "notification", "id": "ntf_1", "payload": {"x": "é"}}
    await a.hub.publish("usr_1", message)
    assert await received(on_b) == message
    assert await received(on_a) == message
    await b.hub.publish("usr_1", {"type": "notification", "id": "ntf_2"})
    assert (await received(on_a))["id"] == "ntf_2"
    assert (await received(on_b))["id"] == "ntf_2"
    await asyncio.sleep(0.3)
    assert on_a.queue.empty() and on_b.queue.empty()  # nobody got their own twice


async def test_a_message_too_large_for_notify_that_is_not_stored_is_not_relayed(
    two: tuple[Node, Node],
) -> None:
    a, b = two
    on_b = b.hub.subscribe("usr_1")
    await a.hub.publish("usr_1", {"type": "other", "blob": "x" * MAX_PAYLOAD_BYTES})
    await a.hub.publish("usr_1", {"type": "other", "n": 2})
    assert (await received(on_b))["n"] == 2  # the large one was dropped, the next one came


async def test_a_stored_notification_too_large_for_notify_goes_by_reference(
    two: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A notification whose message passes NOTIFY's limit goes as its id, and the other node
    loads it from the store. (A notification's fields are all bounded well under the limit
    today, since the script's record data left it; the reference is the net for what is added
    later, so the stored row is the store's answer here.)"""
    a, b = two
    big = {"type": "notification", "id": "ntf_big", "kind": "ended",
           "payload": {"note": "x" * (MAX_PAYLOAD_BYTES + 1)}}
    stored = Notification("ntf_big", "ten_1", "usr_1", "cal_1", NotificationKind.ENDED,
                          {"from": "the store"}, datetime.now(UTC))
    asked: list[tuple[str, str]] = []

    async def get_notification(user_id: str, notification_id: str) -> Notification | None:
        asked.append((user_id, notification_id))
        return stored if notification_id == "ntf_big" else None

    monkeypatch.setattr(b.store, "get_notification", get_notification)
    on_b = b.hub.subscribe("usr_1")
    await a.hub.publish("usr_1", big)
    got = await received(on_b)
    assert asked == [("usr_1", "ntf_big")]
    assert got["type"] == "notification" and got["id"] == "ntf_big"
    assert got["payload"] == {"from": "the store"}


async def test_an_ended_credential_reaches_the_other_node_and_junk_is_ignored(
    two: tuple[Node, Node],
) -> None:
    a, b = two
    key = Credential("api_key", "key_1")
    on_b = b.hub.subscribe("usr_1", {key, Credential("user", "usr_1")})
    untouched = b.hub.subscribe("usr_2", {Credential("api_key", "key_2")})
    heard: list[CredentialEnded] = []
    b.hub.on_ended.append(heard.append)
    # Payloads no node would send: ignored, with a warning, and the listener carries on.
    junk = [{"n": "elsewhere", "e": bad} for bad in (
        "x", {"k": "api_key", "i": "key_1", "r": "NOT_A_REASON"},
        {"k": "tenant", "i": "key_1", "r": "KEY_REVOKED"}, {"k": "api_key", "i": 7})]
    await a.store.notify(a.cluster.notify_channel, [json.dumps(j) for j in junk])
    ended = CredentialEnded(key, EndReason.KEY_REVOKED)
    await a.hub.end(ended)

    async def b_ended() -> bool:
        return on_b.ended is EndReason.KEY_REVOKED

    await eventually(b_ended, 5.0)
    assert on_b.attention.is_set() and heard == [ended]
    assert untouched.ended is None and not untouched.attention.is_set()


async def test_any_committed_module_change_invalidates_every_node(
    two: tuple[Node, Node],
) -> None:
    a, b = two
    tenant = await a.store.create_tenant("acme")
    module = await a.store.create_module(tenant.id, NewModule(name="m", region="RU"))
    version = await a.store.add_version(tenant.id, module.id, "v1")
    assert version is not None
    await caught_up(a, b)  # the announcements of these changes have reached B
    cached = await b.modules.by_token(module.webhook_token)
    assert cached is not None and cached.version == version

    # A rolled-back change says nothing (NOTIFY is transactional): B keeps its entry.
    await a.store.dry_run(lambda tx: tx.add_version(tenant.id, module.id, "dry"))
    await caught_up(a, b)
    assert await b.modules.by_token(module.webhook_token) is cached

    v2 = await a.store.add_version(tenant.id, module.id, "v2")

    async def b_serves_v2() -> bool:
        entry = await b.modules.by_token(module.webhook_token)
        return entry is not None and entry.version == v2

    await eventually(b_serves_v2)
    # Bindings count as a change too, and so does a writer that is no node at all.
    user = await a.store.create_user(tenant.id, "alice")
    await b.modules.by_token(module.webhook_token)
    conn = await asyncpg.connect(a.store.target.dsn,
                                 server_settings={"search_path": a.store.schema})
    try:
        await conn.execute("INSERT INTO bindings (module_id, member_id, user_id) "
                           "VALUES ($1, '101', $2)", module.id, user.id)
    finally:
        await conn.close()

    async def b_forgot() -> bool:
        return module.id not in b.modules._token_of

    await eventually(b_forgot)


async def test_the_listener_reconnects_and_forgets_what_it_may_have_missed(
    two: tuple[Node, Node],
) -> None:
    a, b = two
    tenant = await a.store.create_tenant("acme")
    module = await a.store.create_module(tenant.id, NewModule(name="m", region="RU"))
    await b.modules.by_token(module.webhook_token)
    assert b.cluster._conn is not None
    pid = b.cluster._conn.get_server_pid()
    admin = await asyncpg.connect(a.store.target.dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()

    async def back() -> bool:
        return b.cluster.reconnects == 1 and b.cluster._conn is not None

    await eventually(back)
    assert module.id not in b.modules._token_of  # cleared: invalidations may have been lost
    # And it listens again.
    on_b = b.hub.subscribe("usr_1")
    await a.hub.publish("usr_1", {"type": "notification", "id": "ntf_after"})
    assert (await received(on_b))["id"] == "ntf_after"
    names = {n for (n,) in await application_names(a)}
    assert listener_name(a.store.schema) in names


async def application_names(node: Node) -> list[tuple[str]]:
    conn = await asyncpg.connect(node.store.target.dsn)
    try:
        return [tuple(r) for r in await conn.fetch(
            "SELECT application_name FROM pg_stat_activity WHERE application_name <> ''")]
    finally:
        await conn.close()


async def test_closing_stops_relaying(two: tuple[Node, Node]) -> None:
    a, _ = two
    await a.cluster.close()
    assert a.hub.relay is None


@pytest.mark.parametrize("schema_length", [20, 55])
async def test_module_changes_are_announced_on_the_channel_nodes_listen_to(
    pg_backend: PostgresBackend, schema_length: int,
) -> None:
    # Channel names are at most 63 bytes: a long schema name is replaced by its digest, the
    # same way by the trigger and by the nodes.
    schema = (pg_backend.schema + "_" + "x" * 60)[:schema_length]
    backend = PostgresBackend(pg_backend.url, schema)
    try:
        store = await backend.open()
        assert isinstance(store, PostgresStore)
        assert len(store.channel("modules")) <= 63
        heard: asyncio.Queue[str] = asyncio.Queue()
        listener = await store.connect("test-listener")
        await listener.add_listener(store.channel("modules"),
                                    lambda *args: heard.put_nowait(str(args[3])))
        tenant = await store.create_tenant("acme")
        module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
        assert await asyncio.wait_for(heard.get(), 5) == module.id
        await listener.close()
    finally:
        await backend.close()


async def test_a_message_relayed_just_after_the_database_dropped_the_connection_arrives(
    two: tuple[Node, Node], pg_backend: PostgresBackend, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A killed session (a failover, an operator's pg_terminate_backend) fails the pool's next
    statement on it, with the error asyncpg raises there (seen in the e2e run with sessions
    killed under load); the relay tries again on a fresh connection instead of losing the live
    message for every other node, and logs no traceback."""
    a, b = two
    on_b = b.hub.subscribe("usr_1")
    real_notify = a.store.notify
    failures = [InternalClientError("cannot switch to state 11; another operation (2) is in "
                                    "progress"),
                asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of "
                                                    "operation")]

    async def notify(channel: str, payloads: Sequence[str]) -> None:
        if failures:
            raise failures.pop(0)
        await real_notify(channel, payloads)

    monkeypatch.setattr(a.store, "notify", notify)
    await a.hub.publish("usr_1", {"type": "notification", "id": "ntf_1"})
    assert (await received(on_b))["id"] == "ntf_1"
    assert not failures
    assert "Traceback" not in caplog.text and "relaying" not in caplog.text, caplog.text


async def test_a_relay_that_keeps_failing_for_the_database_says_so_in_one_line(
    two: tuple[Node, Node], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, _ = two
    calls = 0

    async def notify(channel: str, payloads: Sequence[str]) -> None:
        nonlocal calls
        calls += 1
        raise OSError("connection refused")

    monkeypatch.setattr(a.store, "notify", notify)
    await a.hub.publish("usr_1", {"type": "notification", "id": "ntf_1"})
    await eventually(lambda: _true(calls == RELAY_ATTEMPTS and "relaying" in caplog.text))
    assert "relaying 1 notification(s) to other nodes failed: database unreachable" \
        in caplog.text, caplog.text
    assert "Traceback" not in caplog.text, caplog.text


async def _true(value: bool) -> bool:
    return value


async def test_a_driver_error_of_any_kind_while_reconnecting_does_not_end_the_listener(
    two: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A session killed during its LISTEN made asyncpg raise its InternalClientError ("cannot
    # switch to state 12; another operation (2) is in progress"), which is no InterfaceError:
    # the watch task ended, and the node never heard the others again.
    a, b = two
    real_listen = Cluster._listen
    failures = [InternalClientError("cannot switch to state 12; another operation (2) is in "
                                    "progress")]

    async def listen_once_broken(self: Cluster) -> None:
        if self is b.cluster and failures:
            raise failures.pop()
        await real_listen(self)

    monkeypatch.setattr(Cluster, "_listen", listen_once_broken)
    assert b.cluster._conn is not None
    b.cluster._lost.set()  # as its connection's termination listener does

    async def back() -> bool:
        return b.cluster.reconnects == 1 and b.cluster._conn is not None

    await eventually(back)
    assert not failures
    on_b = b.hub.subscribe("usr_1")
    await a.hub.publish("usr_1", {"type": "notification", "id": "ntf_after_error"})
    assert (await received(on_b))["id"] == "ntf_after_error"
