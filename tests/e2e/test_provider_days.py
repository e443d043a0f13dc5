"""A day of calls through each real provider's sample module (Zadarma, Sipuni, MegaFon), on SQLite
and PostgreSQL, over HTTP: incoming answered, missed and busy calls, group rings, transfers,
outgoing and internal calls, recordings arriving late, the provider retrying a webhook (at once,
beside the first delivery), out-of-order delivery and concurrent webhooks for one call, many
calls at a time. Afterwards the calls list, each call's history, the contacts (exactly one per
missed unknown number), the activity streams, every operator's notifications (once per state)
and recording playback must be what contract §5 and providers.md say.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e.builders_support import backend_service
from tests.e2e.conftest import ROOT, Api, Service
from tests.e2e.helpers import ProviderTenant, provider_tenant, serving
from tests.e2e.test_provider_zadarma import API_KEY, API_SECRET, FakeZadarma, signature

__all__ = ["backend_service"]  # the fixture, imported for pytest

CALLS = 200
COMPANY = "74951112233"
OPERATORS = ("a", "b", "c")


@dataclass
class Hook:
    """One webhook as the provider sends it."""

    method: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Expected:
    provider_id: str
    direction: str
    disposition: str
    client: str | None            # the client's number (None for internal calls)
    answered: str | None          # operator key who answered, None when nobody did
    link: str | None              # what playback must lead to
    rang: set[str]                # operator keys told the call rang for them
    missed_unknown: bool = False  # an unanswered incoming call from a number no contact has
    told_answered: set[str] | None = None  # who is told "answered" (default: who answered)

    def answered_notes(self) -> set[str]:
        if self.told_answered is not None:
            return self.told_answered
        return {self.answered} if self.answered else set()


@dataclass
class Call:
    waves: list[list[Hook]]       # sent wave after wave; the hooks of one wave at once
    expected: Expected
    started: float = 0.0          # (loop time) its first webhook was sent
    finished: float = 0.0         # (loop time) its last webhook was acknowledged


class Plan:
    """Numbers for the day: some clients known as contacts, some not, some calling twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.known = [f"7916{n:07d}" for n in range(5)]
        self.unknown = [f"7903{n:07d}" for n in range(60)]

    def client(self) -> tuple[str, bool]:
        if self.rng.random() < 0.25:
            return self.rng.choice(self.known), True
        return self.rng.choice(self.unknown), False


# --- Zadarma ----------------------------------------------------------------------------------

ZD_EXT = {"a": "101", "b": "102", "c": "103"}


def zd_hook(fields: dict[str, str]) -> Hook:
    return Hook("POST", form=fields, headers={"Signature": signature(fields)})


