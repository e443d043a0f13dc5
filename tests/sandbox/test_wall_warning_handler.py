"""The worker's side of the wall-clock warning (sandbox/worker.py `on_wall_warning`), driven in
this process: which warnings stop the call, and where the limit is raised.

The pool sends the warning when the call has run most of its wall clock; the handler must not
stop a call for a warning that was meant for the one before it, nor a call waiting on the host
(whose outcome stays what it was before the warning existed).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from sandbox import stopping
from sandbox.compiler import SCRIPT_FILENAME
from sandbox.protocol import LineChannel
from sandbox.stopping import LimitExceeded
from sandbox.worker import WALL_REFIRE_SECONDS, WorkerState, on_wall_warning

WALL = 2.0


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """setitimer calls, recorded instead of made (a real ITIMER_REAL would SIGALRM pytest)."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(signal, "setitimer", lambda *args: calls.append(args) or (0.0, 0.0))
    yield calls
    stopping.resume()


@pytest.fixture
def state() -> Iterator[WorkerState]:
    read_fd, write_fd = os.pipe()
    state = WorkerState(LineChannel(read_fd=read_fd, write_fd=write_fd))
    state.current_id = 7
    state.current_wall_seconds = WALL
    state.current_started = time.perf_counter() - WALL  # the call ran all its wall clock
    yield state
    os.close(read_fd)
    os.close(write_fd)


def script_frame() -> FrameType:
    namespace: dict[str, Any] = {"sys": sys}
    exec(compile("frame = sys._getframe()", SCRIPT_FILENAME, "exec"), namespace)
    frame: FrameType = namespace["frame"]
    return frame


def test_a_warning_in_the_script_raises_the_wall_limit_and_keeps_refiring(
        state: WorkerState, timers: list[tuple[Any, ...]]) -> None:
    with pytest.raises(LimitExceeded) as raised:
        on_wall_warning(state, script_frame())
    assert raised.value.limit == "wall"
    assert str(raised.value) == "wall-clock limit of 2 s exceeded"
    assert timers == [(signal.ITIMER_REAL, WALL_REFIRE_SECONDS, WALL_REFIRE_SECONDS)]
    assert state.wall_refiring
    # The refire finds the call stopped: it raises again and arms nothing more.
    with pytest.raises(LimitExceeded):
        on_wall_warning(state, script_frame())
    assert len(timers) == 1


def test_a_warning_in_host_code_stops_the_call_without_raising_there(
        state: WorkerState, timers: list[tuple[Any, ...]]) -> None:
    on_wall_warning(state, sys._getframe())
    assert stopping.STOPPED is not None and stopping.STOPPED.limit == "wall"
    assert state.wall_refiring  # the next firing reaches the script


def test_a_call_waiting_on_the_host_ignores_the_warning(
        state: WorkerState, timers: list[tuple[Any, ...]]) -> None:
    state.in_host_code = True
    on_wall_warning(state, script_frame())
    assert stopping.STOPPED is None and timers == []


def test_a_warning_for_the_call_before_is_ignored_by_the_one_just_started(
        state: WorkerState, timers: list[tuple[Any, ...]]) -> None:
    state.current_started = time.perf_counter()
    on_wall_warning(state, script_frame())
    assert stopping.STOPPED is None and timers == []


def test_a_warning_between_calls_is_ignored(
        state: WorkerState, timers: list[tuple[Any, ...]]) -> None:
    state.current_id = None
    on_wall_warning(state, script_frame())
    assert stopping.STOPPED is None and timers == []
