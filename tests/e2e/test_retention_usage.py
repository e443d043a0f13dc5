"""Retention, usage and module health against a real service: the API says how long history
is kept, the modules list counts webhooks and failures and names the last error, the usage
page's figures come through GET /api/v1/usage, and the service's own pruner deletes old
executions while their usage stays."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from runtime import ids
from runtime.app import create_app
from runtime.config import RetentionConfig
from runtime.store import Tx
from runtime.store.models import Execution, ExecutionOutcome, utc_now
from runtime.typedefs import STORE
from tests.e2e.conftest import OPERATOR_TOKEN, SEED_SCRIPT, Api, Service, service_config
from tests.e2e.test_api_executions import FAILING, module_with, post_hook

RETENTION = {"executions_days": 7, "executions_per_module": 5000,
             "executions_mib_per_module": 512, "notifications_days": 3,
             "call_events_days": 60, "calls_days": 730, "usage_days": 90,
             "revoked_credentials_days": 30}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """A service whose pruner passes every 0.2 s, keeping a week of executions."""
    config = service_config(tmp_path, retention=RetentionConfig(
        **RETENTION, interval_seconds=0.2, batch_pause_ms=1))
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN))
    finally:
        await client.close()


async def test_the_api_says_how_long_history_is_kept(service: Service) -> None:
    _, api = await service.new_tenant()
    assert await api.ok("GET", "/api/v1/retention") == RETENTION
    listed = await api.ok("GET", "/api/v1/executions")
    assert listed["retention"] == RETENTION
    usage = await api.ok("GET", "/api/v1/usage?days=1")
    assert usage["retention"] == RETENTION
    assert (await service.client.get("/api/v1/retention")).status == 401


async def test_modules_list_shows_health_and_usage_counts_runs(service: Service) -> None:
    _, api = await service.new_tenant()
    seed, _ = await module_with(api, "seed", SEED_SCRIPT)
    failing, _ = await module_with(api, "failing", FAILING)
    assert await post_hook(service, seed, {"type": "start", "callId": "c-1",
                                           "srcPhone": "+79161234567", "dstPhone": "101"}) == 200
    # The script answers 400 itself: a reply it chose, not a failure.
    assert await post_hook(service, seed, {"type": "bogus"}) == 400
    for _ in range(3):
        assert await post_hook(service, failing, {"x": 1}) == 500
    _, other = await service.new_tenant("globex")

    modules = {m["name"]: m for m in (await api.ok("GET", "/api/v1/modules"))["modules"]}
    assert modules["seed"]["health"]["last_hour"] == {"webhooks": 2, "failures": 0}
    assert modules["seed"]["health"]["last_error"] is None
    assert modules["failing"]["health"]["last_day"] == {"webhooks": 3, "failures": 3}
    last = modules["failing"]["health"]["last_error"]
    assert last["type"] == "ValueError" and "boom: " in last["message"]
    failed = await api.ok("GET", f"/api/v1/executions/{last['execution_id']}")
    assert failed["module_id"] == failing["id"] and failed["outcome"] == "error"
    one = await api.ok("GET", f"/api/v1/modules/{failing['id']}")
    assert one["health"] == modules["failing"]["health"]

    usage = await api.ok("GET", "/api/v1/usage?days=2")
    assert [d["day"] for d in usage["days"]] == [
        str(utc_now().date()), str((utc_now() - timedelta(days=1)).date())]
    today = usage["days"][0]
    assert (today["executions"], today["failures"], today["webhooks"],
            today["webhook_failures"]) == (5, 3, 5, 3)
    assert today["cpu_seconds"] > 0  # the workers' CPU time, reported per call
    assert usage["storage"] == {"bytes": 0, "keys": 0}  # neither script stores anything
    # Another tenant sees none of it.
    assert (await other.ok("GET", "/api/v1/modules"))["modules"] == []
    theirs = await other.ok("GET", "/api/v1/usage?days=2")
    assert all(d["executions"] == 0 for d in theirs["days"])


@pytest.mark.parametrize("days", ["0", "367", "x", "1.5"])
async def test_a_bad_span_is_a_precise_400(service: Service, days: str) -> None:
    _, api = await service.new_tenant()
    response = await api.get(f"/api/v1/usage?days={days}")
    assert response.status == 400
    assert (await response.json())["message"].startswith("days: ")


async def test_the_services_pruner_deletes_old_executions_and_keeps_their_usage(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="runtime.retention")
    tenant_id, api = await service.new_tenant()
    module, _ = await module_with(api, "seed", SEED_SCRIPT)
    assert await post_hook(service, module, {"type": "start", "callId": "c-9",
                                             "srcPhone": "+79161234567", "dstPhone": "101"}) == 200
    store = service.client.server.app[STORE]
    old = utc_now() - timedelta(days=8)
    backlog = [Execution(ids.new_id(ids.EXECUTION), tenant_id, module["id"], None,
                         "VoipTestConnection", ExecutionOutcome.OK, old + timedelta(seconds=i),
                         cpu_ms=100.0) for i in range(30)]

    async def insert(tx: Tx) -> None:  # at once: one pass finds them all
        for execution in backlog:
            await tx.insert_execution(execution)

    await store.write(insert)
    day = str(old.date())

    async def listed() -> list[Any]:
        result: list[Any] = (await api.ok("GET", "/api/v1/executions?limit=500"))["executions"]
        return result

    # A generous deadline: on a loaded machine a pass (every 0.2 s) can take seconds.
    deadline = asyncio.get_running_loop().time() + 60
    while len(await listed()) != 1 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    remaining = await listed()
    assert [e["function"] for e in remaining] == ["VoipParseWebhookRequest"]
    assert (await api.ok("GET", "/api/v1/calls"))["calls"]  # the call stays
    usage = await api.ok("GET", "/api/v1/usage?days=9")
    that_day = next(d for d in usage["days"] if d["day"] == day)
    assert (that_day["executions"], that_day["cpu_seconds"]) == (30, 3.0)
    metrics = await (await service.client.get("/metrics")).text()
    assert 'voip_retention_pruned_rows_total{kind="executions"} 30.0' in metrics

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "runtime.retention"]

    # The pass logs what it deleted when it ends, its other steps after the executions'.
    while not any(line.startswith("retention pass: deleted 30 executions;")
                  for line in logged()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert any(line.startswith("retention pass: deleted 30 executions;")
               for line in logged()), logged()