def zadarma_call(n: int, plan: Plan, base: str) -> Call:
    rng = plan.rng
    pid = f"in_{n:05d}"
    start = f"2025-03-04 {8 + n // 60 % 10:02d}:{n % 60:02d}:0{n % 10}"
    client, known = plan.client()

    def inc(event: str, **extra: str) -> Hook:
        return zd_hook({"event": event, "call_start": start, "pbx_call_id": pid,
                        "caller_id": client, "called_did": COMPANY, **extra})

    def end(disposition: str, internal: str, duration: str = "0", rec: str = "") -> Hook:
        return inc("NOTIFY_END", internal=internal, duration=duration, disposition=disposition,
                   status_code="16", is_recorded="1" if rec else "0", call_id_with_rec=rec)

    def record(rec: str) -> Hook:
        return zd_hook({"event": "NOTIFY_RECORD", "pbx_call_id": pid, "call_id_with_rec": rec})

    kind = rng.choice(["answered", "late_record", "missed", "busy", "group", "transfer",
                       "outgoing", "out_missed", "reordered"])
    rec = f"1709{n:06d}.{n % 97}"
    link = f"{base}/rec/{rec}.mp3"
    if kind in ("outgoing", "out_missed"):
        pid = f"out_{n:05d}"
        op = rng.choice(OPERATORS)

        def out(event: str, **extra: str) -> Hook:
            return zd_hook({"event": event, "call_start": start, "pbx_call_id": pid,
                            "internal": ZD_EXT[op], "destination": client, **extra})
        answered = kind == "outgoing"
        ending = out("NOTIFY_OUT_END", duration="40" if answered else "0",
                     disposition="answered" if answered else "no answer", status_code="16",
                     is_recorded="1" if answered else "0", call_id_with_rec=rec if answered else "")
        return Call([[out("NOTIFY_OUT_START")], [ending], [record(rec)] if answered else []],
                    Expected(pid, "out", "answered" if answered else "no_answer", client,
                             op if answered else None, link if answered else None, {op},
                             told_answered=set()))  # Zadarma sends no answer for these
    op, other = rng.sample(OPERATORS, 2)
    if kind in ("missed", "busy"):
        disposition = "no answer" if kind == "missed" else "busy"
        return Call([[inc("NOTIFY_START")], [inc("NOTIFY_INTERNAL", internal=ZD_EXT[op])],
                     [end(disposition, ZD_EXT[op])]],
                    Expected(pid, "in", "no_answer" if kind == "missed" else "busy", client,
                             None, None, {op}, missed_unknown=not known))
    if kind == "group":
        return Call([[inc("NOTIFY_START")],
                     [inc("NOTIFY_INTERNAL", internal=ZD_EXT[op]),
                      inc("NOTIFY_INTERNAL", internal=ZD_EXT[other])],
                     [inc("NOTIFY_ANSWER", internal=ZD_EXT[other], destination=ZD_EXT[other])],
                     [end("answered", ZD_EXT[other], "61", rec)], [record(rec)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other}))
    if kind == "transfer":
        return Call([[inc("NOTIFY_START")], [inc("NOTIFY_INTERNAL", internal=ZD_EXT[op])],
                     [inc("NOTIFY_ANSWER", internal=ZD_EXT[op], destination=ZD_EXT[op])],
                     [inc("NOTIFY_INTERNAL", internal=ZD_EXT[other])],
                     [inc("NOTIFY_ANSWER", internal=ZD_EXT[other], destination=ZD_EXT[other])],
                     [end("answered", ZD_EXT[other], "95", rec), record(rec)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other},
                             told_answered={op, other}))
    if kind == "late_record":  # the end says nothing of a recording; it comes later
        return Call([[inc("NOTIFY_START")], [inc("NOTIFY_INTERNAL", internal=ZD_EXT[op])],
                     [inc("NOTIFY_ANSWER", internal=ZD_EXT[op], destination=ZD_EXT[op])],
                     [end("answered", ZD_EXT[op], "33")], [record(rec)]],
                    Expected(pid, "in", "answered", client, op, link, {op}))
    if kind == "reordered":  # the answer overtakes the ringing, the record overtakes the end
        return Call([[inc("NOTIFY_ANSWER", internal=ZD_EXT[op], destination=ZD_EXT[op])],
                     [inc("NOTIFY_START"), inc("NOTIFY_INTERNAL", internal=ZD_EXT[op])],
                     [record(rec)], [end("answered", ZD_EXT[op], "12", rec)]],
                    Expected(pid, "in", "answered", client, op, link, set()))
    return Call([[inc("NOTIFY_START")], [inc("NOTIFY_INTERNAL", internal=ZD_EXT[op])],
                 [inc("NOTIFY_ANSWER", internal=ZD_EXT[op], destination=ZD_EXT[op])],
                 [end("answered", ZD_EXT[op], "74", rec)], [record(rec)]],
                Expected(pid, "in", "answered", client, op, link, {op}))


# --- Sipuni -----------------------------------------------------------------------------------

SP_EXT = {"a": "201", "b": "202", "c": "203"}


