"""`voip-runtime serve` as a real process for operations tests (full disks, stopped databases,
SIGTERM, backups): its configuration, its log, a tenant with the seed module, webhooks."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.e2e.conftest import SEED_SCRIPT
from tests.e2e.crash_support import free_port

OPERATOR = "op_operations_test_operator_token_42"


def service_config(data_dir: Path, port: int, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "data_dir": str(data_dir),
        "operator_token": OPERATOR,
        "log_format": "text",
        "sandbox": {"workers": 2},
        "tenant_limits": {"webhooks_per_second": 100000, "webhook_burst": 100000,
                          "concurrent_executions": 64},
    }
    config.update(overrides)
    return config


class ServiceProcess:
    """One `python -m runtime serve` with its stderr kept in a file (the service's log)."""

    def __init__(self, workdir: Path, *, data_dir: Path | None = None, **overrides: Any) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir or workdir / "data"
        self.config_file = workdir / f"config-{self.port}.yaml"
        self.config_file.write_text(yaml.safe_dump(
            service_config(self.data_dir, self.port, **overrides)))
        self.log_file = workdir / f"service-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, descriptor_limit: int | None = None) -> None:
        """Start it; `descriptor_limit` sets its RLIMIT_NOFILE (soft and hard)."""

        def limit_descriptors() -> None:
            if descriptor_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (descriptor_limit, descriptor_limit))

        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runtime", "serve", "--config", str(self.config_file)],
                stdout=subprocess.DEVNULL, stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=limit_descriptors,
            )

    async def wait_ready(self, seconds: float = 60) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                assert self.process is not None and self.process.poll() is None, self.log()
                try:
                    async with session.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the service did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, seconds: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(seconds)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def call_json(session: aiohttp.ClientSession, method: str, url: str, token: str,
                    body: Any = None, status: int = 200) -> Any:
    async with session.request(method, url, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == status, f"{method} {url}: {await response.text()}"
        return await response.json()


@dataclass
class SeedTenant:
    """A tenant with the seed module active, a contact and an operator bound to 101."""

    base: str
    tenant_id: str
    key: str
    module: dict[str, Any]
    contact: dict[str, Any]
    acknowledged: set[str] = field(default_factory=set)

    @property
    def api(self) -> str:
        return self.base + "/api/v1"

    @property
    def hook(self) -> str:
        return str(self.module["webhook_url"])

    async def send(self, session: aiohttp.ClientSession, call_id: str
                   ) -> tuple[int, dict[str, str], str]:
        """One `start` webhook; remembers the call when it was acknowledged (2xx)."""
        body = {"type": "start", "callId": call_id, "srcPhone": "+79161234567",
                "dstPhone": "101"}
        async with session.post(self.hook, data=json.dumps(body),
                                headers={"Content-Type": "application/json"}) as response:
            text = await response.text()
            if 200 <= response.status < 300:
                self.acknowledged.add(call_id)
            return response.status, dict(response.headers), text

    async def stored_calls(self, session: aiohttp.ClientSession) -> set[str]:
        stored: set[str] = set()
        offset = 0
        while True:
            page = await call_json(session, "GET",
                                   f"{self.api}/calls?limit=500&offset={offset}", self.key)
            stored.update(c["provider_call_id"] for c in page["calls"])
            if len(page["calls"]) < 500:
                return stored
            offset += 500


async def seed_tenant(session: aiohttp.ClientSession, base: str, name: str = "ops"
                      ) -> SeedTenant:
    api = base + "/api/v1"
    tenant = await call_json(session, "POST", api + "/tenants", OPERATOR, {"name": name}, 201)
    key = (await call_json(session, "POST", f"{api}/tenants/{tenant['id']}/keys", OPERATOR,
                           status=201))["key"]
    module = await call_json(session, "POST", api + "/modules", key,
                             {"name": "seed", "region": "RU"}, 201)
    await call_json(session, "POST", f"{api}/modules/{module['id']}/versions", key,
                    {"source": SEED_SCRIPT, "activate": True}, 201)
    user = await call_json(session, "POST", api + "/users", key, {"name": "operator"}, 201)
    await call_json(session, "PUT", f"{api}/modules/{module['id']}/bindings", key,
                    {"bindings": {"101": user["id"]}})
    contact = await call_json(session, "POST", api + "/contacts", key,
                              {"name": "Ivan", "phones": ["+79160000001"]}, 201)
    return SeedTenant(base, tenant["id"], key, module, contact)


@asynccontextmanager
async def flowing_webhooks(tenant: SeedTenant, session: aiohttp.ClientSession, senders: int,
                           at_least: int) -> AsyncIterator[None]:
    """Webhooks from `senders` loops, each sending its next as soon as the last is answered,
    from before the block (once `at_least` were acknowledged) until it ends."""
    flowing = True

    async def send(sender: int) -> None:
        n = 0
        while flowing:
            await tenant.send(session, f"w{sender}-{n}")
            n += 1

    loops = [asyncio.ensure_future(send(sender)) for sender in range(senders)]
    try:
        while len(tenant.acknowledged) < at_least:
            await asyncio.sleep(0.05)
        yield
    finally:
        flowing = False
        await asyncio.gather(*loops)
