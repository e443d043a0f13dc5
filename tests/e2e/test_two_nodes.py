"""Two service nodes on one PostgreSQL database, end to end: real servers on loopback, real
workers, one fresh schema. What one node does, the other sees: live notifications, module
changes, the calls themselves, and credentials that end (their sockets close everywhere)
(tests/pg.py: skipped without PostgreSQL, failed under CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, CookieJar
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.cluster import listener_name
from runtime.config import TenantLimitsConfig
from runtime.typedefs import HUB
from tests import pg
from tests.console.conftest import Browser
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.helpers import (
    SeedSetup,
    answer,
    closed_with,
    end,
    record,
    seed_setup,
    start,
    upload,
)

V2_SCRIPT = """
def VoipParseWebhookRequest(request):
    return {"response": HttpResponse().status(299).content("v2")}
"""


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
async def nodes(tmp_path: Any) -> AsyncIterator[tuple[Service, Service, str, str]]:
    url = await pg.postgres_url()
    schema = pg.new_schema_name()
    services: list[Service] = []
    try:
        for name in ("a", "b"):
            config = service_config(
                tmp_path / name, storage_url=with_schema(url, schema),
                # Each node admits its own traffic; these tests send bursts on purpose.
                tenant_limits=TenantLimitsConfig(concurrent_executions=64),
            )
            client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
            await client.start_server()
            services.append(Service(client, config, Api(client, OPERATOR_TOKEN)))
        yield services[0], services[1], url, schema
    finally:
        try:
            for service in services:
                with contextlib.suppress(Exception):
                    await service.client.close()
        finally:
            await pg.drop_schema(url, schema)


def on(seed: SeedSetup, node: Service) -> SeedSetup:
    """The same tenant and module, talked to through another node."""
    return replace(seed, service=node, api=node.api(seed.api.secret))


async def live(node: Service, seed: SeedSetup) -> ClientWebSocketResponse:
    socket = await node.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert (await socket.receive_json())["type"] == "hello"
    return socket


async def next_notification(socket: ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await asyncio.wait_for(socket.receive_json(), 10)
        if message["type"] == "notification":
            return message


async def nothing_more(socket: ClientWebSocketResponse, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(socket.receive_json(), seconds)


async def test_a_webhook_on_one_node_notifies_sockets_on_both_once(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    socket_a, socket_b = await live(a, seed), await live(b, seed)

    await seed.hook_ok(start())  # to node A
    from_b, from_a = await next_notification(socket_b), await next_notification(socket_a)
    assert from_b["kind"] == "ringing" and from_b == from_a
    await on(seed, b).hook_ok(answer())  # to node B
    from_a, from_b = await next_notification(socket_a), await next_notification(socket_b)
    assert from_a["kind"] == "answered" and from_a == from_b
    # Each node delivered each notification once: its own, and the other's from the relay.
    await nothing_more(socket_a)
    await nothing_more(socket_b)
    await socket_a.close()
    await socket_b.close()


async def test_a_notification_relayed_from_another_node_carries_no_recording_data(
    nodes: tuple[Service, Service, str, str],
) -> None:
    """The script's record data (12 KB here, over NOTIFY's limit when it rode along) stays
    with the builder's API: the other node's operator is told there is a recording and
    nothing of how to find it. (Relaying a notification too large for NOTIFY by reference:
    tests/runtime/test_cluster.py.)"""
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    socket_a = await live(a, seed)
    big = "r" * 12_000
    await on(seed, b).hook_ok(start("c-big"))
    assert (await next_notification(socket_a))["kind"] == "ringing"
    await on(seed, b).hook_ok(record("c-big", record_id=big))
    await on(seed, b).hook_ok(end("c-big"))  # published on B, relayed to A
    ended = await next_notification(socket_a)
    assert ended["kind"] == "ended"
    assert ended["payload"]["call"]["has_record"] is True
    assert "record_call" not in ended["payload"]["call"] and big not in json.dumps(ended)
    await nothing_more(socket_a)
    await socket_a.close()


async def test_a_notification_another_node_stored_but_never_relayed_still_comes_first(
    nodes: tuple[Service, Service, str, str],
) -> None:
    """Node B stores a notification and dies before relaying it (here its relay is cut): the
    socket on node A gets it before the next one A publishes, so every notification reaches
    the socket, in the order they were stored, and the id of the last one received is a safe
    place to resume from (`?after=`). It used to be lost for good: A's next one went out
    alone, and a reconnect after it skipped the one before."""
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    socket_a = await live(a, seed)
    b.client.app[HUB].relay = None  # B publishes on its own sockets only, as if it died
    await on(seed, b).hook_ok(start("c-relay-lost"))
    await seed.hook_ok(start("c-next"))  # to node A
    first, second = await next_notification(socket_a), await next_notification(socket_a)
    stored = await a.api(seed.user_token).ok("GET", "/api/v1/notifications")
    assert [first["id"], second["id"]] == [n["id"] for n in stored["notifications"]]
    assert [first["payload"]["call"]["provider_call_id"],
            second["payload"]["call"]["provider_call_id"]] == ["c-relay-lost", "c-next"]
    assert "missed" not in first and "missed" not in second
    await nothing_more(socket_a)
    await socket_a.close()
    again = await a.client.ws_connect(
        f"/api/v1/live?token={seed.user_token}&after={second['id']}")
    assert [(await again.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    await again.close()


async def serves_v2_within(node: SeedSetup, seconds: float) -> float:
    """Post to the node until the v2 script answers; how long that took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        response = await node.post_hook({"type": "probe"})
        if response.status == 299:
            assert await response.text() == "v2"
            return loop.time() - started
        assert response.status == 400  # still the seed script
        assert loop.time() - started < seconds, "the other node still serves the old version"
        await asyncio.sleep(0.02)