def sipuni_call(n: int, plan: Plan, base: str) -> Call:
    rng = plan.rng
    pid = f"1709540{n:05d}.{n}"
    client, known = plan.client()
    t0 = 1709540000 + n * 300

    def hook(event: str, src: str, src_type: str, dst: str, dst_type: str, **extra: str) -> Hook:
        fields = {"event": event, "call_id": pid, "src_num": src, "src_type": src_type,
                  "dst_num": dst, "dst_type": dst_type, "timestamp": str(t0 + 5), **extra}
        if rng.random() < 0.5:
            return Hook("GET", query=fields)
        return Hook("POST", form=fields)

    link = f"{base}/rec/{n}.mp3"

    def ended(status: str, src: str, st: str, dst: str, dt: str, recorded: bool) -> Hook:
        extra = {"status": status, "call_start_timestamp": str(t0),
                 "call_answer_timestamp": str(t0 + 3) if status == "ANSWER" else "",
                 "timestamp": str(t0 + 90)}
        if recorded:
            extra["call_record_link"] = link
        return hook("2", src, st, dst, dt, **extra)

    kind = rng.choice(["answered", "missed", "busy", "group", "transfer", "outgoing",
                       "out_missed", "internal"])
    op, other = rng.sample(OPERATORS, 2)
    if kind in ("outgoing", "out_missed"):
        a = kind == "outgoing"
        waves = [[hook("1", SP_EXT[op], "2", client, "1")]]
        if a:
            waves.append([hook("3", SP_EXT[op], "2", client, "1")])
        waves.append([ended("ANSWER" if a else "NOANSWER", SP_EXT[op], "2", client, "1", a)])
        return Call(waves, Expected(pid, "out", "answered" if a else "no_answer", client,
                                    op if a else None, link if a else None, {op}))
    if kind == "internal":
        return Call([[hook("1", SP_EXT[op], "2", SP_EXT[other], "2")],
                     [hook("3", SP_EXT[op], "2", SP_EXT[other], "2")],
                     [ended("ANSWER", SP_EXT[op], "2", SP_EXT[other], "2", False)]],
                    Expected(pid, "internal", "answered", None, other, None, {other}))
    if kind in ("missed", "busy"):
        status = "NOANSWER" if kind == "missed" else "BUSY"
        return Call([[hook("1", client, "1", SP_EXT[op], "2")],
                     [ended(status, client, "1", SP_EXT[op], "2", False)]],
                    Expected(pid, "in", "no_answer" if kind == "missed" else "busy", client,
                             None, None, {op}, missed_unknown=not known))
    if kind == "group":
        return Call([[hook("1", client, "1", SP_EXT[op], "2"),
                      hook("1", client, "1", SP_EXT[other], "2")],
                     [hook("3", client, "1", SP_EXT[other], "2"),
                      hook("4", client, "1", SP_EXT[op], "2")],
                     [ended("ANSWER", client, "1", SP_EXT[other], "2", True)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other}))
    if kind == "transfer":
        return Call([[hook("1", client, "1", SP_EXT[op], "2")],
                     [hook("3", client, "1", SP_EXT[op], "2")],
                     [hook("1", client, "1", SP_EXT[other], "2")],
                     [hook("3", client, "1", SP_EXT[other], "2")],
                     [ended("ANSWER", client, "1", SP_EXT[other], "2", True)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other},
                             told_answered={op, other}))
    return Call([[hook("1", client, "1", SP_EXT[op], "2")],
                 [hook("3", client, "1", SP_EXT[op], "2")],
                 [ended("ANSWER", client, "1", SP_EXT[op], "2", True)]],
                Expected(pid, "in", "answered", client, op, link, {op}))


# --- MegaFon ----------------------------------------------------------------------------------

MF_USER = {"a": "ivanov", "b": "petrova", "c": "sidorov"}
MF_TOKEN = "mf-crm-token-day"


