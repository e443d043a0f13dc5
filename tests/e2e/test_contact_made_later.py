"""A contact made after its client called (contract §5.3 finds the contact by the client's
number when the record comes; a contact made later is silent there): the calls of its numbers
that no contact had, and their activity entries, become the new contact's, so its activity
stream shows them. The console offers "Create contact" on exactly such a call's card, and
the contact's page listed none of the calls it was made from. A call another contact has
stays with it. A contact the runtime makes for a missed call holds that call, as §5.3 says,
and adopts nothing. On both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import service_on_backend
from tests.e2e.helpers import SeedSetup, seed_setup


@pytest.fixture(params=["sqlite", "postgres"])
async def seed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SeedSetup]:
    async with service_on_backend(request.param, tmp_path) as service:
        yield await seed_setup(service)


def answered_call(call_id: str, phone: str, recording: str | None) -> list[dict[str, Any]]:
    common = {"callId": call_id, "srcPhone": phone, "dstPhone": "101"}
    record: dict[str, Any] = {"type": "record", **common, "disposition": "answered",
                              "duration": 30}
    if recording:
        record["recordId"] = recording
    return [{"type": "start", **common}, {"type": "answer", **common},
            {"type": "end", **common, "disposition": "answered"}, record]


async def call_of(seed: SeedSetup, call_id: str) -> dict[str, Any]:
    listed = await seed.api.ok("GET", "/api/v1/calls?limit=500")
    [call] = [c for c in listed["calls"] if c["provider_call_id"] == call_id]
    page: dict[str, Any] = await seed.api.ok("GET", f"/api/v1/calls/{call['id']}")
    return page


async def stream(seed: SeedSetup, contact_id: str) -> list[str]:
    """The provider call ids of the contact's activity stream, newest first."""
    entries = await seed.api.ok("GET", f"/api/v1/contacts/{contact_id}/activity")
    return [entry["data"]["call_id"] for entry in entries["activity"]]


async def test_a_contact_made_after_the_calls_has_them_in_its_activity(seed: SeedSetup) -> None:
    # An answered call and a call back from a number no contact has: no contact is made.
    for step in answered_call("in-1", "+79161230001", "rec-1"):
        await seed.hook_ok(step)
    for step in ({"type": "out_start", "callId": "out-1", "srcPhone": "101",
                  "dstPhone": "89161230001"},
                 {"type": "out_end", "callId": "out-1", "srcPhone": "101",
                  "dstPhone": "89161230001", "disposition": "no_answer"},
                 {"type": "record", "callId": "out-1", "direction": "out",
                  "srcPhone": "101", "dstPhone": "89161230001", "disposition": "no_answer",
                  "duration": 0}):
        await seed.hook_ok(step)
    # Another client's call, whose contact exists.
    other = await seed.api.ok("POST", "/api/v1/contacts",
                              {"name": "Olga", "phones": ["+79161230002"]}, status=201)
    for step in answered_call("in-2", "+79161230002", None):
        await seed.hook_ok(step)
    assert (await call_of(seed, "in-1"))["contact_id"] is None

    # The operator creates the contact from the call's card, in another spelling.
    ivan = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Ivan", "phones": ["+7 916 123-00-01"]}, status=201)
    for call_id in ("in-1", "out-1"):
        call = await call_of(seed, call_id)
        assert call["contact_id"] == ivan["id"], call
        assert call["activity"]["contact_id"] == ivan["id"], call
    assert sorted(await stream(seed, ivan["id"])) == ["in-1", "out-1"]
    assert await stream(seed, other["id"]) == ["in-2"]
    # The next call of the number is the contact's as before, and counted once.
    for step in answered_call("in-3", "+79161230001", None):
        await seed.hook_ok(step)
    assert sorted(await stream(seed, ivan["id"])) == ["in-1", "in-3", "out-1"]


async def test_a_number_given_to_a_contact_later_brings_its_calls(seed: SeedSetup) -> None:
    ivan = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Ivan", "phones": ["+79161230001"]}, status=201)
    for step in answered_call("mobile", "+79161230003", None):
        await seed.hook_ok(step)
    await seed.api.ok("PATCH", f"/api/v1/contacts/{ivan['id']}",
                      {"phones": ["+79161230001", "+79161230003"]})
    assert await stream(seed, ivan["id"]) == ["mobile"]
    assert (await call_of(seed, "mobile"))["contact_id"] == ivan["id"]


async def test_a_deleted_contacts_calls_go_to_the_next_contact_of_the_number(
        seed: SeedSetup) -> None:
    # A missed call made a contact; it was deleted (its calls stay, linked to none); the
    # client's contact made again has the calls of its number.
    missed = {"callId": "m-1", "srcPhone": "+79161230004", "dstPhone": "101"}
    for step in ({"type": "start", **missed},
                 {"type": "end", **missed, "disposition": "no_answer"},
                 {"type": "record", **missed, "disposition": "no_answer", "duration": 0}):
        await seed.hook_ok(step)
    made = (await call_of(seed, "m-1"))["contact_id"]
    assert made is not None
    await seed.api.ok("DELETE", f"/api/v1/contacts/{made}", status=204)
    assert (await call_of(seed, "m-1"))["contact_id"] is None
    body = await seed.api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": "Petr", "phones": ["89161230004"]}]}, status=201)
    [petr] = body["contacts"]
    assert await stream(seed, petr["id"]) == ["m-1"]


async def test_the_contact_a_missed_call_makes_holds_that_call(seed: SeedSetup) -> None:
    # Contract §5.3: the record's entry is written to the contact found by the client's number
    # when it comes, and a missed call with no such contact makes one for it. What the runtime
    # makes by itself holds the call it was made for; the client's earlier answered call (no
    # contact then) stays unlinked until someone makes or gives a contact that number.
    for step in answered_call("first", "+79161230005", "rec-5"):
        await seed.hook_ok(step)
    missed = {"callId": "second", "srcPhone": "8 916 123-00-05", "dstPhone": "101"}
    for step in ({"type": "start", **missed},
                 {"type": "end", **missed, "disposition": "no_answer"},
                 {"type": "record", **missed, "disposition": "no_answer", "duration": 0}):
        await seed.hook_ok(step)
    made = (await call_of(seed, "second"))["contact_id"]
    assert made is not None
    assert await stream(seed, made) == ["second"]
    assert (await call_of(seed, "first"))["contact_id"] is None
