"""A live socket's handler cancelled in the middle of a send or a close (at shutdown, or when
the client leaves under aiohttp's handler_cancellation, as its test server runs): the send it
was waiting for then fails, its connection gone, and that error must not reach asyncio's
"Task exception was never retrieved" (one in the service's log for every such socket)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp import web

from runtime.live_send import LiveSender


class HeldSocket:
    """A WebSocket whose send and close wait for room that comes only once the connection is
    gone: they fail then, as aiohttp's do on a reset connection."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.gone = asyncio.Event()
        self.closed = False
        self.close_code = None

    async def _held(self) -> None:
        self.started.set()
        await self.gone.wait()
        raise ConnectionResetError("Cannot write to closing transport")

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._held()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        await self._held()
        return True


@contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What the running loop reports to its exception handler meanwhile."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)


async def cancelled_while_held(held: HeldSocket,
                               step: Callable[[], Awaitable[None]]) -> None:
    """Run `step` until it waits on the socket, cancel it, then let the connection go and the
    abandoned send or close end (however it ends)."""
    handler = asyncio.ensure_future(step())
    await asyncio.wait_for(held.started.wait(), timeout=30)
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    waiting = [task for task in asyncio.all_tasks()
               if getattr(task.get_coro(), "__qualname__", "").startswith("HeldSocket.")]
    held.gone.set()
    if waiting:  # asyncio.wait retrieves nothing: a failure stays unretrieved
        await asyncio.wait(waiting, timeout=30)
    del waiting
    gc.collect()  # a finished task reports what was never retrieved when it is destroyed


def never_retrieved(reported: list[dict[str, Any]]) -> list[str]:
    return [str(context.get("message")) for context in reported
            if "never retrieved" in str(context.get("message"))]


@pytest.mark.parametrize("step", ["send", "close"])
async def test_a_handler_cancelled_in_the_middle_of_a_send_leaves_no_unretrieved_error(
        step: str) -> None:
    held = HeldSocket()
    request = cast(web.Request, SimpleNamespace(transport=None))
    sender = LiveSender(request, cast(web.WebSocketResponse, held))

    async def run() -> None:
        if step == "send":
            await sender.send({"type": "caught_up"})
        else:
            await sender.close()

    with loop_errors() as reported:
        await cancelled_while_held(held, run)
    assert never_retrieved(reported) == []