def megafon_call(n: int, plan: Plan, base: str) -> Call:
    rng = plan.rng
    pid = f"88441{n:05d}"
    client, known = plan.client()

    def hook(fields: dict[str, str]) -> Hook:
        return Hook("POST", form={**fields, "crm_token": MF_TOKEN})

    def ev(kind: str, op: str, direction: str = "in") -> Hook:
        return hook({"cmd": "event", "type": kind, "user": MF_USER[op], "ext": "",
                     "telnum": COMPANY, "phone": client, "diversion": COMPANY,
                     "direction": direction, "callid": pid})

    link = f"{base}/rec/{pid}.mp3"

    def history(status: str, op: str, kind: str = "in", recorded: bool = False) -> Hook:
        fields = {"cmd": "history", "type": kind, "user": MF_USER[op] if op else "",
                  "ext": "", "phone": client, "diversion": COMPANY, "start": "20250304T101502Z",
                  "duration": "93" if status == "Success" else "0", "callid": pid,
                  "status": status}
        if recorded:
            fields["link"] = link
        return hook(fields)

    kind = rng.choice(["answered", "missed", "busy", "group", "transfer", "outgoing",
                       "out_busy"])
    op, other = rng.sample(OPERATORS, 2)
    if kind == "outgoing":
        return Call([[ev("OUTGOING", op, "out")], [ev("ACCEPTED", op, "out")],
                     [ev("COMPLETED", op, "out")], [history("Success", op, "out", True)]],
                    Expected(pid, "out", "answered", client, op, link, {op}))
    if kind == "out_busy":
        return Call([[ev("OUTGOING", op, "out")], [ev("CANCELLED", op, "out")],
                     [history("Busy", op, "out")]],
                    Expected(pid, "out", "busy", client, None, None, {op}))
    if kind in ("missed", "busy"):
        status = "missed" if kind == "missed" else "Busy"
        return Call([[ev("INCOMING", op)], [ev("CANCELLED", op)], [history(status, "")]],
                    Expected(pid, "in", "no_answer" if kind == "missed" else "busy", client,
                             None, None, {op}, missed_unknown=not known))
    if kind == "group":
        return Call([[ev("INCOMING", op), ev("INCOMING", other)], [ev("ACCEPTED", other)],
                     [ev("CANCELLED", op)], [ev("COMPLETED", other)],
                     [history("Success", other, recorded=True)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other}))
    if kind == "transfer":
        return Call([[ev("INCOMING", op)], [ev("ACCEPTED", op)],
                     [ev("TRANSFERRED", other), ev("COMPLETED", op)],
                     [ev("ACCEPTED", other)], [ev("COMPLETED", other)],
                     [history("Success", other, recorded=True)]],
                    Expected(pid, "in", "answered", client, other, link, {op, other},
                             told_answered={op, other}))
    return Call([[ev("INCOMING", op)], [ev("ACCEPTED", op)], [ev("COMPLETED", op)],
                 [history("Success", op, recorded=True)]],
                Expected(pid, "in", "answered", client, op, link, {op}))


# --- the day ----------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeZadarma]:
    provider = FakeZadarma()
    async with serving(provider.app()) as provider.base:
        yield provider


async def send(tenant: ProviderTenant, hook: Hook) -> None:
    path = tenant.hook_path + ("?" + urlencode(hook.query) if hook.query else "")
    headers = dict(hook.headers)
    data = None
    if hook.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urlencode(hook.form)
    for _ in range(20):
        response = await tenant.service.client.request(hook.method, path, data=data,
                                                       headers=headers)
        text = await response.text()
        if response.status in (429, 503):  # the provider retries what was not acknowledged
            await asyncio.sleep(float(response.headers.get("Retry-After", "0.2")))
            continue
        assert response.status == 200, (hook, response.status, text)
        return
    raise AssertionError(f"never acknowledged: {hook}")


async def run_day(tenant: ProviderTenant, calls: list[Call], rng: random.Random) -> None:
    gate = asyncio.Semaphore(12)

    async def one(call: Call) -> None:
        async with gate:
            call.started = asyncio.get_running_loop().time()
            for wave in call.waves:
                sent: list[Awaitable[None]] = []
                for hook in wave:
                    sent.append(send(tenant, hook))
                    if rng.random() < 0.15:  # a provider retry, racing the first delivery
                        sent.append(send(tenant, hook))
                await asyncio.gather(*sent)
                if rng.random() < 0.1 and wave:  # a retry long after
                    await send(tenant, rng.choice(wave))
            call.finished = asyncio.get_running_loop().time()

    await asyncio.gather(*(one(c) for c in calls))


async def all_pages(tenant: ProviderTenant, path: str, key: str, api: Any = None) -> list[Any]:
    items: list[Any] = []
    sep = "&" if "?" in path else "?"
    while True:
        page = await (api or tenant.api).ok("GET", f"{path}{sep}limit=200&offset={len(items)}")
        items.extend(page[key])
        if len(page[key]) < 200:
            return items


