"""Contract §5 for whole call sequences whose webhooks arrive in any order and twice: every
order of ringing, answered, ended and record (and of a missed call's ringing, ended and
record) ends in one ended call with the record's outcome, one activity entry (a missed call's
contact created once), and each step in the history once, applied or late, never moved back."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup


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
