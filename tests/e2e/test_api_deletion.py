"""Deleting over HTTP (issue 17 point 4, issue 19 point 1): a tenant with everything it owns,
counted first; contacts edited, merged and deleted; a second contact for a number refused,
naming the first. Access rules of these routes: tests/e2e/test_api_access.py; the store's
part on both backends: tests/runtime/test_store_editing.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from runtime.store.editing import Editing
from runtime.store.errors import StorageUnavailable
from runtime.typedefs import POOL
from tests.e2e.conftest import Api, Service, service_on_backend
from tests.e2e.helpers import CLIENT, SeedSetup, closed_with, end, record, seed_setup, start
from tests.e2e.test_live_credentials import open_live
from tests.e2e.test_openapi import assert_conforms

TENANT_DELETED = (4403, "tenant deleted")


async def a_call(seed: SeedSetup, call_id: str, src: str = CLIENT) -> None:
    for event in (start(call_id, src), end(call_id, src=src), record(call_id, src=src)):
        await seed.hook_ok(event)


async def everything_of(api: Api) -> dict[str, Any]:
    """What a tenant's key sees of it."""
    return {path: await api.ok("GET", f"/api/v1/{path}") for path in (
        "modules", "users", "contacts", "calls", "executions", "keys")}


async def test_deleting_a_tenant_counts_first_then_removes_it_and_only_it(
        service: Service) -> None:
    acme = await seed_setup(service, "acme")
    globex = await seed_setup(service, "globex")
    await acme.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                      status=201)
    await globex.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                        status=201)
    for seed in (acme, globex):
        await a_call(seed, "c-1")
        await a_call(seed, "c-2", "+79031112233")
    globex_before = await everything_of(globex.api)
    socket = await open_live(service, acme.user_token)
    pool = service.client.app[POOL]
    assert any(w.group == acme.tenant_id for w in pool.workers())

    op = service.operator
    dry = await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}?dry_run=true")
    assert dry["dry_run"] is True and dry["tenant_id"] == acme.tenant_id
    counts = dry["counts"]
    assert counts["modules"] == 1 and counts["users"] == 1 and counts["api_keys"] == 1
    assert counts["calls"] == 2 and counts["contacts"] == 1
    assert counts["executions"] == 6 and counts["call_events"] == 6
    # The dry run changed nothing: the tenant works as before.
    await op.ok("GET", f"/api/v1/tenants/{acme.tenant_id}")
    await acme.hook_ok(start("c-3"))
    counts = (await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}?dry_run=1"))["counts"]
    assert counts["calls"] == 3 and counts["executions"] == 7

    deleted = await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}")
    assert deleted == {"tenant_id": acme.tenant_id, "dry_run": False, "counts": counts}
    assert await closed_with(socket) == TENANT_DELETED
    assert not any(w.group == acme.tenant_id for w in pool.workers())
    await op.ok("GET", f"/api/v1/tenants/{acme.tenant_id}", status=404)
    await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}", status=404)
    await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}?dry_run=true", status=404)
    listed = (await op.ok("GET", "/api/v1/tenants"))["tenants"]
    assert [t["id"] for t in listed] == [globex.tenant_id]
    # Its key, its user's token and its webhook URL answer as unknown ones do.
    await acme.api.ok("GET", "/api/v1/modules", status=401)
    await service.api(acme.user_token).ok("GET", "/api/v1/notifications", status=401)
    response = await acme.post_hook(start("c-4"))
    assert response.status == 404
    # The other tenant has every record it had, and its webhook works.
    assert await everything_of(globex.api) == globex_before
    await globex.hook_ok(start("c-9"))


async def test_delete_tenant_query_is_checked(service: Service) -> None:
    tenant_id, api = await service.new_tenant()
    body = await service.operator.ok("DELETE", f"/api/v1/tenants/{tenant_id}?dry_run=maybe",
                                     status=400)
    assert body["error"] == "bad_request" and "dry_run" in body["message"]
    await api.ok("GET", "/api/v1/keys")  # nothing happened


