"""Whole call sequences as a provider sends them, for fault tests against the real service.

Each call is a plan of webhooks (ringing → answered → ended → record, or ringing → ended →
record for a missed call). Senders post each step until it is acknowledged (2xx), as a provider
retries, and now and then post an acknowledged step once more (a provider's retry after a lost
reply). What was acknowledged is remembered, so a test can crash, stop or starve the service
in the middle and then check, through the API, that every acknowledged webhook left its effects
exactly once and nothing half-written.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.e2e.service_process import call_json

# The phone of call i: its own number, so a missed call creates its own contact.
PHONE_BASE = 79260000000


@dataclass
class CallPlan:
    call_id: str
    phone: str
    answered: bool
    steps: list[dict[str, Any]]

    @property
    def kinds(self) -> list[str]:
        return [_event_kind(step) for step in self.steps]


def _event_kind(step: dict[str, Any]) -> str:
    return {"start": "notify_start", "answer": "notify_answer", "end": "notify_end",
            "record": "call_record"}[step["type"]]


def plan_call(n: int, prefix: str, answered: bool) -> CallPlan:
    call_id = f"{prefix}-{n}"
    phone = f"+{PHONE_BASE + n}"
    common = {"callId": call_id, "srcPhone": phone, "dstPhone": "101"}
    steps: list[dict[str, Any]] = [{"type": "start", **common}]
    if answered:
        steps.append({"type": "answer", **common})
        steps.append({"type": "end", **common, "disposition": "answered"})
        steps.append({"type": "record", **common, "direction": "in",
                      "disposition": "answered", "duration": 30 + n % 50,
                      "recordId": f"rec-{call_id}"})
    else:
        steps.append({"type": "end", **common, "disposition": "no_answer"})
        steps.append({"type": "record", **common, "direction": "in",
                      "disposition": "no_answer", "duration": 0})
    return CallPlan(call_id, phone, answered, steps)


@dataclass
class SequenceLoad:
    """Calls sent through any of `hooks` (one webhook URL per node), `parallel` at a time."""

    hooks: list[str]
    plans: list[CallPlan]
    parallel: int = 12
    repeat_chance: float = 0.2
    retry_pause: float = 0.05
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    acknowledged: Counter[tuple[str, int]] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    refusal_bodies: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    failures: int = 0
    finished: set[str] = field(default_factory=set)

    @property
    def acks(self) -> int:
        return sum(self.acknowledged.values())

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> bool:
        hook = self.rng.choice(self.hooks)
        try:
            async with session.post(hook, data=json.dumps(body),
                                    headers={"Content-Type": "application/json"}) as response:
                text = await response.text()
                if 200 <= response.status < 300:
                    return True
                self.refused[response.status] += 1
                if len(self.refusal_bodies) < 2000:
                    self.refusal_bodies.append((response.status, dict(response.headers), text))
                return False
        except (aiohttp.ClientError, TimeoutError):
            self.failures += 1
            return False

    async def _call(self, session: aiohttp.ClientSession, plan: CallPlan) -> None:
        for index, step in enumerate(plan.steps):
            while not await self._post(session, step):
                await asyncio.sleep(self.retry_pause)
            self.acknowledged[(plan.call_id, index)] += 1
            if self.rng.random() < self.repeat_chance and await self._post(session, step):
                self.acknowledged[(plan.call_id, index)] += 1
        self.finished.add(plan.call_id)

    async def run(self, session: aiohttp.ClientSession) -> None:
        gate = asyncio.Semaphore(self.parallel)

        async def one(plan: CallPlan) -> None:
            async with gate:
                await self._call(session, plan)

        await asyncio.gather(*(one(plan) for plan in self.plans))


async def _pages(session: aiohttp.ClientSession, url: str, key: str, field_name: str
                 ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    joiner = "&" if "?" in url else "?"
    while True:
        page = await call_json(session, "GET", f"{url}{joiner}limit=500&offset={offset}", key)
        items.extend(page[field_name])
        if len(page[field_name]) < 500:
            return items
        offset += 500


async def check_sequences(session: aiohttp.ClientSession, api: str, key: str,
                          plans: list[CallPlan]) -> None:
    """Every planned call, all of whose steps were acknowledged, is stored once, in its final
    state, with each step applied exactly once; its activity entry (a missed call's new contact,
    or the known contact of an answered one) exists once; the list agrees with the call pages;
    every stored event names its own execution, which exists and succeeded."""
    calls = await _pages(session, api + "/calls", key, "calls")
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        by_provider.setdefault(call["provider_call_id"], []).append(call)
    contacts = await _pages(session, api + "/contacts", key, "contacts")
    contacts_by_phone: dict[str, list[dict[str, Any]]] = {}
    for contact in contacts:
        for phone in contact["phones"]:
            contacts_by_phone.setdefault(phone["normalized"], []).append(contact)
    execution_ids: set[str] = set()
    problems: list[str] = []
    for plan in plans:
        listed = by_provider.get(plan.call_id, [])
        if len(listed) != 1:
            problems.append(f"{plan.call_id}: {len(listed)} calls")
            continue
        summary = listed[0]
        page = await call_json(session, "GET", f"{api}/calls/{summary['id']}", key)
        events = page.pop("events")
        activity = page.pop("activity")
        if page != summary:
            problems.append(f"{plan.call_id}: the list says {summary}, the page {page}")
        applied = Counter(e["kind"] for e in events if e["effect"] == "applied")
        if applied != Counter(plan.kinds):
            problems.append(f"{plan.call_id}: applied {dict(applied)}, sent {plan.kinds}")
        unexpected = [e["effect"] for e in events if e["effect"] not in ("applied", "repeat")]
        if unexpected:
            problems.append(f"{plan.call_id}: effects {unexpected}")
        record = plan.steps[-1]
        expected = {"state": "ended", "disposition": record["disposition"],
                    "duration": float(record["duration"]),
                    "has_record": plan.answered}
        got = {name: summary[name] for name in expected}
        if got != expected:
            problems.append(f"{plan.call_id}: {got} != {expected}")
        owners = contacts_by_phone.get(plan.phone, [])
        if len(owners) != 1:
            problems.append(f"{plan.call_id}: {len(owners)} contacts own {plan.phone}")
        elif activity is None or activity["contact_id"] != owners[0]["id"] \
                or summary["contact_id"] != owners[0]["id"]:
            problems.append(f"{plan.call_id}: activity {activity}, contact {owners[0]['id']}")
        else:
            entries = await call_json(
                session, "GET", f"{api}/contacts/{owners[0]['id']}/activity", key)
            mine = [a for a in entries["activity"] if a["call_id"] == summary["id"]]
            if len(mine) != 1 or mine[0] != activity:
                problems.append(f"{plan.call_id}: contact activity {mine} vs {activity}")
        for event in events:
            # One webhook run, one execution, one history row: never two rows of one run.
            if event["execution_id"] in execution_ids:
                problems.append(f"{plan.call_id}: {event['execution_id']} twice")
            execution_ids.add(event["execution_id"])
    for execution_id in sorted(execution_ids):
        execution = await call_json(session, "GET", f"{api}/executions/{execution_id}", key)
        if execution["outcome"] != "ok":
            problems.append(f"{execution_id}: {execution['outcome']}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:20])


async def known_contacts(session: aiohttp.ClientSession, api: str, key: str,
                         plans: list[CallPlan]) -> None:
    """The contacts of the answered calls exist before the calls (a missed call creates its own)."""
    items = [{"name": f"client {p.call_id}", "phones": [p.phone]} for p in plans if p.answered]
    for start in range(0, len(items), 200):
        await call_json(session, "POST", api + "/contacts/bulk", key,
                        {"contacts": items[start:start + 200], "region": "RU"}, 201)