async def test_a_version_activated_on_one_node_serves_the_next_webhook_on_the_other(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    seed_b = on(seed, b)
    assert (await seed_b.post_hook({"type": "probe"})).status == 400  # B caches v1
    v1_id = seed.module["id"]
    await upload(seed.api, v1_id, V2_SCRIPT)  # through A, activated
    assert await serves_v2_within(seed_b, 1.0) < 1.0
    # And back: a rollback through B reaches A's cache.
    assert (await seed.post_hook({"type": "probe"})).status == 299
    await seed_b.api.ok("POST", f"/api/v1/modules/{v1_id}/rollback")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 1.0
    while (await seed.post_hook({"type": "probe"})).status != 400:
        assert loop.time() < deadline, "node A still serves the rolled-back version"
        await asyncio.sleep(0.02)


async def test_events_of_one_call_posted_to_both_nodes_at_once_end_in_one_call(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    payloads = [start(), answer(), end(), record()] * 3  # and each retried
    posts = [on(seed, node).post_hook(p) for p in payloads for node in (a, b)]
    responses = await asyncio.gather(*posts)
    assert [r.status for r in responses] == [200] * len(posts)

    body = await seed.api.ok("GET", "/api/v1/calls")
    [call] = body["calls"]
    assert call["state"] == "ended" and call["disposition"] == "answered"
    assert call["duration"] == 74 and call["has_record"]
    detail = await seed.api.ok("GET", f"/api/v1/calls/{call['id']}")
    events = detail["events"]
    assert len(events) == len(posts)
    for kind in ("notify_start", "notify_answer", "notify_end", "call_record"):
        firsts = [e for e in events if e["kind"] == kind and e["effect"] != "repeat"]
        assert len(firsts) == 1, (kind, [e["effect"] for e in events if e["kind"] == kind])
    notifications = await seed.service.api(seed.user_token).ok("GET", "/api/v1/notifications")
    kinds = [n["kind"] for n in notifications["notifications"]]
    assert sorted(kinds) == sorted(set(kinds))  # each kind once for the one call


async def test_the_listener_reconnects_and_module_changes_reach_the_node_again(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, url, schema = nodes
    seed = await seed_setup(a)
    seed_b = on(seed, b)
    admin = await asyncpg.connect(url)
    try:
        killed = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1", listener_name(schema))
        assert len(killed) >= 2  # both nodes' listeners
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while await admin.fetchval("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE application_name = $1", listener_name(schema)) < 2:
            assert loop.time() < deadline, "the listeners did not come back"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    assert (await seed_b.post_hook({"type": "probe"})).status == 400  # B caches v1 again
    await upload(seed.api, seed.module["id"], V2_SCRIPT)
    assert await serves_v2_within(seed_b, 1.0) < 1.0


# --- credentials end on every node ------------------------------------------------------------


async def test_a_token_revoked_on_one_node_closes_its_sockets_on_both(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    socket_a, socket_b = await live(a, seed), await live(b, seed)
    [token] = (await seed.api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens"))["tokens"]
    await seed.api.ok("DELETE", f"/api/v1/users/{seed.user['id']}/tokens/{token['id']}",
                      status=204)  # through node A
    assert await closed_with(socket_b) == (4401, "credential revoked: user token")
    assert await closed_with(socket_a) == (4401, "credential revoked: user token")
    await on(seed, b).api.ok("GET", "/api/v1/keys")  # node B still serves the tenant


async def test_a_user_deleted_on_one_node_closes_their_sockets_on_the_other(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    socket_a = await live(a, seed)
    await on(seed, b).api.ok("DELETE", f"/api/v1/users/{seed.user['id']}", status=204)
    assert await closed_with(socket_a) == (4403, "user deleted")


async def test_signing_out_on_one_node_ends_the_session_on_the_other(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, _, _ = nodes
    seed = await seed_setup(a)
    base_a = str(a.client.make_url("")).rstrip("/")
    base_b = str(b.client.make_url("")).rstrip("/")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        at_a = Browser(session, base_a)
        await at_a.sign_in(seed.user_token)
        cookie = next(c for c in session.cookie_jar if c.key == "vr_console").value
        # The same session (cookie) opens its live socket on node B.
        async with session.ws_connect(base_b + "/console/live/socket",
                                      headers={"Origin": base_b,
                                               "Cookie": f"vr_console={cookie}"}) as socket:
            assert (await socket.receive_json(timeout=10))["type"] == "hello"
            assert (await at_a.post_form("/console/sign-out", {})).status == 303
            assert await closed_with(socket) == (4401, "signed out")
    # Node B has forgotten the session too: the old cookie is nobody there.
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as thief:
        replay = await thief.get(base_b + "/console/live", allow_redirects=False,
                                 headers={"Cookie": f"vr_console={cookie}"})
        assert replay.status == 302


async def test_a_revocation_missed_while_the_listener_was_away_closes_sockets_when_it_is_back(
    nodes: tuple[Service, Service, str, str],
) -> None:
    a, b, url, schema = nodes
    seed = await seed_setup(a)
    socket_b = await live(b, seed)
    assert (await socket_b.receive_json(timeout=10))["type"] == "caught_up"
    admin = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        # Revoked in the database by another tool: no node hears of it (sockets re-check
        # every live_recheck_seconds, 60 by default: much later than this test waits)...
        await admin.execute("UPDATE user_tokens SET revoked_at = now()")
        await nothing_more(socket_b, 1.0)
        # ... until B's listener reconnects: events may have been lost, every socket re-checks.
        killed = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1", listener_name(schema))
        assert len(killed) >= 2
    finally:
        await admin.close()
    assert await closed_with(socket_b, 15) == (4401, "credential revoked: user token")


async def test_a_tenant_deleted_on_one_node_is_gone_on_the_other(
    nodes: tuple[Service, Service, str, str],
) -> None:
    """Its sockets on the other node close, and the other node's cached module of it stops
    serving its webhook URL (the modules trigger), while another tenant's goes on."""
    a, b, _, _ = nodes
    doomed = await seed_setup(a, "doomed")
    kept = await seed_setup(a, "kept")
    doomed_b, kept_b = on(doomed, b), on(kept, b)
    await doomed_b.hook_ok(start())  # B caches the module
    socket_b = await live(b, doomed)
    deleted = await a.operator.ok("DELETE", f"/api/v1/tenants/{doomed.tenant_id}")
    assert deleted["counts"]["calls"] == 1
    assert await closed_with(socket_b) == (4403, "tenant deleted")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while (await doomed_b.post_hook(start("c-2"))).status != 404:
        assert loop.time() < deadline, "node B still serves the deleted tenant's webhook"
        await asyncio.sleep(0.02)
    await doomed_b.api.ok("GET", "/api/v1/modules", status=401)
    await kept_b.hook_ok(start())
