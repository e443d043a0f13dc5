"""A call blocked in a capability (a fetch() to a slow provider, say) and the group's next call.

Found while explaining why tests/e2e/test_shutdown.py failed on a loaded machine: a call that
has run for SLOW_CALL_SECONDS (50 ms) marks its group heavy (`SandboxPool._on_slow`), and a
heavy group may keep only `heavy_group_workers(size)` workers busy (one, for a pool of four),
even when it is the only group and the other workers sit idle. A call that merely *waits* on
the host (no CPU at all) counts as heavy all the same, so the group's next call queues behind
it until it returns or hits its wall clock: head-of-line blocking of a whole tenant behind one
slow fetch. In the e2e test the second held webhook arrived more than 50 ms after the first
(load), waited for a worker while the first waited for the test, and the first died at its
30 s wall clock.

Fixed: time a call spends waiting on the host no longer counts towards "slow" or its group's
average (`PendingCall.own_seconds`), and no call is queued in the pipe of a worker whose call
waits on the host.
"""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

from sandbox import Call, Limits, RequestData, SandboxPool

LIMITS = Limits(wall_seconds=20, cpu_seconds=5)

HOLDING = textwrap.dedent(
    """
    def VoipParseWebhookRequest(request):
        storage.get(request.json()["name"])
        return {"response": {"status": 200, "headers": {}, "body": "done"}}
    """
)


def holding_call(name: str) -> Call:
    return Call(source=HOLDING, function="VoipParseWebhookRequest",
                request=RequestData(method="POST", body=f'{{"name": "{name}"}}'))


async def test_a_call_waiting_on_the_host_does_not_hold_up_its_group() -> None:
    release = asyncio.Event()
    arrived: dict[str, asyncio.Event] = {"first": asyncio.Event(), "second": asyncio.Event()}

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        arrived[request["key"]].set()
        await release.wait()
        return {"ok": True, "found": False, "value": None}

    async with SandboxPool(size=4, limits=LIMITS) as pool:
        first = asyncio.ensure_future(pool.run(holding_call("first"), handler=host,
                                               group="tenant"))
        second: asyncio.Future[Any] | None = None
        try:
            await asyncio.wait_for(arrived["first"].wait(), 10)
            # Held on the host longer than a "slow" call, as a fetch to a slow API is.
            await asyncio.sleep(0.3)
            second = asyncio.ensure_future(pool.run(holding_call("second"), handler=host,
                                                    group="tenant"))
            # Idle workers abound: the second call reaches the host while the first waits.
            await asyncio.wait_for(arrived["second"].wait(), 5)
        finally:
            release.set()
            outcomes = await asyncio.gather(first, *([second] if second else []))
        assert all(outcome.ok for outcome in outcomes), outcomes


QUICK = textwrap.dedent(
    """
    def VoipParseWebhookRequest(request):
        return {"response": {"status": 200, "headers": {}, "body": "quick"}}
    """
)


async def test_calls_waiting_on_the_host_leave_room_for_other_tenants() -> None:
    """Tenants whose scripts wait on slow fetch targets keep workers busy without using a
    core. Those waits counted as calls running at once: with `size` such calls waiting, a
    tenant whose calls were not yet known to be quick found no room, even on a worker of its
    own, until one of them returned; with tenants that keep waiting (a provider that hangs,
    each retry waiting again) its webhook failed after the queue's wait (500,
    SandboxUnavailable) however free the cores were. Waiting on the host is no call running."""
    release = asyncio.Event()
    held: set[str] = set()

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        held.add(request["key"])
        await release.wait()
        return {"ok": True, "found": False, "value": None}

    quick = Call(source=QUICK, function="VoipParseWebhookRequest",
                 request=RequestData(method="POST", body="{}"))
    slow_tenants = [f"slow-{n}" for n in range(4)]  # as many as the calls running at once
    async with SandboxPool(size=4, limits=LIMITS, queue_seconds=3) as pool:
        holding = []
        try:
            for tenant in slow_tenants:
                holding.append(asyncio.ensure_future(
                    pool.run(holding_call(tenant), handler=host, group=tenant)))
                for _ in range(500):
                    if tenant in held:
                        break
                    await asyncio.sleep(0.01)
                assert tenant in held, f"{tenant}'s call did not reach the host"
            # A newcomer's first calls, while every slow call still waits on the host.
            for _ in range(3):
                outcome = await pool.run(quick, group="newcomer")
                assert outcome.ok, outcome.error
                assert outcome.result == {"response": {"status": 200, "headers": {},
                                                       "body": "quick"}}
        finally:
            release.set()
            outcomes = await asyncio.gather(*holding)
        assert all(outcome.ok for outcome in outcomes), outcomes
