"""Contract §5 for whole call sequences whose webhooks arrive in any order and twice: every
order of ringing, answered, ended and record (and of a missed call's ringing, ended and
record) ends in one ended call with the record's outcome, one activity entry (a missed call's
contact created once), and each step in the history once, applied or late, never moved back."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from runtime import runner
from runtime.store.models import utc_now
from tests.e2e.conftest import ROOT, Service
from tests.e2e.helpers import SeedSetup, answer, end, record, seed_setup, start
from tests.e2e.test_webhooks import next_notification

ELMA_EVENT_SCRIPT = (ROOT / "scripts" / "elma-event" / "script.py").read_text(encoding="utf-8")


def steps(call_id: str, phone: str, answered: bool) -> list[dict[str, Any]]:
    common = {"callId": call_id, "srcPhone": phone, "dstPhone": "101"}
    if answered:
        return [{"type": "start", **common}, {"type": "answer", **common},
                {"type": "end", **common, "disposition": "answered"},
                {"type": "record", **common, "disposition": "answered", "duration": 42,
                 "recordId": f"rec-{call_id}"}]
    return [{"type": "start", **common}, {"type": "end", **common, "disposition": "no_answer"},
            {"type": "record", **common, "disposition": "no_answer", "duration": 0}]


async def final_call(seed: SeedSetup, call_id: str) -> dict[str, Any]:
    listed = await seed.api.ok("GET", "/api/v1/calls?limit=500")
    mine = [c for c in listed["calls"] if c["provider_call_id"] == call_id]
    assert len(mine) == 1, mine
    page: dict[str, Any] = await seed.api.ok("GET", f"/api/v1/calls/{mine[0]['id']}")
    return page


async def test_every_order_of_a_call_with_repeats_ends_the_same(service: Service) -> None:
    seed = await seed_setup(service)
    problems: list[str] = []
    n = 0
    for answered in (True, False):
        plan = steps("x", "+7", answered)
        for order in itertools.permutations(range(len(plan))):
            n += 1
            call_id = f"o{n}"
            phone = f"+7926{n:07d}"
            if answered:
                await seed.api.ok("POST", "/api/v1/contacts",
                                  {"name": call_id, "phones": [phone]}, status=201)
            plan = steps(call_id, phone, answered)
            # Each step twice: once in the order, once more after the next (a retry).
            sent = [i for pair in itertools.zip_longest(order, (None, *order)) for i in pair
                    if i is not None]
            for i in sent:
                await seed.hook_ok(plan[i])
            call = await final_call(seed, call_id)
            kinds = Counter(e["kind"] for e in call["events"] if e["effect"] != "repeat")
            want = {"state": "ended", "disposition": plan[-1]["disposition"],
                    "duration": float(plan[-1]["duration"]), "has_record": answered,
                    "answered_phone": "101" if answered else None}
            got = {k: call[k] for k in want}
            where = f"{'answered' if answered else 'missed'} order {order}"
            if got != want:
                problems.append(f"{where}: {got}")
            if sorted(kinds.values()) != [1] * len(plan):
                problems.append(f"{where}: events {call['events']}")
            contacts = await seed.api.ok("GET", f"/api/v1/contacts?phone={phone}")
            owners = [c for c in contacts["contacts"]
                      if any(p["normalized"] == phone for p in c["phones"])]
            if len(owners) != 1 or call["activity"] is None:
                problems.append(f"{where}: owners {owners}, activity {call['activity']}")
                continue
            entries = await seed.api.ok("GET", f"/api/v1/contacts/{owners[0]['id']}/activity")
            if len(entries["activity"]) != 1:
                problems.append(f"{where}: {len(entries['activity'])} activity entries")
    assert not problems, "\n".join(problems)


async def test_every_order_of_a_call_without_call_id_ends_in_that_one_call(
    service: Service,
) -> None:
    # A module that gives no callId (as the platform's documented examples): its events meet
    # by their numbers, and those that come after the end (a start or an answer the end
    # overtook, a retry) belong to the call that ended, not to a second call left ringing or
    # answered forever.
    seed = await seed_setup(service)
    problems: list[str] = []
    n = 0
    for answered in (True, False):
        for order in itertools.permutations(range(len(steps("x", "+7", answered)))):
            n += 1
            phone = f"+7925{n:07d}"
            plan = [{k: v for k, v in step.items() if k != "callId"}
                    for step in steps("x", phone, answered)]
            # Each step once more after the next (a retry), but a start retried after the
            # end: without a callId that is the client calling back, a new call.
            sent: list[int] = []
            for i, retried in itertools.zip_longest(order, (None, *order)):
                if i is not None:
                    sent.append(i)
                ended = any(plan[j]["type"] in ("end", "record") for j in sent)
                if retried is not None and not (plan[retried]["type"] == "start" and ended):
                    sent.append(retried)
            for i in sent:
                await seed.hook_ok(plan[i])
            where = f"{'answered' if answered else 'missed'} order {order}"
            listed = await seed.api.ok("GET", f"/api/v1/calls?phone={phone}")
            if len(listed["calls"]) != 1:
                problems.append(f"{where}: {len(listed['calls'])} calls")
                continue
            call = await seed.api.ok("GET", f"/api/v1/calls/{listed['calls'][0]['id']}")
            want = {"state": "ended", "disposition": plan[-1]["disposition"],
                    "duration": float(plan[-1]["duration"]), "has_record": answered,
                    "answered_phone": "101" if answered else None}
            got = {k: call[k] for k in want}
            if got != want:
                problems.append(f"{where}: {got}")
            kinds = Counter(e["kind"] for e in call["events"] if e["effect"] != "repeat")
            if sorted(kinds.values()) != [1] * len(plan):
                problems.append(f"{where}: events {call['events']}")
            # One entry; a missed call's with the contact it created.
            activity = call["activity"]
            if activity is None or (not answered and activity["contact_id"] is None):
                problems.append(f"{where}: activity {activity}")
    # Nobody was told of a call twice, nor of one that was never there.
    told = await seed.service.client.get(f"/api/v1/notifications?token={seed.user_token}"
                                         "&limit=500")
    kinds = Counter((m["call_id"], m["kind"]) for m in (await told.json())["notifications"])
    if any(count > 1 for count in kinds.values()):
        problems.append(f"notified twice: {[k for k, c in kinds.items() if c > 1]}")
    assert not problems, "\n".join(problems)


async def test_an_end_at_another_phone_leaves_the_ended_calls_disposition(
    service: Service,
) -> None:
    # NotifyEnd's disposition is final (contract §5). A second end for the ended call, at a
    # phone that also rang (the operator who transferred the call away, a leg of a group
    # ringing: a PBX that reports each phone's end), used to overwrite it: an answered call,
    # with its operator and its 40 s record, read 'cancel' or 'busy' in the list and the page.
    seed = await seed_setup(service)
    client = "+79161112244"
    ring_102 = {"type": "internal", "srcPhone": client, "dstPhone": "102"}
    sequences = {
        # Transferred from 101 to 102, who answered and ended it; then 101's leg ends.
        "transferred": [start("t", client, "101"), answer("t", client, "101"),
                        {**ring_102, "callId": "t"}, answer("t", client, "102"),
                        end("t", "answered", client, "102"), end("t", "cancel", client, "101"),
                        record("t", "answered", 40, client, "rec-t")],
        # Group ringing at 101 and 102; 101 answered; the record came; then 102's leg ends.
        "group": [start("g", client, "101"), {**ring_102, "callId": "g"},
                  answer("g", client, "101"), end("g", "answered", client, "101"),
                  record("g", "answered", 40, client, "rec-g"), end("g", "busy", client, "102")],
        # The record (the provider's call log) before any end; then an end at the other phone.
        "record first": [start("r", client, "101"), {**ring_102, "callId": "r"},
                         answer("r", client, "101"), record("r", "answered", 40, client, "rec-r"),
                         end("r", "no_answer", client, "102")],
    }
    problems: list[str] = []
    for name, sequence in sequences.items():
        for step in sequence:
            await seed.hook_ok(step)
        call_id = sequence[0]["callId"]
        call = await final_call(seed, call_id)
        listed = await seed.api.ok("GET", f"/api/v1/calls?phone={client}")
        [summary] = [c for c in listed["calls"] if c["provider_call_id"] == call_id]
        want = {"state": "ended", "disposition": "answered", "duration": 40.0,
                "has_record": True}
        for where, shown in (("page", call), ("list", summary)):
            got = {k: shown[k] for k in want}
            if got != want:
                problems.append(f"{name}, {where}: {got}")
        # Every end is in the history, none of them lost.
        ends = [e["dst_phone"] for e in call["events"] if e["kind"] == "notify_end"]
        if sorted(ends) != sorted(s["dstPhone"] for s in sequence if s["type"] == "end"):
            problems.append(f"{name}: ends {ends}")
    assert not problems, "\n".join(problems)


async def test_a_client_calling_again_through_a_module_that_sends_only_starts_rings_again(
    service: Service, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The platform's documented example sends NotifyStart alone: no callId, no end, so its
    # calls never end. The client's next call, minutes or days later, was taken as a repeat
    # of the first (an open call with the same numbers): stored as nothing, told to nobody.
    # A retry of the start moments later is still a repeat.
    clock = [utc_now()]
    monkeypatch.setattr(runner, "utc_now", lambda: clock[0])
    seed = await seed_setup(service, script=ELMA_EVENT_SCRIPT)
    socket = await service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert [(await socket.receive_json())["type"] for _ in range(2)] == ["hello", "caught_up"]
    ring = {"srcPhone": "+79161234567", "dstPhone": "101"}
    await seed.hook_ok(ring)
    first = await next_notification(socket)
    clock[0] += timedelta(seconds=30)
    await seed.hook_ok(ring)  # the provider's retry
    clock[0] += timedelta(minutes=20)
    await seed.hook_ok(ring)  # the client calls again
    again = await next_notification(socket)
    assert (first["kind"], again["kind"]) == ("ringing", "ringing")
    assert again["call_id"] != first["call_id"]
    listed = await seed.api.ok("GET", "/api/v1/calls")
    assert sorted(c["id"] for c in listed["calls"]) == sorted([first["call_id"],
                                                              again["call_id"]])
    call = await seed.api.ok("GET", f"/api/v1/calls/{first['call_id']}")
    assert [e["effect"] for e in call["events"]] == ["applied", "repeat"]
    await socket.close()
