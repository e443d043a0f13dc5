"""PostgreSQL stopped under load: the real service answers webhooks 503 with Retry-After and the
cause while it is down, /healthz says degraded, the log says so once; when the server is back
the service recovers by itself, and every webhook it acknowledged is stored.

The server stopped is one the test starts for itself (private_postgres.py), never the
machine's shared one."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg

from tests.e2e.private_postgres import private_postgres
from tests.e2e.service_process import ServiceProcess, seed_tenant


async def test_postgres_stopped_under_load_answers_503_and_recovers(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=postgres.url + "?schema=voip")
        service.start()
        try:
            await service.wait_ready()
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=60)) as session:
                tenant = await seed_tenant(session, service.base)
                outcomes: dict[str, int] = {}
                refusals: list[tuple[dict[str, str], str]] = []
                others: list[str] = []
                flowing = True

                async def load(worker: int) -> None:
                    n = 0
                    while flowing:
                        call_id = f"w{worker}-{n}"
                        n += 1
                        status, headers, text = await tenant.send(session, call_id)
                        outcomes[call_id] = status
                        if status not in (200, 503):
                            others.append(text)
                        if status == 503:
                            refusals.append((headers, text))
                            await asyncio.sleep(0.02)  # a provider would wait Retry-After

                async def until(condition: str, check: Callable[[], bool]) -> None:
                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + 90
                    while not check():
                        assert loop.time() < deadline, f"timed out waiting for {condition}"
                        await asyncio.sleep(0.05)

                loaders = [asyncio.ensure_future(load(w)) for w in range(4)]
                await until("acknowledged webhooks", lambda: len(tenant.acknowledged) >= 50)

                await asyncio.to_thread(postgres.stop)
                await until("503s", lambda: len(refusals) >= 10)
                async with session.get(service.base + "/healthz") as response:
                    health = await response.json()
                    assert response.status == 503, health
                    assert health["storage"]["status"] == "unavailable"
                    assert "PostgreSQL" in health["storage"]["cause"] \
                        or "unreachable" in health["storage"]["cause"], health

                await asyncio.to_thread(postgres.start)
                before_restart = len(tenant.acknowledged)
                await until("webhooks acknowledged again",
                            lambda: len(tenant.acknowledged) >= before_restart + 20)
                # /healthz turns ok with a write a settling second after the last refusal,
                # while the load goes on.
                deadline = asyncio.get_running_loop().time() + 90
                while True:
                    async with session.get(service.base + "/healthz") as response:
                        if response.status == 200:
                            break
                    assert asyncio.get_running_loop().time() < deadline, "never healthy"
                    await asyncio.sleep(0.1)
                flowing = False
                await asyncio.gather(*loaders)

                assert set(outcomes.values()) <= {200, 503}, others
                for headers, text in refusals:
                    assert int(headers["Retry-After"]) > 0
                    body = json.loads(text)
                    assert body["error"] == "storage_unavailable", body
                stored = await tenant.stored_calls(session)
                missing = tenant.acknowledged - stored
                assert not missing, f"{len(missing)} acknowledged webhooks lost"
        finally:
            service.stop()
        log = service.log()
        assert len(re.findall(r"ERROR runtime\.storage: storage unavailable", log)) == 1, log
        assert len(re.findall(r"runtime\.storage: storage recovered", log)) == 1, log
        assert "unhandled error" not in log, log


async def test_postgres_read_only_answers_503_naming_it_then_recovers(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=postgres.url + "?schema=voip")
        service.start()
        admin = None
        try:
            await service.wait_ready()
            admin = await asyncpg.connect(postgres.url)
            async with aiohttp.ClientSession() as session:
                tenant = await seed_tenant(session, service.base)
                assert (await tenant.send(session, "before"))[0] == 200

                async def set_read_only(on: bool) -> None:
                    assert admin is not None
                    await admin.execute("ALTER SYSTEM SET default_transaction_read_only = "
                                        + ("on" if on else "off"))
                    await admin.execute("SELECT pg_reload_conf()")

                await set_read_only(True)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                n = 0
                while True:  # each session rereads the configuration at its next command
                    status, headers, text = await tenant.send(session, f"ro-{n}")
                    n += 1
                    if status == 503:
                        break
                    assert status == 200 and loop.time() < deadline, text
                    await asyncio.sleep(0.1)
                assert json.loads(text) == {
                    "error": "storage_unavailable",
                    "message": "storage unavailable: PostgreSQL is read-only; nothing was "
                               "stored, retry later"}
                assert int(headers["Retry-After"]) > 0
                await set_read_only(False)
                deadline = loop.time() + 60
                while (await tenant.send(session, "after"))[0] != 200:
                    assert loop.time() < deadline
                    await asyncio.sleep(0.1)
                assert tenant.acknowledged <= await tenant.stored_calls(session)
        finally:
            if admin is not None:
                await admin.close()
            service.stop()
        assert len(re.findall(r"storage unavailable: PostgreSQL is read-only",
                              service.log())) == 1, service.log()


async def test_an_idle_node_notices_postgres_stopped_and_back(tmp_path: Path) -> None:
    """No webhook, no write: /healthz itself asks the database (every few seconds), so a
    node nobody calls does not say ok while its database is gone; it recovers by itself."""
    with private_postgres() as postgres:
        service = ServiceProcess(tmp_path, storage_url=postgres.url + "?schema=voip")
        service.start()
        try:
            await service.wait_ready()
            loop = asyncio.get_running_loop()

            async def health_until(status: int, storage: str = "ok") -> dict[str, object]:
                deadline = loop.time() + 60
                async with aiohttp.ClientSession(
                        timeout=aiohttp.ClientTimeout(total=30)) as session:
                    while True:
                        started = loop.time()
                        async with session.get(service.base + "/healthz") as response:
                            body: dict[str, object] = await response.json()
                            # A probe is bounded: a health checker's timeout is not reached.
                            assert loop.time() - started < 10, body
                            # (The listener, which hears the other nodes, may notice
                            # first: 503 too, storage not yet probed.)
                            seen = body.get("storage")
                            if response.status == status and isinstance(seen, dict) \
                                    and seen["status"] == storage:
                                return body
                        assert loop.time() < deadline, f"never {status}: {body}"
                        await asyncio.sleep(0.5)

            await health_until(200)
            await asyncio.to_thread(postgres.stop)
            body = await health_until(503, "unavailable")
            storage = body["storage"]
            assert isinstance(storage, dict) and storage["status"] == "unavailable", body
            assert "PostgreSQL" in str(storage["cause"]) \
                or "unreachable" in str(storage["cause"]), body
            await asyncio.to_thread(postgres.start)
            body = await health_until(200)
            assert body["storage"] == {"status": "ok", "cause": None,
                                       "since": body["storage"]["since"]}  # type: ignore[index]
        finally:
            service.stop()
        log = service.log()
        assert len(re.findall(r"ERROR runtime\.storage: storage unavailable", log)) == 1, log
        assert len(re.findall(r"runtime\.storage: storage recovered", log)) == 1, log
        assert "Traceback" not in log, log
