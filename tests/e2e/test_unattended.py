"""What a service left running for months must not accumulate: bounded, quick versions of what a
soak showed growing with time (per socket, per tenant, per worker), each checked after the
thing that leaked it is over."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import SandboxConfig
from runtime.typedefs import HUB, POOL
from tests import pg
from tests.e2e.conftest import OPERATOR_TOKEN, SEED_SCRIPT, Api, Service, service_config
from tests.e2e.helpers import seed_setup, start
from tests.e2e.test_two_nodes import with_schema


def event_waits() -> set[asyncio.Task[object]]:
    """Tasks waiting on an event (a live socket waits on its subscription's, among others)."""
    return {task for task in asyncio.all_tasks()
            if not task.done() and "Event.wait" in repr(task.get_coro())}


async def test_live_sockets_that_closed_leave_no_task_and_log_nothing(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    seed = await seed_setup(service)
    hub = service.client.app[HUB]
    before = event_waits()
    for _ in range(5):
        socket = await service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
        assert (await socket.receive_json(timeout=10))["type"] == "hello"
        assert (await socket.receive_json(timeout=10))["type"] == "caught_up"
        await socket.close()
    while hub.connected_users():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # a cancelled task's last step
    assert event_waits() - before == set()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def test_a_deleted_tenant_leaves_nothing_of_its_own_in_the_sandbox_pool(
        service: Service) -> None:
    seed = await seed_setup(service)  # its upload ran a check, in its checks' own group
    await seed.hook_ok(start())
    pool = service.client.app[POOL]
    groups = {seed.tenant_id, f"check:{seed.tenant_id}"}
    assert groups <= set(pool._loads)

    await service.operator.ok("DELETE", f"/api/v1/tenants/{seed.tenant_id}")
    assert groups.isdisjoint(pool._loads) and groups.isdisjoint(pool._budgets)
    assert groups.isdisjoint(w.group for w in pool._workers if not w.dead)


async def test_a_tenant_deleted_on_another_node_leaves_nothing_in_this_nodes_pool(
        tmp_path: Path) -> None:
    """Node B ran the tenant's webhook and its upload's check; node A deleted it. B's pool
    kept what it learnt of the tenant's two groups (their loads, that one runs checks) for
    good once its workers there were reclaimed: a node of a cluster that sees tenants come
    and go for months held every one."""
    url, schema = await pg.postgres_url(), pg.new_schema_name()
    nodes: list[Service] = []
    try:
        for name in ("a", "b"):
            config = service_config(tmp_path / name, storage_url=with_schema(url, schema),
                                    sandbox=SandboxConfig(workers=2, idle_worker_seconds=0.2))
            client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN),
                                           host="127.0.0.1"))
            await client.start_server()
            nodes.append(Service(client, config, Api(client, OPERATOR_TOKEN)))
        a, b = nodes
        seed = await seed_setup(a, "doomed")
        on_b = replace(seed, service=b, api=b.api(seed.api.secret))
        await on_b.hook_ok(start())
        await on_b.api.ok("POST", "/api/v1/check", {"source": SEED_SCRIPT})
        pool = b.client.app[POOL]
        groups = {seed.tenant_id, f"check:{seed.tenant_id}"}
        assert groups <= set(pool._loads)

        await a.operator.ok("DELETE", f"/api/v1/tenants/{seed.tenant_id}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not (groups.isdisjoint(pool._loads) and groups.isdisjoint(pool._check_groups)):
            assert loop.time() < deadline, "node B's pool kept the deleted tenant's groups"
            await asyncio.sleep(0.05)
    finally:
        try:
            for node in nodes:
                with contextlib.suppress(Exception):
                    await node.client.close()
        finally:
            await pg.drop_schema(url, schema)
