"""Contacts over HTTP: phones normalised, bulk import all-or-nothing, search by any spelling."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from runtime.operations import contacts as contacts_module
from tests.e2e.conftest import SEED_SCRIPT, Api, Service


async def contacts(api: Api) -> list[Any]:
    result: list[Any] = (await api.ok("GET", "/api/v1/contacts"))["contacts"]
    return result


async def test_create_normalises_phones(service: Service) -> None:
    _, api = await service.new_tenant()
    contact = await api.ok("POST", "/api/v1/contacts",
                           {"name": "Olga", "phones": ["+7 916 123-45-67", "8 (495) 123-45-67"]},
                           status=201)
    assert contact["id"].startswith("con_")
    assert contact["phones"] == [
        {"raw": "+7 916 123-45-67", "normalized": "+79161234567"},
        {"raw": "8 (495) 123-45-67", "normalized": "+74951234567"},
    ]
    assert await api.ok("GET", f"/api/v1/contacts/{contact['id']}") == contact
    await api.ok("GET", "/api/v1/contacts/con_unknown", status=404)


async def test_region_reads_national_numbers(service: Service) -> None:
    _, api = await service.new_tenant()
    contact = await api.ok("POST", "/api/v1/contacts",
                           {"name": "Hans", "phones": ["030 123456"], "region": "DE"},
                           status=201)
    assert contact["phones"][0]["normalized"] == "+4930123456"
    body = await api.ok("POST", "/api/v1/contacts",
                        {"name": "X", "phones": ["1"], "region": "ZZ"}, status=422)
    assert body["message"].startswith("region")


@pytest.mark.parametrize("spelling", ["+7 916 123-45-67", "79161234567", "89161234567"])
async def test_phone_search_finds_one_contact_by_any_spelling(service: Service,
                                                              spelling: str) -> None:
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Olga", "phones": ["+7 916 123-45-67"]}, status=201)
    await api.ok("POST", "/api/v1/contacts", {"name": "Other", "phones": ["+79031112233"]},
                 status=201)
    found = await api.ok("GET", f"/api/v1/contacts?phone={quote(spelling)}")
    assert [c["id"] for c in found["contacts"]] == [olga["id"]]


async def test_phone_search_edge_cases(service: Service) -> None:
    _, api = await service.new_tenant()
    empty = await api.ok("GET", "/api/v1/contacts?phone=%2B79160000000")
    assert empty == {"contacts": []}
    body = await api.ok("GET", "/api/v1/contacts?phone=anonymous", status=400)
    assert body["error"] == "bad_request"
    assert "anonymous" in body["message"] and "not a phone number" in body["message"]
    body = await api.ok("GET", "/api/v1/contacts?phone=89161234567&region=XX", status=400)
    assert "region" in body["message"]


async def test_invalid_phone_is_422_naming_it(service: Service) -> None:
    _, api = await service.new_tenant()
    body = await api.ok("POST", "/api/v1/contacts",
                        {"name": "X", "phones": ["+79161234567", "hello"]}, status=422)
    assert body["message"].startswith("phones.1:")
    assert "hello" in body["message"]
    body = await api.ok("POST", "/api/v1/contacts", {"name": "X"}, status=422)
    assert body["message"].startswith("phones")
    assert await contacts(api) == []


async def test_a_number_given_twice_for_one_contact_is_422_naming_the_repeat(
        service: Service) -> None:
    # Both were stored: the contact listed +79161234567 twice, however it was spelled.
    _, api = await service.new_tenant()
    said = "+79161234567 is phones.0 again: a contact lists a number once"
    for phones in (["+79161234567", "+79161234567"], ["+7 916 123-45-67", "89161234567"]):
        body = await api.ok("POST", "/api/v1/contacts", {"name": "Ivan", "phones": phones},
                            status=422)
        assert body == {"error": "invalid", "message": f"phones.1: {said}",
                        "details": [{"field": "phones.1", "message": said}]}, body
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": "Ivan", "phones": ["+79161234567", "+79161234567"]}]}, status=422)
    assert body["message"] == ("contacts.0.phones.1: +79161234567 is contacts.0.phones.0 "
                               "again: a contact lists a number once"), body
    assert (await api.ok("GET", "/api/v1/contacts"))["contacts"] == []
    contact = await api.ok("POST", "/api/v1/contacts",
                           {"name": "Ivan", "phones": ["+79161234567"]}, status=201)
    body = await api.ok("PATCH", f"/api/v1/contacts/{contact['id']}",
                        {"phones": ["+79161234567", "8 916 123 45 67"]}, status=422)
    assert body["message"] == f"phones.1: {said}", body
    stored = await api.ok("GET", f"/api/v1/contacts/{contact['id']}")
    assert [p["raw"] for p in stored["phones"]] == ["+79161234567"]


async def test_bulk_creates_all(service: Service) -> None:
    _, api = await service.new_tenant()
    items = [{"name": f"Client {i}", "phones": [f"+7916000{i:04d}"]} for i in range(50)]
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": items}, status=201)
    assert body["created"] == 50
    assert [c["name"] for c in body["contacts"]] == [i["name"] for i in items]
    assert body["contacts"][7]["phones"][0]["normalized"] == "+79160000007"
    assert len(await contacts(api)) == 50
    page = await api.ok("GET", "/api/v1/contacts?limit=20&offset=40")
    assert len(page["contacts"]) == 10


@pytest.mark.parametrize(("bad_item", "named"), [
    ({"phones": ["+79161234567"]}, "contacts.2.name"),
    ({"name": "X", "phones": ["nope"]}, "contacts.2.phones.0"),
    ({"name": "X", "phones": ["+79161234567"], "vip": True}, "contacts.2.vip"),
])
async def test_bulk_is_all_or_nothing(service: Service, bad_item: dict[str, Any],
                                      named: str) -> None:
    _, api = await service.new_tenant()
    good = {"name": "Good", "phones": ["+79161234567"]}
    body = await api.ok("POST", "/api/v1/contacts/bulk",
                        {"contacts": [good, good, bad_item, good]}, status=422)
    assert body["message"].startswith(named), body
    assert await contacts(api) == []


async def test_bulk_limits(service: Service) -> None:
    _, api = await service.new_tenant()
    item = {"name": "A", "phones": ["+79161234567"]}
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [item] * 1001},
                        status=422)
    assert body["message"].startswith("contacts")
    await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": []}, status=422)
    items = [{"name": f"C{i}", "phones": [f"+7916000{i:04d}"]} for i in range(1000)]
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": items}, status=201)
    assert body["created"] == 1000


async def test_a_bulk_reads_its_phones_outside_the_event_loop(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    # A bulk of 1,000 contacts of 20 formatted numbers each is 20,000 readings by the phone
    # library, over a second of CPU: read in the event loop, a tenant posting bulks in a loop
    # (or the same refused one: nothing is created, nothing capped) held every other tenant's
    # webhooks and pages for seconds. They are read in a thread of their own.
    readers: list[int] = []
    read = contacts_module.contact_phones

    def reading(raws: Any, region: str) -> Any:
        readers.append(threading.get_ident())
        return read(raws, region)

    monkeypatch.setattr(contacts_module, "contact_phones", reading)
    _, api = await service.new_tenant()
    items = [{"name": f"C{i}", "phones": [f"+7 916 000-{i // 100:02d}-{i % 100:02d}"]}
             for i in range(20)]
    body = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": items}, status=201)
    assert body["contacts"][7]["phones"][0]["normalized"] == "+79160000007"
    assert len(readers) == 20
    assert threading.get_ident() not in readers
    # A refused bulk too: its error names the item as before.
    body = await api.ok("POST", "/api/v1/contacts/bulk",
                        {"contacts": [*items[:3], {"name": "X", "phones": ["nope"]}]},
                        status=422)
    assert body["message"].startswith("contacts.3.phones.0"), body


async def test_activity_of_a_contact(service: Service) -> None:
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Olga", "phones": ["89161234567"]}, status=201)
    module = await api.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": SEED_SCRIPT, "activate": True}, status=201)
    assert (await api.ok("GET", f"/api/v1/contacts/{olga['id']}/activity")) == {"activity": []}
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json={
        "type": "record", "callId": "c-1", "disposition": "answered",
        "srcPhone": "+7 916 123 45 67", "dstPhone": "101", "duration": 74,
    })
    assert response.status == 200, await response.text()
    [entry] = (await api.ok("GET", f"/api/v1/contacts/{olga['id']}/activity"))["activity"]
    assert entry["contact_id"] == olga["id"]
    call = await api.ok("GET", f"/api/v1/calls/{entry['call_id']}")
    assert call["contact_id"] == olga["id"]
    await api.ok("GET", "/api/v1/contacts/con_unknown/activity", status=404)
