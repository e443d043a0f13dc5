"""The SQLite database file removed (or replaced) under the running service: an operator's
`rm -rf data/`, a cleanup job sweeping the directory, a restore that moved another file in.

The service's connection kept writing into the removed file, so webhooks went on being
answered 200 and /healthz said ok, while everything they stored was gone at the next start
(which found no file and made an empty database). A write into a file that is no longer the
database is not durable: it is refused like any storage failure, 503 with Retry-After and the
cause, and /healthz says degraded, until an operator puts the database back and restarts."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.config import DATABASE_FILE
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start


def remove_database(data_dir: Path) -> None:
    for path in data_dir.iterdir():
        if path.name.startswith(DATABASE_FILE) and not path.name.endswith(".lock"):
            path.unlink()


async def refused(response_status: int, headers: dict[str, str], text: str) -> None:
    assert response_status == 503, text
    assert int(headers["Retry-After"]) > 0
    body = json.loads(text)
    assert body["error"] == "storage_unavailable", body
    assert "the database file was removed" in body["message"], body


async def test_a_removed_database_file_is_refused_not_acknowledged(service: Service) -> None:
    seed = await seed_setup(service)
    await seed.hook_ok(start("kept"))
    remove_database(service.config.data_dir)

    for call_id in ("lost-1", "lost-2"):
        response = await seed.post_hook(start(call_id))
        await refused(response.status, dict(response.headers), await response.text())
    write = await seed.api.post("/api/v1/contacts", {"name": "Anna", "phones": ["+79160000002"]})
    await refused(write.status, dict(write.headers), await write.text())
    health = await service.client.get("/healthz")
    body = await health.json()
    assert health.status == 503, body
    assert body["storage"]["status"] == "unavailable", body
    assert body["storage"]["cause"] == "the database file was removed", body


async def test_a_replaced_database_file_is_refused_too(service: Service) -> None:
    seed = await seed_setup(service)
    await seed.hook_ok(start("kept"))
    database = service.config.data_dir / DATABASE_FILE
    other = database.with_name("other.db")
    other.write_bytes(database.read_bytes())
    other.replace(database)  # a restore moved over the open file

    response = await seed.post_hook(start("lost"))
    await refused(response.status, dict(response.headers), await response.text())
