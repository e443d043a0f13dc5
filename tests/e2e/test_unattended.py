"""What a service left running for months must not accumulate: bounded, quick versions of what a
soak showed growing with time (per socket, per tenant, per worker), each checked after the
thing that leaked it is over."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from runtime.typedefs import HUB, POOL
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start


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