async def check_day(tenant: ProviderTenant, calls: list[Call], members: dict[str, str]) -> None:
    problems: list[str] = []
    listed = await all_pages(tenant, "/api/v1/calls", "calls")
    by_pid: dict[str, list[dict[str, Any]]] = {}
    for c in listed:
        by_pid.setdefault(c["provider_call_id"], []).append(c)
    assert len(listed) == len(calls), sorted(p for p, cs in by_pid.items() if len(cs) > 1)
    user_ids = {key: tenant.users[key]["id"] for key in OPERATORS}
    for call in calls:
        want = call.expected
        [row] = by_pid[want.provider_id]
        got = await tenant.api.ok("GET", f"/api/v1/calls/{row['id']}")
        seen = (got["state"], got["direction"], got["disposition"], got["answered_phone"],
                got["answered_user_id"], got["has_record"])
        expect = ("ended", want.direction, want.disposition,
                  members[want.answered] if want.answered else None,
                  user_ids[want.answered] if want.answered else None, want.link is not None)
        if seen != expect:
            problems.append(f"{want.provider_id}: {seen} != {expect}; events "
                            f"{[(e['kind'], e['effect']) for e in got['events']]}")
        if want.link:
            played = await tenant.service.client.get(
                f"/api/v1/calls/{row['id']}/recording",
                headers={"Authorization": f"Bearer {tenant.api.secret}"}, allow_redirects=False)
            location = played.headers.get("Location", "").split("?")[0]
            if played.status != 302 or location != want.link:
                problems.append(f"{want.provider_id}: playback {played.status} {location}")
            # An operator plays the calls that rang or were answered at them, and no other.
            for key in OPERATORS:
                involved = key in want.rang or key == want.answered
                played = await tenant.service.client.get(
                    f"/api/v1/calls/{row['id']}/recording?token={tenant.tokens[key]}",
                    allow_redirects=False)
                if played.status != (302 if involved else 404):
                    problems.append(f"{want.provider_id}: operator {key} plays: {played.status}")
    # Each operator: once per state per call, ringing for every call that rang at them.
    for key in OPERATORS:
        token = tenant.tokens[key]
        notes = await all_pages(tenant, f"/api/v1/notifications?token={token}",
                                "notifications", api=Api(tenant.service.client, None))
        per_call: dict[str, list[str]] = {}
        for note in notes:
            per_call.setdefault(note["call_id"], []).append(note["kind"])
        for call in calls:
            want = call.expected
            [row] = by_pid[want.provider_id]
            kinds = per_call.get(row["id"], [])
            told: list[str] = []
            if key in want.rang:
                told.append("ringing")
            if key in want.answered_notes():
                told.append("answered")
            if key in want.rang or key in want.answered_notes():
                told.append("ended")
            if sorted(kinds) != sorted(told):
                problems.append(f"{want.provider_id} operator {key}: {kinds} != {told}")
    # Contacts: exactly one per missed unknown number, none for others; activity per call.
    contacts = await all_pages(tenant, "/api/v1/contacts", "contacts")
    numbers: dict[str, int] = {}
    for contact in contacts:
        for number in contact["phones"]:
            digits = number["normalized"].lstrip("+")
            numbers[digits] = numbers.get(digits, 0) + 1
    missed_unknown = {c.expected.client for c in calls
                      if c.expected.missed_unknown and c.expected.client is not None}
    made = {n for n in numbers if not n.startswith("7916")}
    if made != missed_unknown or any(v != 1 for v in numbers.values()):
        problems.append(f"contacts: made {sorted(made ^ missed_unknown)} wrong; "
                        f"dupes {[n for n, v in numbers.items() if v != 1]}")
    # Activity: a contact's stream holds exactly the calls linked to it; every call of a known
    # number, every missed call, and every call that began after its number's first missed
    # call was acknowledged (its contact stored) is linked to it. (A contact made for a missed
    # call adopts no earlier call: test_contact_made_later.py.)
    owner = {c["phones"][0]["normalized"].lstrip("+"): c for c in contacts}
    made_by: dict[str, float] = {}
    for call in calls:
        if call.expected.missed_unknown and call.expected.client is not None:
            number = call.expected.client
            made_by[number] = min(made_by.get(number, call.finished), call.finished)
    linked: dict[str, set[str]] = {}
    for call in calls:
        want = call.expected
        if want.direction == "internal" or want.client is None:
            continue
        [row] = by_pid[want.provider_id]
        got = await tenant.api.ok("GET", f"/api/v1/calls/{row['id']}")
        contact = owner.get(want.client)
        entry = got["activity"]
        if entry is None:
            problems.append(f"{want.provider_id}: no activity entry")
            continue
        if got["contact_id"] != entry["contact_id"]:
            problems.append(f"{want.provider_id}: call's contact {got['contact_id']} but its "
                            f"entry's {entry['contact_id']}")
        must = contact is not None and (
            want.missed_unknown or want.client.startswith("7916")
            or call.started > made_by.get(want.client, float("inf")))
        if must and contact is not None and got["contact_id"] != contact["id"]:
            problems.append(f"{want.provider_id}: not linked to the contact of {want.client} "
                            f"({want.disposition} {want.direction} {want.missed_unknown}; "
                            f"contact {got['contact_id']})")
        if got["contact_id"]:
            linked.setdefault(got["contact_id"], set()).add(entry["id"])
    for contact in contacts:
        activity = await all_pages(tenant, f"/api/v1/contacts/{contact['id']}/activity",
                                   "activity")
        if {a["id"] for a in activity} != linked.get(contact["id"], set()):
            problems.append(f"contact {contact['phones'][0]['normalized']}: stream "
                            f"{len(activity)} entries, calls linked "
                            f"{len(linked.get(contact['id'], set()))}")
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"


