"""Log lines that any client can cause are throttled: a few a period, then one line counting
the rest (runtime/logs.Throttled; the HTTP edge's slow and malformed requests use it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.logs import Throttled


def test_a_burst_then_a_count_of_the_rest_then_a_burst_again(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    lines = Throttled(logging.getLogger("test.throttle"), "slow connections closed",
                      burst=3, period=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for n in range(10):
            lines.log(logging.INFO, "closed %d", n)
        assert [r.getMessage() for r in caplog.records] == ["closed 0", "closed 1", "closed 2"]
        now[0] += 61
        lines.log(logging.WARNING, "closed %d", 10)
    assert [(r.levelno, r.getMessage()) for r in caplog.records[3:]] == [
        (logging.INFO, "7 more slow connections closed in the last 60 s, not logged one by one"),
        (logging.WARNING, "closed 10")]


async def test_the_count_is_said_when_the_period_ends_without_another_line(
        caplog: pytest.LogCaptureFixture) -> None:
    lines = Throttled(logging.getLogger("test.throttle"), "malformed requests",
                      burst=1, period=0.05)
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for _ in range(4):
            lines.log(logging.WARNING, "bad request")
        for _ in range(1000):  # the period's timer, on this loop
            if len(caplog.records) >= 2:
                break
            await asyncio.sleep(0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "bad request", "3 more malformed requests in the last 0.05 s, not logged one by one"]
    assert caplog.records[1].levelno == logging.WARNING
