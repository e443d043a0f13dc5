"""Deadlines for slow clients: a request's headers, and then its body, each within a set time.

aiohttp has no such deadline: a client that sends a header line every few seconds, or declares
`Content-Length: 100000` and sends a byte every ten, holds its connection (and the handler
reading its body) for as long as it likes, and a few hundred of them hold the service.

Each accepted connection is wrapped in a `WatchedConnection`, an asyncio protocol that passes
everything through to aiohttp's own and only watches the pace:

- the first byte of a request starts the **header clock**; the request reaching the app
  (`request_began`, from the outermost middleware,
  `runtime/edge.edge`) stops it. Past `header_timeout` the connection
  is closed without an answer: there is no request yet to answer.
- the request reaching the app starts the **body clock**. The body reader
  (`runtime/bodies.py`) answers 408 at the deadline; this clock, a moment later, closes the
  connection if the body has still not arrived, wherever no handler reads it.
- the transport asking its protocol to pause writing (the socket's buffers and the
  transport's own are full: the client is not taking what it was sent) starts the **stall
  clock**; resuming stops it. Past `stall_seconds` the connection is dropped. A client that
  sends requests for large answers (an API reference, a webhook's reply, many pipelined) and
  never reads them otherwise held the connection, the handler waiting to write and megabytes
  of buffers for ever; the connection budget never sheds one that is serving a request.

A connection with no request in progress and no byte sent is aiohttp's keep-alive timeout's.
`listen()` is how the service opens its port; the app itself works under any aiohttp runner
(the test client's included), only without these clocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from runtime.connection_budget import ConnectionBudget
from runtime.logs import Throttled

log = logging.getLogger("runtime.http.deadlines")

# When the request reached the app, on the loop's clock (a typed key where aiohttp has them).
REQUEST_STARTED: Any = (web.RequestKey("runtime_request_started", float)
                        if hasattr(web, "RequestKey") else "runtime_request_started")
# The body reader answers 408 at the deadline; the connection is closed this much later if
# nothing answered (a handler that does not read the body, or one that was busy elsewhere).
BODY_GRACE_SECONDS = 1.0
TIMER_TOLERANCE_SECONDS = 0.001


def _cut_lines() -> Throttled:
    return Throttled(log, "slow connections closed")


# What `Deadlines.stall_seconds` is unless told (`http.response_stall_seconds`).
STALL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Deadlines:
    header_seconds: float
    body_seconds: float
    # A response the client takes none of for this long, while more waits to be sent.
    stall_seconds: float = STALL_SECONDS
    # A line per connection cut would come as fast as a client opens connections: a few a
    # minute, then a count.
    cut_lines: Throttled = field(default_factory=_cut_lines, compare=False, repr=False)


def request_deadline(request: web.BaseRequest, body_seconds: float) -> float:
    """When the body must have arrived, on the loop's clock: `body_seconds` after the request
    reached the app (or now, for a request that did not come through `request_began`)."""
    started = request.get(REQUEST_STARTED)
    if not isinstance(started, float):
        started = asyncio.get_running_loop().time()
    return started + body_seconds


class WatchedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the header and body clocks around it.

    The clocks are deadlines (loop times) under one timer per connection. A request moves them
    twice (the header clock starts, then stops as the body's starts) and stops the last: with
    a timer per clock that was two timers made and two cancelled for every request. Here a
    clock that stops only forgets its deadline, and the timer, when it fires, acts on a
    deadline that has passed and re-arms itself for the next one still set. It is re-made only
    when a new deadline comes before the one it waits for."""

    def __init__(self, inner: asyncio.Protocol, deadlines: Deadlines,
                 budget: ConnectionBudget | None = None) -> None:
        self._inner = inner
        self._deadlines = deadlines
        self._budget = budget
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._in_request = False
        self._body_of: web.BaseRequest | None = None
        self._header_deadline: float | None = None
        self._body_deadline: float | None = None
        self._stall_deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # --- asyncio.Protocol: everything goes to aiohttp's protocol ---------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._inner.connection_made(transport)
        if self._budget is not None and not self._budget.admit(self):
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)
        # Bytes outside a request start the header clock, unless they are the rest of the
        # last request's body (answered before it was read): that is on the body's clock.
        if (data and not self._in_request and self._header_deadline is None
                and (self._body_of is None or self._body_of.content.is_eof())):
            self._header_deadline = self._loop.time() + self._deadlines.header_seconds
            self._arm(self._header_deadline)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()
        self._stall_deadline = self._loop.time() + self._deadlines.stall_seconds
        self._arm(self._stall_deadline)

    def resume_writing(self) -> None:
        self._stall_deadline = None
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._budget is not None:
            self._budget.release(self)
        self._header_deadline = self._body_deadline = self._stall_deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._body_of = None
        self._inner.connection_lost(exc)

    # --- the request's way through the app (from `runtime/edge.edge`) ----------------------

    def request_began(self, request: web.BaseRequest) -> float:
        """Stop the header clock, start the body's; returns the loop's time now."""
        now = self._loop.time()
        self._in_request = True
        self._header_deadline = None
        self._body_of = request
        self._body_deadline = now + self._deadlines.body_seconds + BODY_GRACE_SECONDS
        self._arm(self._body_deadline)
        return now

    def request_ended(self) -> None:
        self._in_request = False
        body_of = self._body_of
        if body_of is not None and body_of.content.is_eof():
            self._body_deadline = None
        # An unread rest of the body keeps its clock: aiohttp reads and drops it before the
        # next request, and that must not take longer than the body was allowed.

    # --- the connection budget (runtime/connection_budget.py) ---------------------------------

    def in_request(self) -> bool:
        return self._in_request

    def shed(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    # --- the clocks -------------------------------------------------------------------------

    def _arm(self, deadline: float) -> None:
        """The timer fires at `deadline` or before it (then it re-arms itself)."""
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # A timer may fire a hair early (uvloop counts whole milliseconds): what is due within
        # one is due now, rather than a re-arm for less than the loop can wait.
        now = self._loop.time() + TIMER_TOLERANCE_SECONDS
        if self._header_deadline is not None and self._header_deadline <= now:
            self._header_deadline = None
            self._headers_too_slow()
        if self._body_deadline is not None and self._body_deadline <= now:
            self._body_deadline = None
            self._body_too_slow()
        if self._stall_deadline is not None and self._stall_deadline <= now:
            self._stall_deadline = None
            self._cut(f"it took none of its response for {self._deadlines.stall_seconds:g} s")
        pending = [d for d in (self._header_deadline, self._body_deadline,
                               self._stall_deadline) if d is not None]
        if pending:
            self._arm(min(pending))

    def _headers_too_slow(self) -> None:
        if not self._in_request:
            self._cut(f"its request headers took longer than {self._deadlines.header_seconds:g} s")

    def _body_too_slow(self) -> None:
        body_of = self._body_of
        if body_of is not None and not body_of.content.is_eof():
            self._cut(f"its request body took longer than {self._deadlines.body_seconds:g} s")

    def _cut(self, why: str) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._deadlines.cut_lines.log(logging.INFO, "closed the connection from %s: %s",
                                      transport.get_extra_info("peername"), why)
        if transport.get_write_buffer_size():
            # A client this slow may not be reading either: close() would wait for it to take
            # what is buffered, so the connection is dropped instead.
            transport.abort()
        else:
            transport.close()  # what was answered (a 408) is sent before the end


def watched_connection(request: web.BaseRequest) -> WatchedConnection | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, WatchedConnection) else None


def request_began(request: web.BaseRequest) -> WatchedConnection | None:
    """The request reached the app (`runtime/edge.py`'s middleware, the outermost): stop the
    header clock, start the body's. The caller tells the connection `request_ended()`."""
    # The connection's loop when there is one: `asyncio.get_running_loop()` makes a system
    # call on Python 3.11 (getpid, to notice a fork), for every request.
    connection = watched_connection(request)
    request[REQUEST_STARTED] = (asyncio.get_running_loop().time() if connection is None
                                else connection.request_began(request))
    return connection


async def listen(server: Callable[[], asyncio.Protocol], host: str, port: int,
                 deadlines: Deadlines, budget: ConnectionBudget, *, backlog: int = 128
                 ) -> asyncio.Server:
    """Open the listening socket; every connection is aiohttp's (`runner.server`), watched,
    and counted against `budget`."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: WatchedConnection(server(), deadlines, budget), host, port,
        reuse_address=True, backlog=backlog)
