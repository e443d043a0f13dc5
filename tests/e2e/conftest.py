"""A real service on loopback for end-to-end tests: real workers, real SQLite, real HTTP."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import Config, FetchConfig, SandboxConfig, TenantLimitsConfig
from tests import pg

OPERATOR_TOKEN = "op_test_operator_token_0123456789"
ROOT = Path(__file__).resolve().parents[2]
SEED_SCRIPT = (ROOT / "scripts" / "seed-json" / "script.py").read_text(encoding="utf-8")


@dataclass
class Api:
    """HTTP calls with one credential (operator token, tenant key or user token)."""

    client: TestClient
    secret: str | None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        return headers

    async def request(self, method: str, path: str, *, json: Any = None,
                      headers: dict[str, str] | None = None, **kwargs: Any) -> ClientResponse:
        return await self.client.request(method, path, json=json,
                                         headers=self._headers(headers), **kwargs)

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> ClientResponse:
        return await self.request("POST", path, json=json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> ClientResponse:
        return await self.request("PUT", path, json=json, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> ClientResponse:
        return await self.request("PATCH", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.request("DELETE", path, **kwargs)

    async def ok(self, method: str, path: str, json: Any = None, status: int = 200,
                 **kwargs: Any) -> Any:
        """The JSON body of a request that must answer `status`."""
        response = await self.request(method, path, json=json, **kwargs)
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        return await response.json() if text else None


@dataclass
class Service:
    client: TestClient
    config: Config
    operator: Api

    def api(self, secret: str | None) -> Api:
        return Api(self.client, secret)

    async def new_tenant(self, name: str = "acme") -> tuple[str, Api]:
        """A new tenant and an API key of it. Tenants' names are unique: when `name` is
        taken already (a test making several), the tenant is `acme 2`, `acme 3`, ..."""
        for n in itertools.count(1):
            response = await self.operator.request(
                "POST", "/api/v1/tenants", json={"name": name if n == 1 else f"{name} {n}"})
            if response.status != 409:
                break
        assert response.status == 201, await response.text()
        tenant = await response.json()
        key = await self.operator.ok("POST", f"/api/v1/tenants/{tenant['id']}/keys", status=201)
        return tenant["id"], self.api(key["key"])


def service_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "log_format": "text",
        "sandbox": SandboxConfig(workers=2),
        "fetch": FetchConfig(allow_networks=("127.0.0.0/8",)),
        "tenant_limits": TenantLimitsConfig(),
        "commit_window_ms": 1.0,
    }
    values.update(overrides)
    return Config(**values)


@contextlib.asynccontextmanager
async def service_on_backend(backend: str, tmp_path: Path,
                             **overrides: Any) -> AsyncIterator[Service]:
    """The service on SQLite ("sqlite") or on a fresh schema of the test PostgreSQL
    ("postgres"), dropped afterwards: for fixtures parametrised over both backends."""
    from tests.e2e.test_two_nodes import with_schema  # (which imports this module)

    url = schema = None
    if backend == "postgres":
        url, schema = await pg.postgres_url(), pg.new_schema_name()
        overrides["storage_url"] = with_schema(url, schema)
    config = service_config(tmp_path, **overrides)
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN))
    finally:
        with contextlib.suppress(Exception):
            await client.close()
        if url is not None and schema is not None:
            await pg.drop_schema(url, schema)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    config = service_config(tmp_path)
    app = create_app(config, OPERATOR_TOKEN)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN))
    finally:
        await client.close()
