"""A node whose cluster listener is away and cannot come back (PostgreSQL has no connection
slot left for it: `max_connections` reached, a pooler that refuses LISTEN) while its units'
connections keep working.

Module changes made on the other nodes are announced on the listener's channel, and nothing
else tells this node: it went on serving webhooks from its module cache, the version rolled
back on another node (or a webhook URL replaced because it leaked) included, for as long as
the listener stayed away, while /healthz said ok. While it cannot hear the others, the node
reads modules from the database for every webhook, and says so in /healthz."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import asyncpg

from tests.e2e.private_postgres import private_postgres
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant

SCHEMA = "voip"


def script(reply: str) -> str:
    return (
        "def VoipParseWebhookRequest(request):\n"
        f"    return {{'response': HttpResponse().content({{'version': {reply!r}}})}}\n"
    )


async def post(session: aiohttp.ClientSession, hook: str) -> tuple[int, str]:
    async with session.post(hook, data="{}") as response:
        return response.status, await response.text()


async def until_listening(session: aiohttp.ClientSession, node: ServiceProcess,
                          listening: bool, seconds: float = 60) -> None:
    """Until `node`'s metrics say it hears the other nodes (or not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    want = f"voip_cluster_listening {1.0 if listening else 0.0}"
    while True:
        async with session.get(node.base + "/metrics") as response:
            if want in await response.text():
                return
        assert loop.time() < deadline, f"{node.base} never said {want!r}"
        await asyncio.sleep(0.05)


async def test_a_node_that_cannot_hear_the_others_serves_no_stale_module(
        tmp_path: Path) -> None:
    with private_postgres() as postgres:
        nodes = []
        for n in range(2):
            (tmp_path / f"node{n}").mkdir()
            nodes.append(ServiceProcess(tmp_path / f"node{n}",
                                        storage_url=f"{postgres.url}?schema={SCHEMA}"))
        fillers: list[asyncpg.Connection] = []
        try:
            for node in nodes:
                node.start()
                await node.wait_ready()
            a, b = nodes
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                tenant = await seed_tenant(session, a.base)
                module_id = tenant.module["id"]
                await call_json(session, "POST", f"{tenant.api}/modules/{module_id}/versions",
                                tenant.key, {"source": script("one"), "activate": True}, 201)
                hook_b = tenant.hook.replace(a.base, b.base)
                assert await post(session, hook_b) == (200, json.dumps({"version": "one"}))

                # New sessions cannot start (they wait for pg_database, which another
                # session holds), then node B's listener is ended: it cannot reconnect, while
                # both nodes' pools keep the sessions they have.
                admin = await asyncpg.connect(postgres.url)
                fillers.append(admin)
                holder = await asyncpg.connect(postgres.url)
                fillers.append(holder)
                listeners = await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE application_name LIKE "
                    "'voip-runtime-listener%' ORDER BY backend_start")
                assert len(listeners) == 2
                await holder.execute("BEGIN; LOCK TABLE pg_catalog.pg_database IN ACCESS "
                                     "EXCLUSIVE MODE")
                # (the node started last is B: its listener connected last)
                await admin.execute("SELECT pg_terminate_backend($1)", listeners[1]["pid"])
                # Node B learns it is away from its listener's lost connection, on its own
                # event loop (a fixed pause here was a guess a loaded machine could outlast:
                # the version change then reached B's cache before B knew it was deaf).
                await until_listening(session, b, False)

                # A version change on node A, heard by A only.
                await call_json(session, "POST", f"{tenant.api}/modules/{module_id}/versions",
                                tenant.key, {"source": script("two"), "activate": True}, 201)
                assert await post(session, tenant.hook) == (200, json.dumps({"version": "two"}))
                assert await post(session, hook_b) == (200, json.dumps({"version": "two"}))

                async with session.get(b.base + "/healthz") as response:
                    health = await response.json()
                assert any("other nodes" in p for p in health.get("problems", [])), health
                async with session.get(b.base + "/metrics") as response:
                    assert "voip_cluster_listening 0.0" in await response.text()
                async with session.get(a.base + "/metrics") as response:
                    assert "voip_cluster_listening 1.0" in await response.text()
        finally:
            for conn in fillers:
                conn.terminate()
            for node in nodes:
                node.stop()
