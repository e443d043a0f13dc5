"""The PostgreSQL the tests use: found through VOIP_TEST_POSTGRES_URL, one fresh schema each.

Without that variable, or when the server does not answer, PostgreSQL tests are SKIPPED with a
message saying how to run them; under CI (CI=true) they FAIL instead, so a CI run can never
pass by testing one backend only.
"""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest

URL_ENV = "VOIP_TEST_POSTGRES_URL"
EXAMPLE_URL = "postgresql://postgres@127.0.0.1/postgres"
HOW = (f"to run them, start PostgreSQL and set {URL_ENV}={EXAMPLE_URL} "
       f"(.ci/run does both)")

_checked: dict[str, str | None] = {}  # url -> why it is unusable (None: usable)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unusable(reason: str) -> None:
    message = f"PostgreSQL tests not run: {reason}; {HOW}"
    if _in_ci():
        pytest.fail(message + " [CI=true: a missing PostgreSQL is a failure]", pytrace=False)
    pytest.skip(message)


async def postgres_url() -> str:
    """The server's URL, or skip (fail under CI) the calling test."""
    url = os.environ.get(URL_ENV)
    if not url:
        _unusable(f"{URL_ENV} is not set")
        raise AssertionError("unreachable")
    if url not in _checked:
        try:
            conn = await asyncpg.connect(url, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            _checked[url] = f"cannot connect to {url} ({type(error).__name__}: {error})"
        else:
            await conn.close()
            _checked[url] = None
    reason = _checked[url]
    if reason is not None:
        _unusable(reason)
    return url


def new_schema_name() -> str:
    return f"test_{uuid.uuid4().hex[:16]}"


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
