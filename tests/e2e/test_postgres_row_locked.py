"""A call's row held by another PostgreSQL session (an operator's ad-hoc transaction, a stuck
migration) while the provider's webhook for that call arrives: the webhook waits for the row
and, when the wait ends without it (our lock_timeout, or the statement cancelled), it is the
database refusing the write, not the tenant's script failing. The provider is answered 503 with
Retry-After and the cause, the module's execution log blames nothing on the script, the node
stays healthy (one held row is no outage), and the retry after the row is free is applied once.

On a PostgreSQL server of the test's own (private_postgres.py): the shared one is never locked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.e2e.private_postgres import private_postgres
from tests.e2e.service_process import SeedTenant, ServiceProcess, call_json, seed_tenant

SCHEMA = "voip"
CALL = {"callId": "locked-1", "srcPhone": "+79160000001", "dstPhone": "101"}


async def post(session: aiohttp.ClientSession, tenant: SeedTenant, body: dict[str, Any]
               ) -> tuple[int, dict[str, str], str]:
    async with session.post(tenant.hook, data=json.dumps(body),
                            headers={"Content-Type": "application/json"}) as response:
        return response.status, dict(response.headers), await response.text()


@asynccontextmanager
async def row_held(url: str, call_id: str) -> AsyncIterator[asyncpg.Connection]:
    """Another session holding the call's row (SELECT ... FOR UPDATE) until the block ends."""
    holder = await asyncpg.connect(url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        rows = await holder.fetch(
            f"SELECT id FROM {SCHEMA}.calls WHERE provider_call_id = $1 FOR UPDATE", call_id)
        assert len(rows) == 1
        try:
            yield holder
        finally:
            await transaction.rollback()
    finally:
        await holder.close()


async def waiting_for_the_lock(admin: asyncpg.Connection) -> int:
    """The service's backend that waits for a lock (its pid)."""
    for _ in range(600):
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'voip-runtime%' "
            "AND wait_event_type = 'Lock'")
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.05)
    raise AssertionError("no session of the service waits for the row")


async def refused_then_retried(session: aiohttp.ClientSession, tenant: SeedTenant,
                               refusal: tuple[int, dict[str, str], str], cause: str) -> None:
    status, headers, text = refusal
    assert status == 503, text
    assert int(headers["Retry-After"]) > 0
    body = json.loads(text)
    assert body["error"] == "storage_unavailable", body
    assert cause in body["message"], body
    # One held row is no outage: the node stays healthy for every other write.
    async with session.get(tenant.base + "/healthz") as response:
        health = await response.json()
        assert response.status == 200, health
        assert health["storage"]["status"] == "ok", health
    # Nothing blamed on the script: the log holds the two webhooks that went through only.
    executions = await call_json(session, "GET", f"{tenant.api}/executions?limit=50",
                                 tenant.key)
    assert [e["error"] for e in executions["executions"] if e["outcome"] != "ok"] == []


async def test_a_webhook_for_a_call_whose_row_another_session_holds(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=f"{postgres.url}?schema={SCHEMA}")
        service.start()
        try:
            await service.wait_ready()
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=90)) as session:
                tenant = await seed_tenant(session, service.base)
                assert (await post(session, tenant, {"type": "start", **CALL}))[0] == 200
                admin = await asyncpg.connect(postgres.url)
                try:
                    # 1. The waiting statement cancelled (pg_cancel_backend).
                    async with row_held(postgres.url, CALL["callId"]):
                        answer = asyncio.ensure_future(
                            post(session, tenant, {"type": "answer", **CALL}))
                        assert await admin.fetchval("SELECT pg_cancel_backend($1)",
                                                    await waiting_for_the_lock(admin))
                        await refused_then_retried(session, tenant, await answer,
                                                   "cancelled the statement")
                    # 2. The row held past the service's lock_timeout.
                    async with row_held(postgres.url, CALL["callId"]):
                        refusal = await post(session, tenant, {"type": "answer", **CALL})
                    await refused_then_retried(session, tenant, refusal, "lock wait timed out")
                finally:
                    await admin.close()

                # The row free again, the provider's retry goes through, applied once.
                status, _, text = await post(session, tenant, {"type": "answer", **CALL})
                assert status == 200, text
                calls = await call_json(session, "GET", f"{tenant.api}/calls", tenant.key)
                [call] = calls["calls"]
                assert call["state"] == "answered"
                page = await call_json(session, "GET", f"{tenant.api}/calls/{call['id']}",
                                       tenant.key)
                assert [(e["kind"], e["effect"]) for e in page["events"]] == [
                    ("notify_start", "applied"), ("notify_answer", "applied")]
        finally:
            service.stop()
        log = service.log()
        assert "Traceback" not in log, log
        assert "storage unavailable" not in log, log
