"""SIGTERM: a real `voip-runtime serve` stops taking new webhooks, finishes and answers those in
flight, commits and exits 0; every webhook it answered 2xx is stored.

Webhooks are held in flight deterministically: their script fetch()es a URL on a server the
test runs, which answers only when the test says so (after SIGTERM). Meanwhile other webhooks
keep arriving as fast as they are answered.

Each held webhook belongs to a tenant of its own: a call waiting in fetch() for more than 50 ms
makes its tenant "heavy", and a heavy tenant gets one busy worker (sandbox/scheduler.py), so a
second held webhook of the same tenant would start only if it arrived within those 50 ms, and
otherwise wait behind the first until its wall clock (a 500 on a loaded machine; see
tests/sandbox/test_pool_held_capability.py)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.e2e.conftest import SEED_SCRIPT
from tests.e2e.helpers import serving
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant

HELD = 2  # webhooks held in their fetch(), each holding a worker of a tenant of its own

# The seed module, its parse function renamed (whatever its signature) and wrapped in one that
# first waits on the test's server.
assert "def VoipParseWebhookRequest(" in SEED_SCRIPT
HOLDING_SCRIPT = re.sub(r"^def VoipParseWebhookRequest\(", "def seed_parse(", SEED_SCRIPT,
                        count=1, flags=re.MULTILINE) + """

def VoipParseWebhookRequest(request):
    fetch(settings["holdUrl"])
    return seed_parse(request)
"""


async def test_sigterm_answers_what_is_in_flight_and_loses_nothing(tmp_path: Path) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()
    holding: list[web.Request] = []

    async def hold(request: web.Request) -> web.Response:
        holding.append(request)
        if len(holding) >= HELD:
            arrived.set()
        await release.wait()
        return web.Response(text="ok")

    provider = web.Application()
    provider.router.add_get("/hold", hold)
    service = ServiceProcess(
        tmp_path,
        sandbox={"workers": 4, "webhook_wall_seconds": 30},
        fetch={"allow_networks": ["127.0.0.0/8"], "timeout_seconds": 30},
    )
    service.start()
    async with serving(provider) as provider_base, aiohttp.ClientSession() as session:
        try:
            await service.wait_ready()
            tenant = await seed_tenant(session, service.base)
            holding_urls = []
            for n in range(HELD):
                holder = await seed_tenant(session, service.base, f"holder-{n}")
                module = await call_json(session, "POST", holder.api + "/modules", holder.key, {
                    "name": "holding", "region": "RU", "allowlist": ["127.0.0.1"],
                    "settings": {"holdUrl": provider_base + "/hold"},
                }, 201)
                await call_json(session, "POST", f"{holder.api}/modules/{module['id']}/versions",
                                holder.key, {"source": HOLDING_SCRIPT, "activate": True}, 201)
                holding_urls.append(module["webhook_url"])

            outcomes: dict[str, int | str] = {}
            flowing = True

            async def load(worker: int) -> None:
                n = 0
                while flowing:
                    call_id = f"load{worker}-{n}"
                    n += 1
                    try:
                        status, _, _ = await tenant.send(session, call_id)
                        outcomes[call_id] = status
                    except aiohttp.ClientError as error:
                        outcomes[call_id] = type(error).__name__
                        await asyncio.sleep(0.05)

            async def held(n: int) -> tuple[int, str]:
                body = {"type": "start", "callId": f"held-{n}", "srcPhone": "+79161230000",
                        "dstPhone": "101"}
                async with session.post(holding_urls[n],
                                        data=json.dumps(body)) as response:
                    return response.status, await response.text()

            loaders = [asyncio.ensure_future(load(w)) for w in range(3)]
            while len(tenant.acknowledged) < 50:
                await asyncio.sleep(0.05)
            in_flight = [asyncio.ensure_future(held(n)) for n in range(HELD)]
            await asyncio.wait_for(arrived.wait(), 60)
            # The load keeps coming meanwhile: some of it waits in handlers for a worker, in
            # flight too when SIGTERM comes.
            await asyncio.sleep(0.5)

            service.terminate()
            # New connections are refused (or answered 503) while those in flight finish.
            refused = False
            for _ in range(100):
                try:
                    async with aiohttp.ClientSession() as fresh, \
                            fresh.get(service.base + "/healthz") as response:
                        if response.status == 503:
                            refused = True
                            break
                except aiohttp.ClientConnectionError:
                    refused = True
                    break
                await asyncio.sleep(0.05)
            assert refused, "the service kept taking new connections after SIGTERM"
            assert service.process is not None and service.process.poll() is None, \
                "the service exited with webhooks in flight"

            release.set()
            answers = await asyncio.wait_for(asyncio.gather(*in_flight), 60)
            assert all(status == 200 for status, _ in answers), answers
            assert await asyncio.to_thread(service.wait, 60) == 0, service.log()
            flowing = False
            await asyncio.gather(*loaders)
        finally:
            flowing = False
            service.stop()

    assert set(outcomes.values()) <= {200, 503, "ClientConnectorError",
                                      "ServerDisconnectedError", "ClientOSError"}, outcomes
    assert "Traceback" not in service.log(), service.log()
    # Every acknowledged webhook is in the database the service left behind.
    with sqlite3.connect(f"file:{service.data_dir / 'voip-runtime.db'}?mode=ro",
                         uri=True) as conn:
        stored = {row[0] for row in conn.execute("SELECT provider_call_id FROM calls")}
    acknowledged = tenant.acknowledged | {f"held-{n}" for n in range(HELD)}
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged webhooks lost: {sorted(missing)[:5]}"


async def test_sigterm_closes_live_sockets_going_away(tmp_path: Path) -> None:
    """An operator's live socket would otherwise hold the shutdown for its whole grace period
    and then be cut without a close frame; it is closed with 1001 (going away), so the
    client reconnects, to another node or to the restarted one."""
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant = await seed_tenant(session, service.base)
            users = await call_json(session, "GET", tenant.api + "/users", tenant.key)
            user_id = users["users"][0]["id"]
            token = await call_json(session, "POST", f"{tenant.api}/users/{user_id}/tokens",
                                    tenant.key, status=201)
            async with session.ws_connect(
                    f"{service.base}/api/v1/live?token={token['token']}") as socket:
                assert (await socket.receive_json(timeout=30))["type"] == "hello"
                service.terminate()
                while True:
                    message = await socket.receive(timeout=30)
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert socket.close_code == 1001, (message, socket.close_code)
            assert await asyncio.to_thread(service.wait, 60) == 0, service.log()
    finally:
        service.stop()
