"""For tests/e2e/test_builders_*.py: the builder-written modules under builder_modules/, and
the service on either backend (SQLite, or a fresh PostgreSQL schema: tests/pg.py skips it
without PostgreSQL and fails it under CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.config import TenantLimitsConfig
from tests.e2e.conftest import Service, service_on_backend

MODULES = Path(__file__).resolve().parent / "builder_modules"


def builder_script(name: str) -> str:
    return (MODULES / name / "script.py").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_service(request: pytest.FixtureRequest, tmp_path: Path
                          ) -> AsyncIterator[Service]:
    """The service on SQLite, or on a fresh PostgreSQL schema."""
    async with service_on_backend(
            request.param, tmp_path,
            tenant_limits=TenantLimitsConfig(concurrent_executions=16)) as service:
        yield service
