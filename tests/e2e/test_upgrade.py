"""Upgrade: a database made by an earlier release's migrations (a frozen fixture, made by
`tests/fixtures/make_release_db.py`) opens, migrates to this release's schema when the service
starts, and the service serves its records through the API as that release did."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from runtime.store.migrate import load_migrations
from tests.e2e.service_process import ServiceProcess
from tests.fixtures.make_release_db import snapshot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RELEASES = sorted(FIXTURES.glob("release-schema-*"))


def schema_versions(db: Path) -> list[int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def normalised(value: Any) -> Any:
    """The service's address differs between runs; nothing else may."""
    return json.loads(re.sub(r"http://127\.0\.0\.1:\d+", "BASE", json.dumps(value)))


def assert_served(expected: Any, actual: Any, where: str = "api") -> None:
    """Everything the old release showed is shown the same; new fields may be added."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is gone"
            assert_served(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}: {len(expected)} items before, now {actual!r}"
        for index, (old, new) in enumerate(zip(expected, actual, strict=True)):
            assert_served(old, new, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: was {expected!r}, now {actual!r}"


async def test_the_fixtures_are_there() -> None:
    assert RELEASES, f"no release fixture under {FIXTURES}"


async def test_an_earlier_release_database_migrates_and_serves_its_records(
        tmp_path: Path) -> None:
    for release in RELEASES:
        await upgrade_and_compare(release, tmp_path / release.name)


async def upgrade_and_compare(release: Path, workdir: Path) -> None:
    expected = json.loads((release / "expected.json").read_text())
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    db = data_dir / "voip-runtime.db"
    db.write_bytes(gzip.decompress((release / "voip-runtime.db.gz").read_bytes()))
    db.chmod(0o600)
    assert schema_versions(db) == list(range(1, expected["schema_version"] + 1))

    service = ServiceProcess(workdir, data_dir=data_dir)
    service.start()
    try:
        await service.wait_ready()
        assert schema_versions(db) == [m.version for m in load_migrations()]
        async with aiohttp.ClientSession() as session:
            served = await snapshot(session, service.base, expected["key"])
            assert_served(normalised(expected["api"]), normalised(served))
            # The records keep working: the webhook token, the user token.
            event = {"type": "start", "callId": "after-upgrade", "srcPhone": "+79161234567",
                     "dstPhone": "101"}
            async with session.post(service.base + expected["webhook_path"],
                                    data=json.dumps(event)) as response:
                assert response.status == 200, await response.text()
            async with session.get(service.base + "/api/v1/notifications",
                                   params={"token": expected["user_token"]}) as response:
                assert response.status == 200, await response.text()
                notifications = (await response.json())["notifications"]
            assert len(notifications) > 1  # the fixture's and the new call's
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()
