"""A stored row the service cannot decode (a module's settings that are not JSON any more: a
hand edit, a damaged disk, a restore gone wrong) is the service's problem, not the caller's.

A JSON decoding error anywhere under a handler was answered 400 `bad_json`, "the body is not
valid JSON", although the body was fine: a provider takes a 4xx as its own mistake and does
not retry, so the webhook was lost, and nothing in the log said what was damaged. It is a
500 now, which a provider retries, with the traceback in the log."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from runtime.config import DATABASE_FILE
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start


async def test_a_module_whose_stored_settings_are_damaged_is_a_500_not_the_callers_400(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    seed = await seed_setup(service)
    # Before the module was ever looked up for a webhook, so nothing of it is cached.
    with closing(sqlite3.connect(service.config.data_dir / DATABASE_FILE)) as conn:
        conn.execute("UPDATE modules SET settings = '{not json' WHERE id = ?",
                     (seed.module["id"],))
        conn.commit()

    response = await seed.post_hook(start("call-1"))
    assert response.status == 500, await response.text()
    assert await response.json() == {"error": "internal", "message": "internal server error"}
    response = await seed.api.get("/api/v1/modules")
    assert response.status == 500, await response.text()
    assert "unhandled error on POST /hooks/" in caplog.text
    assert "JSONDecodeError" in caplog.text