async def test_a_deletion_cut_short_is_hidden_refuses_new_keys_and_ends_at_the_next_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The storage failed after the tenant was closed, before its rows were gone: the tenant
    must not stay listed and readable, nor take a new API key that would work on what is left
    of it. The next start finishes the deletion without anyone repeating it."""
    async def storage_fails(self: Editing, tenant_id: str, limit: int) -> int:
        raise StorageUnavailable("disk full", "database or disk is full")

    async with service_on_backend("sqlite", tmp_path) as service:
        acme = await seed_setup(service, "acme")
        globex = await seed_setup(service, "globex")
        await a_call(acme, "c-1")
        op = service.operator
        with monkeypatch.context() as patch:
            patch.setattr(Editing, "delete_tenant_batch", storage_fails)
            refused = await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}", status=503)
        assert refused["error"] == "storage_unavailable"

        listed = (await op.ok("GET", "/api/v1/tenants"))["tenants"]
        assert [t["id"] for t in listed] == [globex.tenant_id]
        await op.ok("GET", f"/api/v1/tenants/{acme.tenant_id}", status=404)
        refused = await op.ok("POST", f"/api/v1/tenants/{acme.tenant_id}/keys", status=404)
        assert refused["error"] == "not_found"
        await acme.api.ok("GET", "/api/v1/modules", status=401)
        # A dry run still counts what is left, for an operator who wants to know.
        left = await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}?dry_run=true")
        assert left["counts"]["calls"] == 1

    async with service_on_backend("sqlite", tmp_path) as service:
        op = service.operator
        for _ in range(200):  # the start resumes it in the background
            answer = await op.request("DELETE", f"/api/v1/tenants/{acme.tenant_id}"
                                      "?dry_run=true")
            if answer.status == 404:
                break
            await asyncio.sleep(0.05)
        await op.ok("DELETE", f"/api/v1/tenants/{acme.tenant_id}?dry_run=true", status=404)
        listed = (await op.ok("GET", "/api/v1/tenants"))["tenants"]
        assert [t["id"] for t in listed] == [globex.tenant_id]
        await service.api(globex.api.secret).ok("GET", "/api/v1/modules")


# --- contacts ------------------------------------------------------------------------------------


async def test_a_second_contact_for_a_number_is_refused_naming_the_first(
        service: Service) -> None:
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Olga", "phones": ["+7 916 123-45-67"]}, status=201)
    body = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Olga", "phones": ["89161234567"]}, status=409)
    assert body["error"] == "phone_taken"
    assert body["details"] == {"contact_id": olga["id"], "phone": "+79161234567"}
    assert olga["id"] in body["message"]
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": "Petr", "phones": ["+79031112233"]},
        {"name": "Olga", "phones": ["79161234567"]}]}, status=409)
    assert body["details"] == {"contact_id": olga["id"], "phone": "+79161234567", "index": 1}
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": "Petr", "phones": ["+79031112233"]},
        {"name": "Petr 2", "phones": ["89031112233"]}]}, status=409)
    assert body["error"] == "conflict" and "contacts.0 and contacts.1" in body["message"]
    assert [c["id"] for c in (await api.ok("GET", "/api/v1/contacts"))["contacts"]] == [
        olga["id"]]


async def test_edit_a_contact(service: Service) -> None:
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                        status=201)
    petr = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Petr", "phones": ["+79031112233"]}, status=201)
    path = f"/api/v1/contacts/{olga['id']}"
    renamed = await api.ok("PATCH", path, {"name": "  Olga K. "})
    assert renamed == {**olga, "name": "Olga K."}
    changed = await api.ok("PATCH", path, {"phones": ["030 123456", CLIENT], "region": "DE"})
    assert changed["name"] == "Olga K."
    assert changed["phones"] == [{"raw": "030 123456", "normalized": "+4930123456"},
                                 {"raw": CLIENT, "normalized": "+79161234567"}]
    assert await api.ok("GET", path) == changed
    body = await api.ok("PATCH", path, {"phones": ["8 903 111 22 33"]}, status=409)
    assert body["details"] == {"contact_id": petr["id"], "phone": "+79031112233"}
    body = await api.ok("PATCH", path, {"phones": ["hello"]}, status=422)
    assert body["message"].startswith("phones.0:")
    body = await api.ok("PATCH", path, {}, status=422)
    assert "name, phones" in body["message"]
    await api.ok("PATCH", path, {"name": ""}, status=422)
    await api.ok("PATCH", path, {"nickname": "x"}, status=422)
    assert await api.ok("GET", path) == changed  # refusals changed nothing
    await api.ok("PATCH", "/api/v1/contacts/con_unknown", {"name": "x"}, status=404)


async def test_merge_joins_two_contacts_of_one_caller(service: Service) -> None:
    seed = await seed_setup(service)
    api = seed.api
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                        status=201)
    home = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Olga (home)", "phones": ["+7 495 123-45-67"]}, status=201)
    await a_call(seed, "c-1")
    await a_call(seed, "c-2", "+74951234567")
    await a_call(seed, "c-3", "+74951234567")
    home_entries = (await api.ok("GET", f"/api/v1/contacts/{home['id']}/activity"))["activity"]
    assert len(home_entries) == 2

    body = await api.ok("POST", f"/api/v1/contacts/{olga['id']}/merge",
                        {"contact_id": olga["id"]}, status=422)
    assert "itself" in body["message"]
    await api.ok("POST", f"/api/v1/contacts/{olga['id']}/merge",
                 {"contact_id": "con_unknown"}, status=404)
    await api.ok("POST", f"/api/v1/contacts/{olga['id']}/merge", {}, status=422)

    merged = await api.ok("POST", f"/api/v1/contacts/{olga['id']}/merge",
                          {"contact_id": home["id"]})
    assert merged["id"] == olga["id"] and merged["name"] == "Olga"
    assert [p["normalized"] for p in merged["phones"]] == ["+79161234567", "+74951234567"]
    await api.ok("GET", f"/api/v1/contacts/{home['id']}", status=404)
    entries = (await api.ok("GET", f"/api/v1/contacts/{olga['id']}/activity"))["activity"]
    assert len(entries) == 3
    assert {e["id"] for e in home_entries} <= {e["id"] for e in entries}
    calls = (await api.ok("GET", "/api/v1/calls"))["calls"]
    assert len(calls) == 3 and {c["contact_id"] for c in calls} == {olga["id"]}
    # A later call from the other number finds the one contact.
    await a_call(seed, "c-4", "+74951234567")
    entries = (await api.ok("GET", f"/api/v1/contacts/{olga['id']}/activity"))["activity"]
    assert len(entries) == 4


async def test_deleting_a_contact_keeps_its_calls(service: Service) -> None:
    seed = await seed_setup(service)
    api = seed.api
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                        status=201)
    await a_call(seed, "c-1")
    [call] = (await api.ok("GET", "/api/v1/calls"))["calls"]
    assert call["contact_id"] == olga["id"]
    response = await api.delete(f"/api/v1/contacts/{olga['id']}")
    assert response.status == 204
    await api.ok("GET", f"/api/v1/contacts/{olga['id']}", status=404)
    await api.ok("DELETE", f"/api/v1/contacts/{olga['id']}", status=404)
    [kept] = (await api.ok("GET", "/api/v1/calls"))["calls"]
    assert kept["id"] == call["id"] and kept["contact_id"] is None
    # The number is free for a new contact.
    await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]}, status=201)


async def test_409_and_200_conform(service: Service) -> None:
    """The answers of these routes, checked against the served document (the Schemathesis run
    cannot give a contact another contact's number)."""
    doc = await service.operator.ok("GET", "/api/v1/openapi.json")
    tenant_id, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                        status=201)
    petr = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Petr", "phones": ["+79031112233"]}, status=201)
    for response in (
        await api.post("/api/v1/contacts", {"name": "O", "phones": [CLIENT]}),
        await api.post("/api/v1/contacts/bulk", {"contacts": [{"name": "O",
                                                               "phones": [CLIENT]}]}),
        await api.patch(f"/api/v1/contacts/{petr['id']}", {"phones": [CLIENT]}),
    ):
        assert response.status == 409
        body = await assert_conforms(doc, response)
        assert body is not None and body["details"]["contact_id"] == olga["id"]
    merged = await api.post(f"/api/v1/contacts/{olga['id']}/merge",
                            {"contact_id": petr["id"]})
    assert merged.status == 200
    await assert_conforms(doc, merged)
    gone = await api.delete(f"/api/v1/contacts/{olga['id']}")
    assert gone.status == 204
    await assert_conforms(doc, gone)
    for query in ("?dry_run=true", ""):
        response = await service.operator.delete(f"/api/v1/tenants/{tenant_id}{query}")
        assert response.status == 200
        await assert_conforms(doc, response)


async def test_finishing_deletions_at_start_waits_out_a_storage_outage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The start's resumption meets the storage still failing (what cut the deletion short):
    it tries again later instead of giving up until the next start."""
    from runtime import app

    class Removal:
        tries = 0

        async def resume(self) -> list[str]:
            self.tries += 1
            if self.tries < 3:
                raise StorageUnavailable("disk full", "database or disk is full")
            return ["ten_x"]

    monkeypatch.setattr(app, "RESUME_RETRY_SECONDS", 0)
    removal = Removal()
    await asyncio.wait_for(app.finish_deletions(removal), 5)  # type: ignore[arg-type]
    assert removal.tries == 3
