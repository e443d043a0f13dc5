"""An idle node's store health: with no writes to tell it, `refresh` asks the database (at most
every probe_after_seconds, one probe for concurrent checks, none while writes tell), turns
unavailable when the database does not answer, and back when it does; SQLite's probe also
looks at the filesystem under the database (read-only, full)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runtime.store import health as health_module
from runtime.store.errors import StoreClosed
from runtime.store.health import StorageHealth
from runtime.store.sqlite import SqliteStore


class Database:
    """A probe target: answers, refuses like a driver, or hangs; counts the round trips."""

    def __init__(self) -> None:
        self.mode = "up"
        self.asked = 0

    async def probe(self) -> None:
        self.asked += 1
        await asyncio.sleep(0.01)
        if self.mode == "down":
            error = sqlite3.OperationalError("disk I/O error")
            error.sqlite_errorcode = sqlite3.SQLITE_IOERR
            raise error
        if self.mode == "hung":
            await asyncio.sleep(60)
        if self.mode == "closed":
            raise StoreClosed("the store is closed")


class Clock:
    """The health's monotonic clock, moved by the test: "nothing told it for this long" is
    what the test says, not what a loaded machine makes of a pause (a stall of 50 ms between
    two checks made the second one probe too)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(health_module, "time", clock)
    return clock


async def test_an_idle_node_notices_the_database_gone_and_back(
        caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    health = StorageHealth(settle_seconds=0, probe_after_seconds=0.05, probe_timeout_seconds=5)
    database = Database()
    await health.refresh(database.probe)
    assert database.asked == 0  # just started: nothing to ask yet
    clock.advance(0.06)
    with caplog.at_level(logging.WARNING, logger="runtime.storage"):
        await health.refresh(database.probe)
        assert database.asked == 1 and health.available

        database.mode = "down"
        clock.advance(0.06)
        await health.refresh(database.probe)
        assert health.state == "unavailable" and health.cause == "disk I/O error"
        assert health.refused_writes == 0  # a probe is no write
        await health.refresh(database.probe)  # asked again only after probe_after_seconds
        assert database.asked == 2

        database.mode = "up"
        clock.advance(0.06)
        await health.refresh(database.probe)
        assert health.available and health.cause is None
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("storage unavailable: disk I/O error")]) == 1
    assert len([m for m in messages if m.startswith("storage recovered")]) == 1


async def test_a_database_that_does_not_answer_is_unavailable() -> None:
    health = StorageHealth(settle_seconds=0, probe_after_seconds=0, probe_timeout_seconds=0.1)
    database = Database()
    database.mode = "hung"
    started = asyncio.get_running_loop().time()
    await health.refresh(database.probe)
    assert asyncio.get_running_loop().time() - started < 5
    assert health.state == "unavailable"
    assert health.cause == "the database did not answer within 0.1 s"


async def test_concurrent_checks_share_one_probe_and_writes_spare_it(clock: Clock) -> None:
    health = StorageHealth(settle_seconds=0, probe_after_seconds=0.2)
    database = Database()
    clock.advance(0.21)
    await asyncio.gather(*(health.refresh(database.probe) for _ in range(20)))
    assert database.asked == 1
    for _ in range(5):  # a busy node: its writes tell the state, nothing is probed
        clock.advance(0.05)
        await health.watch(asyncio.sleep(0))
        await health.refresh(database.probe)
    assert database.asked == 1


async def test_a_closing_store_or_a_broken_probe_leaves_the_state_alone(
        caplog: pytest.LogCaptureFixture) -> None:
    health = StorageHealth(probe_after_seconds=0)
    database = Database()
    database.mode = "closed"
    await health.refresh(database.probe)
    assert health.available

    async def buggy() -> None:
        raise KeyError("a bug in the probe")

    await health.refresh(buggy)
    assert health.available and "the storage probe failed" in caplog.text


async def test_sqlite_probe_sees_a_read_only_or_full_filesystem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await SqliteStore.open(tmp_path / "probe.db")
    try:
        store.health.probe_after_seconds = 0
        store.health.settle_seconds = 0
        real_statvfs = os.statvfs
        real = real_statvfs(tmp_path)
        fields = {name: getattr(real, name) for name in dir(real) if name.startswith("f_")}

        def statvfs_as(**changes: Any) -> None:
            fake = SimpleNamespace(**{**fields, **changes})
            monkeypatch.setattr(os, "statvfs", lambda path: fake)

        await store.health.refresh(store.probe)
        assert store.health.available
        statvfs_as(f_flag=real.f_flag | os.ST_RDONLY)
        await store.health.refresh(store.probe)
        assert store.health.cause == "the database is read-only"
        statvfs_as(f_bfree=0, f_bavail=0)
        await store.health.refresh(store.probe)
        assert store.health.cause == "disk full"
        monkeypatch.setattr(os, "statvfs", real_statvfs)
        await store.health.refresh(store.probe)
        assert store.health.available
    finally:
        await store.close()
