"""For tests/e2e/test_builders_*.py: the builder-written modules under builder_modules/, and
the service on either backend (SQLite, or a fresh PostgreSQL schema: tests/pg.py skips it
without PostgreSQL and fails it under CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import TenantLimitsConfig
from tests import pg
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.test_two_nodes import with_schema

MODULES = Path(__file__).resolve().parent / "builder_modules"


def builder_script(name: str) -> str:
    return (MODULES / name / "script.py").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_service(request: pytest.FixtureRequest, tmp_path: Path
                          ) -> AsyncIterator[Service]:
    """The service on SQLite, or on a fresh PostgreSQL schema."""
    schema = url = None
    overrides: dict[str, Any] = {"tenant_limits": TenantLimitsConfig(concurrent_executions=16)}
    if request.param == "postgres":
        url = await pg.postgres_url()
        schema = pg.new_schema_name()
        overrides["storage_url"] = with_schema(url, schema)
    config = service_config(tmp_path, **overrides)
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN))
    finally:
        await client.close()
        if url is not None and schema is not None:
            await pg.drop_schema(url, schema)
