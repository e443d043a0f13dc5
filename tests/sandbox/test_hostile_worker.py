"""The parent trusts nothing a worker sends: a compromised worker (simulated by a fake worker,
forked and hardened by the template exactly as the real one; tests/sandbox/fake_workers.py)
that speaks garbage, lies about ids or floods the pipe is killed, and the call fails cleanly
instead of hanging or crashing the pool."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool
from sandbox import pool as pool_module
from sandbox.forkserver import SpawnError


@pytest.mark.parametrize(
    ("mode", "error_type"),
    [
        ("garbage", "WorkerProtocolError"),
        ("wrong_id", "WorkerProtocolError"),
        ("bad_outcome", "WorkerProtocolError"),
        ("bad_retire", "WorkerProtocolError"),
        ("bad_cpu", "WorkerProtocolError"),
        ("huge_duration", "WorkerProtocolError"),
        ("negative_duration", "WorkerProtocolError"),
        ("unhashable_limit", "WorkerProtocolError"),
        ("pickle", "WorkerProtocolError"),
        ("flood", "WorkerProtocolError"),
        ("floods_requests", "WorkerProtocolError"),
        # Nested past what the pool's JSON parser can follow, or past anything a script can
        # send: refused as a violation, not an error escaping the pool's reader (the call then
        # hung until its wall clock).
        ("deep_outcome", "WorkerProtocolError"),
        ("deep_request", "WorkerProtocolError"),
        ("nested_request", "WorkerProtocolError"),
        ("not_a_number", "WorkerProtocolError"),
        # A lone surrogate spelled as a JSON escape: text no host code can encode to store
        # or send (the execution log's write raised UnicodeEncodeError; a storage.set with
        # one failed in the capability handler, a traceback in the log for each request).
        ("lone_surrogate_outcome", "WorkerProtocolError"),
        ("lone_surrogate_request", "WorkerProtocolError"),
        ("exit", "WorkerCrashed"),
        ("closes_its_pipe", "WorkerCrashed"),
    ],
)
async def test_a_misbehaving_worker_fails_the_call_cleanly(mode: str, error_type: str) -> None:
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=5),
                       worker_entry=f"tests.sandbox.fake_workers:{mode}")
    await pool.start()
    try:
        spares = [w.pid for w in pool.workers()]
        outcome = await pool.run(Call(source="def VoipParseWebhookRequest(r):\n    return {}\n",
                                      function="VoipParseWebhookRequest",
                                      request=RequestData()))
        assert not outcome.ok
        assert outcome.error is not None and outcome.error.type == error_type
        assert outcome.result is None
        # The worker is gone for good (its process too), and a fresh one replaces it.
        assert pool.stats.workers_replaced == 1
        for _ in range(500):
            if any(process_is_gone(pid) for pid in spares) and pool.health().healthy:
                break
            await asyncio.sleep(0.01)
        assert sum(1 for pid in spares if process_is_gone(pid)) == 1
        # Degraded only while the killed worker was going away.
        assert pool.health().healthy, pool.health()
    finally:
        await pool.close()


async def test_a_worker_saying_a_call_that_came_with_its_source_lacks_it_fails_the_call(
        ) -> None:
    """"source_missing" sends a call back to the queue, to a new worker, with its source: it is
    for a call sent by its script's hash that the worker no longer holds. Said of a call that
    carried its source, it was taken at its word too, and the same script breaching each new
    worker sent the call round forever: a new worker each time, the wall clock restarted with
    each, and no outcome ever."""
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=5),
                       worker_entry="tests.sandbox.fake_workers:says_source_missing")
    await pool.start()
    try:
        outcome = await asyncio.wait_for(pool.run(Call(
            source="def VoipParseWebhookRequest(r):\n    return {}\n",
            function="VoipParseWebhookRequest", request=RequestData())), 20)
        assert not outcome.ok
        assert outcome.error is not None and outcome.error.type == "WorkerProtocolError"
        assert "source_missing" in outcome.error.message
        assert pool.stats.workers_replaced == 1
    finally:
        await pool.close()


async def test_a_call_sent_by_hash_to_a_worker_that_lost_the_text_runs_with_it() -> None:
    """What "source_missing" is for: the pool sent a call by its script's hash, the worker no
    longer held the text; the call runs on a new worker, sent with its text."""
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=5),
                       worker_entry="tests.sandbox.fake_workers:forgets_sources")
    await pool.start()
    try:
        call = Call(source="def VoipParseWebhookRequest(r):\n    return {'a': 1}\n",
                    function="VoipParseWebhookRequest", request=RequestData())
        first = await asyncio.wait_for(pool.run(call), 20)  # sent with its text
        second = await asyncio.wait_for(pool.run(call), 20)  # by hash: missing, sent again
        assert first.ok and second.ok, (first, second)
        assert second.result == {"a": 1}
        assert pool.stats.workers_replaced == 1
    finally:
        await pool.close()


async def test_a_worker_that_says_it_retires_but_stays_is_killed() -> None:
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=5),
                       worker_entry="tests.sandbox.fake_workers:retires_and_stays")
    await pool.start()
    try:
        spares = [w.pid for w in pool.workers()]
        outcome = await pool.run(Call(source="def VoipParseWebhookRequest(r):\n    return {}\n",
                                      function="VoipParseWebhookRequest",
                                      request=RequestData()))
        assert outcome.ok and outcome.retire
        for _ in range(1000):
            if any(process_is_gone(pid) for pid in spares):
                break
            await asyncio.sleep(0.01)
        # Killed by the pool after its grace, not left holding a place in the pool.
        assert sum(1 for pid in spares if process_is_gone(pid)) == 1
        assert pool.stats.workers_replaced == 1
    finally:
        await pool.close()


def process_is_gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by the template counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between the open and the read
        return True


async def test_a_worker_that_never_says_ready_fails_start_on_its_deadline() -> None:
    pool = SandboxPool(size=1, spare_workers=1, worker_ready_seconds=1.0,
                       worker_entry="tests.sandbox.fake_workers:silent")
    try:
        with pytest.raises(SpawnError, match="did not start in 1 s"):
            await asyncio.wait_for(pool.start(), 30)
        health = pool.health()
        assert not health.healthy
        assert any("cannot be started" in problem for problem in health.problems), health
        for _ in range(1000):  # the replacement it keeps trying
            silent = [w.pid for w in pool.workers()]
            if silent:
                break
            await asyncio.sleep(0.01)
        assert silent
    finally:
        await asyncio.wait_for(pool.close(), 30)
    assert all(process_is_gone(pid) for pid in silent)


async def test_a_result_nested_deeper_than_its_limit_is_refused_from_outside() -> None:
    # The worker refuses a result deeper than `result_depth`; a breached one is checked again
    # by the pool, as it checks the result's size.
    async with SandboxPool(size=1, limits=Limits(wall_seconds=5, result_depth=32),
                           worker_entry="tests.sandbox.fake_workers:deep_result") as pool:
        outcome = await pool.run(Call(source="def VoipParseWebhookRequest(r):\n    return {}\n",
                                      function="VoipParseWebhookRequest",
                                      request=RequestData()))
    assert not outcome.ok
    assert outcome.error is not None and outcome.error.type == "InvalidResult"
    assert outcome.limit == "result"
    assert outcome.result is None
    assert "nested deeper than 32 levels" in outcome.error.message


@pytest.mark.parametrize("grace", [pool_module.EXIT_STATUS_GRACE_SECONDS, 0.0])
async def test_workers_that_die_before_ready_are_reported_and_restarted_with_backoff(
        grace: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every worker exits before saying ready: the pool must say so (start fails at once, and
    # health names why) and retry with growing pauses, not fork hundreds of workers a second
    # while /healthz reports a healthy pool with no worker. With no grace for the template's
    # exit report (as on a busy host, where it comes late), the reason still gets the status.
    monkeypatch.setattr(pool_module, "EXIT_STATUS_GRACE_SECONDS", grace)
    pool = SandboxPool(size=1, spare_workers=2, worker_ready_seconds=10.0,
                       worker_entry="tests.sandbox.fake_workers:dies_at_start")
    try:
        with pytest.raises(SpawnError, match="exited before it was ready"):
            await asyncio.wait_for(pool.start(), 8)
        started = pool.stats.workers_started
        await asyncio.sleep(1.0)
        health = pool.health()
        assert not health.healthy
        assert any("exited before it was ready (exit status 7)" in problem
                   for problem in health.problems), health
        assert pool.stats.workers_started - started <= 10
    finally:
        await asyncio.wait_for(pool.close(), 30)
