"""A script that hangs, exhausts its memory or recurses without end in the middle of a call
sequence, against the real service: that webhook is answered 500 naming an execution, and
nothing of it is stored; the other steps of the same call, the tenant's other calls and
another tenant's calls go on and are stored once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.e2e.call_sequences import SequenceLoad, check_sequences, known_contacts, plan_call
from tests.e2e.conftest import SEED_SCRIPT
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant

# The seed module, with faults on request: a webhook whose JSON carries "fault" misbehaves.
FAULTY_SCRIPT = SEED_SCRIPT + '''

import json

parse_normally = VoipParseWebhookRequest


def VoipParseWebhookRequest(request):
    fault = request.json().get("fault") if request.body else None
    if fault == "hang":
        while True:
            pass
    if fault == "memory":
        hoard = []
        while True:
            hoard.append("x" * 1_000_000)
    if fault == "recursion":
        def deeper(n):
            return deeper(n + 1) + 1
        deeper(0)
    if fault == "nesting":
        nested = []
        for _ in range(1_000_000):
            nested = [nested]
        json.dumps(nested)
    return parse_normally(request)
'''

FAULTS = ("hang", "memory", "recursion", "nesting")


async def test_a_script_failing_in_the_middle_of_a_call_leaves_the_rest_going(
        tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)
    service.start()
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            faulty = await seed_tenant(session, service.base, "faulty")
            await call_json(session, "POST",
                            f"{faulty.api}/modules/{faulty.module['id']}/versions", faulty.key,
                            {"source": FAULTY_SCRIPT, "activate": True}, 201)
            healthy = await seed_tenant(session, service.base, "healthy")
            faulty_plans = [plan_call(n, "f", answered=n % 2 == 0) for n in range(24)]
            healthy_plans = [plan_call(n, "h", answered=n % 2 == 0) for n in range(24)]
            await known_contacts(session, faulty.api, faulty.key, faulty_plans)
            await known_contacts(session, healthy.api, healthy.key, healthy_plans)
            loads = [SequenceLoad([faulty.hook], faulty_plans, parallel=4),
                     SequenceLoad([healthy.hook], healthy_plans, parallel=4)]

            failed: list[tuple[str, int, str]] = []

            async def faults() -> None:
                # In the middle of calls of the faulty tenant: a step, with a fault, once each.
                for n, fault in enumerate(FAULTS * 2):
                    plan = faulty_plans[n]
                    step = dict(plan.steps[1 + n % (len(plan.steps) - 1)], fault=fault)
                    async with session.post(faulty.hook, data=json.dumps(step)) as response:
                        failed.append((fault, response.status, await response.text()))

            await asyncio.wait_for(asyncio.gather(
                *(load.run(session) for load in loads), faults()), 240)
            for fault, status, text in failed:
                assert status == 500, (fault, status, text)
                body = json.loads(text)
                assert body["execution_id"].startswith("exe_"), body
            assert loads[1].refused == {}, loads[1].refusal_bodies[:3]
            await check_sequences(session, faulty.api, faulty.key, faulty_plans)
            await check_sequences(session, healthy.api, healthy.key, healthy_plans)
    finally:
        service.stop()
    assert "Traceback" not in service.log(), service.log()
