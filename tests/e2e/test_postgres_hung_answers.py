"""PostgreSQL that hangs (SIGSTOP: a hung host, a network black hole) for longer than any
bound of ours, with webhooks already waiting on the connections they hold: every caller (a
provider's webhook, an API read, /healthz) is answered 503 `storage_unavailable` with
Retry-After (the console: its 503 page) within a bound set by the storage URL's
`?command_timeout=`, nothing piles up,
and once the server answers again the service works with no acknowledged webhook lost and
none stored twice. The server is the test's own (private_postgres.py)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import Counter
from html import unescape
from pathlib import Path

import aiohttp
from aiohttp import CookieJar

from tests.e2e.private_postgres import private_postgres
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant
from tests.e2e.test_postgres_hung import server_processes, signal_all

COMMAND_TIMEOUT = 3
# A statement's timeout, then the connection's abandonment (no cancel request, no rollback
# to wait for), then the answer: well within this. The old code answered the webhooks that
# held a connection only when the server did.
ANSWERED_WITHIN = 4 * COMMAND_TIMEOUT
HUNG_SECONDS = 25  # longer than ANSWERED_WITHIN, so an answer did not wait for the server


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def console_session(base: str, key: str) -> aiohttp.ClientSession:
    """A browser's session signed in to the console with `key` (a builder)."""
    browser = aiohttp.ClientSession(cookie_jar=CookieJar(unsafe=True),
                                    timeout=aiohttp.ClientTimeout(total=180))
    async with browser.get(f"{base}/console/sign-in") as response:
        form = await response.text()
    token = unescape(CSRF_FIELD.search(form).group(1))  # type: ignore[union-attr]
    async with browser.post(f"{base}/console/sign-in", allow_redirects=False,
                            data={"credential": key, "csrf_token": token, "next": ""}
                            ) as response:
        assert response.status == 303, await response.text()
    return browser


def assert_storage_unavailable(status: int, headers: dict[str, str], text: str) -> None:
    assert status == 503, (status, text)
    assert int(headers["Retry-After"]) > 0
    assert json.loads(text)["error"] == "storage_unavailable", text


async def calls_by_provider_id(session: aiohttp.ClientSession, tenant: object) -> Counter[str]:
    api, key = tenant.api, tenant.key  # type: ignore[attr-defined]
    page = await call_json(session, "GET", f"{api}/calls?limit=500", key)
    return Counter(c["provider_call_id"] for c in page["calls"])


async def test_every_caller_is_answered_while_postgresql_hangs(tmp_path: Path) -> None:
    with private_postgres() as postgres:
        service = ServiceProcess(
            tmp_path, storage_url=f"{postgres.url}?schema=voip&command_timeout={COMMAND_TIMEOUT}",
            sandbox={"workers": 2})
        service.start()
        pids: list[int] = []
        try:
            await service.wait_ready()
            async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=180)) as session:
                tenant = await seed_tenant(session, service.base)
                assert (await tenant.send(session, "before"))[0] == 200
                browser = await console_session(service.base, tenant.key)
                async with browser.get(f"{service.base}/console/modules") as response:
                    assert response.status == 200, await response.text()
                loop = asyncio.get_running_loop()
                pids = server_processes(postgres)
                signal_all(pids, signal.SIGSTOP)
                hung_at = loop.time()

                async def timed(request: asyncio.Future[tuple[int, dict[str, str], str]]
                                ) -> tuple[float, tuple[int, dict[str, str], str]]:
                    answer = await request
                    return loop.time() - hung_at, answer

                async def get(url: str, token: str | None = None,
                              client: aiohttp.ClientSession = session
                              ) -> tuple[int, dict[str, str], str]:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    async with client.get(url, headers=headers) as response:
                        return response.status, dict(response.headers), await response.text()

                hooks = [asyncio.ensure_future(timed(asyncio.ensure_future(
                    tenant.send(session, f"hung-{n}")))) for n in range(12)]
                await asyncio.sleep(0.5)
                read = asyncio.ensure_future(timed(asyncio.ensure_future(
                    get(f"{tenant.api}/calls?limit=5", tenant.key))))
                page = asyncio.ensure_future(timed(asyncio.ensure_future(
                    get(f"{service.base}/console/modules", client=browser))))
                # /healthz probes only when nothing told the state lately: wait that long.
                await asyncio.sleep(6)
                health = asyncio.ensure_future(timed(asyncio.ensure_future(
                    get(f"{service.base}/healthz"))))
                answers = await asyncio.wait_for(asyncio.gather(*hooks, read, page, health),
                                                 HUNG_SECONDS - 2)
                still_hung = loop.time() - hung_at < HUNG_SECONDS
                for took, answer in answers[:-3]:
                    assert took < ANSWERED_WITHIN, (took, answer)
                    assert_storage_unavailable(*answer)
                took, answer = answers[-3]
                assert took < ANSWERED_WITHIN + 0.5, (took, answer)
                assert_storage_unavailable(*answer)
                took, (status, headers, text) = answers[-2]
                assert took < ANSWERED_WITHIN + 0.5, (took, text)
                assert status == 503 and int(headers["Retry-After"]) > 0, (status, text)
                assert "The database is unavailable right now" in text, text
                took, (status, _, text) = answers[-1]
                assert status == 503 and json.loads(text)["storage"]["status"] == \
                    "unavailable", text
                assert still_hung
                await asyncio.sleep(max(0.0, HUNG_SECONDS - (loop.time() - hung_at)))
                signal_all(pids, signal.SIGCONT)
                pids = []
                deadline = loop.time() + 60
                while (await tenant.send(session, "after"))[0] != 200:
                    assert loop.time() < deadline, "never recovered"
                    await asyncio.sleep(0.2)
                # The provider retries what was answered 503: each call stored once.
                for n in range(12):
                    assert (await tenant.send(session, f"hung-{n}"))[0] == 200
                stored = await calls_by_provider_id(session, tenant)
                assert tenant.acknowledged <= set(stored)
                assert max(stored.values()) == 1, stored
                # Healthy again once the cluster's listener has reconnected (its backoff).
                while (answer := await get(f"{service.base}/healthz"))[0] != 200:
                    assert loop.time() < deadline, answer
                    await asyncio.sleep(0.2)
                status, _, text = await get(f"{service.base}/console/modules", client=browser)
                assert status == 200, text
                await browser.close()
        finally:
            signal_all(pids, signal.SIGCONT)
            service.stop()
        assert "Traceback" not in service.log(), service.log()
