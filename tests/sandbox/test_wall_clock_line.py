"""A call that computes until its wall-clock limit ends at the script's line, in the same worker.

The pool signals the worker shortly before the deadline and the worker stops the script from
inside, as the CPU timer does (sandbox/worker.py `on_wall_warning`); the pool's kill at the
deadline stays the backstop. Before this, such a call ended as "wall-clock limit of N s
exceeded" with no line, and its worker was killed and replaced.

The CPU limit is lifted far above the wall clock, so the wall clock is what ends the loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
from typing import Any

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool

WALL_LIMITS = Limits(wall_seconds=1.0, cpu_seconds=30)

BENIGN = textwrap.dedent(
    """
    def VoipParseWebhookRequest(request):
        return {"response": {"status": 200, "headers": {}, "body": "ok"}}
    """
)

# The loop is all on line 3: where the script is when its wall clock runs out.
LOOPS = textwrap.dedent(
    """\
    def VoipParseWebhookRequest(request):
        n = 0
        while True: n += 1
    """
)

NESTED = textwrap.dedent(
    """\
    def spin(data):
        total = 0
        while True: total = (total + len(data)) % 1000
    def VoipParseWebhookRequest(request):
        return spin("abc")
    """
)

WAITS_ON_STORAGE = textwrap.dedent(
    """\
    def VoipParseWebhookRequest(request):
        storage.get("k")
        return {}
    """
)


def parse_call(source: str) -> Call:
    return Call(source=source, function="VoipParseWebhookRequest", request=RequestData())


@pytest.fixture
async def pool() -> Any:
    async with SandboxPool(size=2, limits=WALL_LIMITS) as pool:
        yield pool


async def test_a_loop_past_its_wall_clock_ends_at_its_line_and_keeps_its_worker(
        pool: SandboxPool) -> None:
    outcome = await pool.run(parse_call(LOOPS), group="A")
    assert outcome.limit == "wall", outcome
    assert outcome.error is not None
    assert outcome.error.type == "LimitExceeded"
    assert outcome.error.line == 3, outcome.error
    assert outcome.error.message == "line 3: wall-clock limit of 1 s exceeded"
    # The worker unwound the script and answered: nothing was killed, and it serves the next
    # call itself.
    after = await pool.run(parse_call(BENIGN), group="A")
    assert after.ok, after
    assert pool.stats.deadline_kills == 0
    assert pool.stats.workers_replaced == 0
    [worker] = [w for w in pool.workers() if w.group == "A"]
    assert worker.calls == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="the pool sets scheduling policies only as root")
async def test_a_warned_call_leaves_the_idle_priority_to_stop_in_time(pool: SandboxPool) -> None:
    # The loop makes its group heavy (SCHED_IDLE, CPU time nobody else wants): on a busy
    # machine such a worker may not run again before the deadline, and the warning would be
    # for nothing. Warned, it gets the normal policy back to stop; its next call the group's.
    outcome = await pool.run(parse_call(LOOPS), group="A")
    assert outcome.limit == "wall" and outcome.error is not None and outcome.error.line == 3
    [worker] = [w for w in pool.workers() if w.group == "A"]
    assert os.sched_getscheduler(worker.pid) == os.SCHED_OTHER
    assert (await pool.run(parse_call(LOOPS), group="A")).limit == "wall"
    assert os.sched_getscheduler(worker.pid) == os.SCHED_OTHER
    await pool.run(parse_call(BENIGN), group="A")
    assert os.sched_getscheduler(worker.pid) == os.SCHED_IDLE  # still a heavy group


async def test_the_line_is_the_innermost_script_frame_with_its_traceback(
        pool: SandboxPool) -> None:
    outcome = await pool.run(parse_call(NESTED), group="A")
    assert outcome.limit == "wall", outcome
    assert outcome.error is not None and outcome.error.line == 3, outcome.error
    assert outcome.error.traceback == ("line 5, in VoipParseWebhookRequest", "line 3, in spin")


async def test_a_loop_that_swallows_the_limit_still_ends_as_the_wall_clock(
        pool: SandboxPool) -> None:
    # A finally that loops on: the worker's refiring timer raises into it again, and the
    # call still ends as the wall-clock limit (never as a success, never hanging).
    source = textwrap.dedent(
        """\
        def VoipParseWebhookRequest(request):
            try:
                while True:
                    pass
            finally:
                return {"response": {"status": 200, "headers": {}, "body": "swallowed"}}
        """
    )
    outcome = await pool.run(parse_call(source), group="A")
    assert not outcome.ok
    assert outcome.limit == "wall", outcome
    assert (await pool.run(parse_call(BENIGN), group="A")).ok


async def test_a_call_waiting_on_the_host_still_ends_at_the_deadline_without_a_line(
        pool: SandboxPool) -> None:
    async def never_answers(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"ok": True}

    outcome = await pool.run(parse_call(WAITS_ON_STORAGE), group="A", handler=never_answers)
    assert outcome.limit == "wall", outcome
    assert outcome.error is not None
    assert outcome.error.message == "wall-clock limit of 1 s exceeded"
    assert outcome.error.line is None
    # As before: the worker held the call past the deadline and was killed.
    assert pool.stats.deadline_kills == 1
    assert (await pool.run(parse_call(BENIGN), group="A")).ok


async def test_a_heavy_loop_paused_for_light_calls_still_ends_at_its_line(
        pool: SandboxPool) -> None:
    # Group H's loop is found slow and paused while group L's calls keep coming (pauses do
    # not count against its wall clock); once they stop, it runs on to its limit.
    heavy = asyncio.ensure_future(pool.run(parse_call(LOOPS), group="H"))
    paused_seen = False

    async def light_traffic() -> None:
        nonlocal paused_seen
        while not heavy.done():
            assert (await pool.run(parse_call(BENIGN), group="L")).ok
            paused_seen = paused_seen or any(
                pool._gate.paused(worker) for worker in pool._by_group.get("H", ()))

    light = asyncio.ensure_future(light_traffic())
    try:
        await asyncio.sleep(0.5)
    finally:
        light.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await light
    assert paused_seen  # the scenario did pause the loop
    outcome = await asyncio.wait_for(heavy, 60)
    assert outcome.limit == "wall", outcome
    assert outcome.error is not None and outcome.error.line == 3, outcome.error
    assert pool.stats.deadline_kills == 0
