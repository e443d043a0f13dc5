"""The tenant's quota of script source bytes (tenant_limits.max_source_bytes), through the API
on both backends: past it an upload is 409 `limit_reached` saying the quota, the bytes used
and what to delete, and stores nothing; other tenants go on; deleting a module frees its
versions' bytes. Uploads racing at the edge of the quota store no more than fits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime.config import TenantLimitsConfig
from tests.e2e.conftest import SEED_SCRIPT, Api, Service, service_on_backend

SIZE = 20_000  # bytes of each source below
QUOTA = 65_536  # room for three of them, not four


def source(n: int) -> str:
    """A valid script of exactly SIZE UTF-8 bytes, padded with two-byte letters (the quota
    counts bytes, not characters), different for each n."""
    head = f"{SEED_SCRIPT}\n# version {n}\n# "
    room = SIZE - len(head.encode("utf-8")) - 1
    text = head + "ж" * (room // 2) + "x" * (room % 2) + "\n"
    assert len(text.encode("utf-8")) == SIZE
    return text


@pytest.fixture(params=["sqlite", "postgres"])
async def quota(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    limits = TenantLimitsConfig(max_source_bytes=QUOTA)
    async with service_on_backend(request.param, tmp_path, tenant_limits=limits) as service:
        yield service


def over_quota(body: dict[str, Any], used: int) -> None:
    assert body["error"] == "limit_reached", body
    assert body["details"] == {"limit": "tenant_limits.max_source_bytes", "max": QUOTA,
                               "used": used, "adding": SIZE}
    message = body["message"]
    assert f"hold {used} bytes" in message and f"quota is {QUOTA} bytes" in message
    assert "delete modules you no longer use" in message


async def versions_of(api: Api, module_id: str) -> list[int]:
    listed = await api.ok("GET", f"/api/v1/modules/{module_id}/versions")
    return sorted(v["number"] for v in listed["versions"])


async def test_an_upload_past_the_quota_is_refused_until_a_module_is_deleted(
    quota: Service,
) -> None:
    _, api = await quota.new_tenant()
    pbx = await api.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    crm = await api.ok("POST", "/api/v1/modules", {"name": "crm"}, status=201)
    await api.ok("POST", f"/api/v1/modules/{pbx['id']}/versions",
                 {"source": source(0), "activate": True}, status=201)
    await api.ok("POST", f"/api/v1/modules/{pbx['id']}/versions", {"source": source(1)},
                 status=201)
    await api.ok("POST", f"/api/v1/modules/{crm['id']}/versions", {"source": source(2)},
                 status=201)
    # The quota is the tenant's, whichever module the version is for.
    for module in (pbx, crm):
        over_quota(await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                                {"source": source(3)}, status=409), used=3 * SIZE)
    assert await versions_of(api, pbx["id"]) == [1, 2]
    assert await versions_of(api, crm["id"]) == [1]
    # Another tenant's quota is its own.
    _, other = await quota.new_tenant("other")
    elsewhere = await other.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    await other.ok("POST", f"/api/v1/modules/{elsewhere['id']}/versions",
                   {"source": source(4)}, status=201)
    # Deleting a module (its active version too) frees its versions' bytes.
    await api.ok("DELETE", f"/api/v1/modules/{pbx['id']}", status=204)
    for n in (5, 6):
        await api.ok("POST", f"/api/v1/modules/{crm['id']}/versions", {"source": source(n)},
                     status=201)
    over_quota(await api.ok("POST", f"/api/v1/modules/{crm['id']}/versions",
                            {"source": source(7)}, status=409), used=3 * SIZE)
    assert await versions_of(api, crm["id"]) == [1, 2, 3]


async def test_uploads_racing_at_the_edge_of_the_quota_store_no_more_than_fits(
    quota: Service,
) -> None:
    _, api = await quota.new_tenant()
    modules = [await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
               for name in ("a", "b")]
    await api.ok("POST", f"/api/v1/modules/{modules[0]['id']}/versions",
                 {"source": source(0)}, status=201)
    # Room for two more; six at once, to two modules, all past the check before the first
    # is stored.
    responses = await asyncio.gather(*(
        api.post(f"/api/v1/modules/{modules[n % 2]['id']}/versions", json={"source": source(n)})
        for n in range(1, 7)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201, 201, 409, 409, 409, 409], statuses
    for response in responses:
        if response.status == 409:
            body = await response.json()
            assert body["error"] == "limit_reached"
            assert body["details"]["limit"] == "tenant_limits.max_source_bytes"
            assert body["details"]["used"] + SIZE > QUOTA
    stored = sum([len(await versions_of(api, m["id"])) for m in modules])
    assert stored == 3