Maker = Callable[[int, Plan, str], Call]


async def a_day(service: Service, tenant: ProviderTenant, maker: Maker, base: str,
                members: dict[str, str], seed: int) -> None:
    rng = random.Random(seed)
    plan = Plan(rng)
    for number in plan.known:
        await tenant.api.ok("POST", "/api/v1/contacts",
                            {"name": f"Known {number}", "phones": [number]}, status=201)
    calls = [maker(n, plan, base) for n in range(CALLS)]
    await run_day(tenant, calls, rng)
    await check_day(tenant, calls, members)


async def test_a_day_of_zadarma(backend_service: Service, fake: FakeZadarma) -> None:
    tenant = await provider_tenant(ProviderTenant, backend_service, {
        "name": "zadarma", "region": "RU",
        "settings": {"apiBaseUrl": fake.base, "apiKey": API_KEY, "apiSecret": API_SECRET},
        "secrets": ["apiKey", "apiSecret"], "allowlist": ["127.0.0.1"],
    }, (ROOT / "scripts" / "zadarma" / "script.py").read_text(encoding="utf-8"),
        {k: k for k in OPERATORS}, {ext: k for k, ext in ZD_EXT.items()})
    await a_day(backend_service, tenant, zadarma_call, fake.base, ZD_EXT, 1)


async def test_a_day_of_sipuni(backend_service: Service) -> None:
    tenant = await provider_tenant(ProviderTenant, backend_service, {
        "name": "sipuni", "region": "RU", "settings": {},
    }, (ROOT / "scripts" / "sipuni" / "script.py").read_text(encoding="utf-8"),
        {k: k for k in OPERATORS}, {ext: k for k, ext in SP_EXT.items()})
    await a_day(backend_service, tenant, sipuni_call, "https://sipuni.example", SP_EXT, 2)


async def test_a_day_of_megafon(backend_service: Service) -> None:
    tenant = await provider_tenant(ProviderTenant, backend_service, {
        "name": "megafon", "region": "RU",
        "settings": {"crmToken": MF_TOKEN, "memberField": "user", "defaultResponsible": ""},
        "secrets": ["crmToken"],
    }, (ROOT / "scripts" / "megafon" / "script.py").read_text(encoding="utf-8"),
        {k: k for k in OPERATORS}, {u: k for k, u in MF_USER.items()})
    await a_day(backend_service, tenant, megafon_call, "https://pbx.example", MF_USER, 3)
