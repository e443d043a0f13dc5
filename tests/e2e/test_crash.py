"""Durability: kill the real server with SIGKILL while webhooks are in flight, restart it, and
check that every webhook that was acknowledged left its effects behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.e2e.conftest import SEED_SCRIPT
from tests.e2e.crash_support import free_port

OPERATOR = "op_crash_test_operator_token_42"


class ServerProcess:
    def __init__(self, config_file: Path, port: int) -> None:
        self.config_file = config_file
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime", "serve", "--config", str(self.config_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def wait_ready(self) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "data_dir": str(tmp_path / "data"),
        "operator_token": OPERATOR,
        "log_format": "text",
        "sandbox": {"workers": 2},
        "tenant_limits": {"webhooks_per_second": 100000, "webhook_burst": 100000,
                          "concurrent_executions": 64},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    process = ServerProcess(config_file, port)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def call_json(session: aiohttp.ClientSession, method: str, url: str, token: str,
                    body: Any = None, status: int = 200) -> Any:
    async with session.request(method, url, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def test_acknowledged_webhooks_survive_sigkill(server: ServerProcess) -> None:
    await server.wait_ready()
    base = server.base + "/api/v1"
    async with aiohttp.ClientSession() as session:
        tenant = await call_json(session, "POST", base + "/tenants", OPERATOR,
                                 {"name": "crash"}, 201)
        key = (await call_json(session, "POST", f"{base}/tenants/{tenant['id']}/keys",
                               OPERATOR, status=201))["key"]
        module = await call_json(session, "POST", base + "/modules", key,
                                 {"name": "seed", "region": "RU"}, 201)
        await call_json(session, "POST", f"{base}/modules/{module['id']}/versions", key,
                        {"source": SEED_SCRIPT, "activate": True}, 201)
        hook = module["webhook_url"]

        acknowledged: set[str] = set()
        attempted: list[str] = []

        async def send(n: int) -> None:
            call_id = f"crash-{n}"
            attempted.append(call_id)
            body = {"type": "start", "callId": call_id, "srcPhone": f"+7916{n:07d}",
                    "dstPhone": "101"}
            try:
                async with session.post(hook, data=json.dumps(body)) as response:
                    if 200 <= response.status < 300:
                        acknowledged.add(call_id)
            except (TimeoutError, aiohttp.ClientError):
                pass

        async def load() -> None:
            n = 0
            while True:
                await asyncio.gather(*(send(n + i) for i in range(20)))
                n += 20

        loader = asyncio.ensure_future(load())
        while len(acknowledged) < 200:
            await asyncio.sleep(0.01)
        server.kill()
        loader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loader
        assert len(attempted) > len(acknowledged) or attempted

        server.start()
        await server.wait_ready()
        stored: set[str] = set()
        offset = 0
        while True:
            page = await call_json(session, "GET", f"{base}/calls?limit=500&offset={offset}", key)
            items = page["calls"] if isinstance(page, dict) else page
            stored.update(c["provider_call_id"] for c in items)
            if len(items) < 500:
                break
            offset += 500
        missing = acknowledged - stored
        assert not missing, f"{len(missing)} acknowledged webhooks lost: {sorted(missing)[:5]}"

        # Retrying everything that was attempted creates no duplicates.
        for call_id in attempted:
            n = int(call_id.split("-")[1])
            body = {"type": "start", "callId": call_id, "srcPhone": f"+7916{n:07d}",
                    "dstPhone": "101"}
            async with session.post(hook, data=json.dumps(body)) as response:
                assert response.status == 200
        total = 0
        offset = 0
        while True:
            page = await call_json(session, "GET", f"{base}/calls?limit=500&offset={offset}", key)
            items = page["calls"] if isinstance(page, dict) else page
            total += len(items)
            if len(items) < 500:
                break
            offset += 500
        assert total == len(set(attempted))
