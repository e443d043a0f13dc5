"""Sending on a live socket whose client may have stopped reading, and closing it.

Once about 64 KiB wait unsent, aiohttp's send waits for room in the connection, and its close
waits the same way (a close frame, then `transport.close()`, which sends what is buffered
first). A client that stops reading without closing (a frozen tab, a phone whose radio went,
a hostile client) held its socket's handler in a send for good: its place under the live
limits, its connection and its buffers were never given back, and neither its credential
ending nor the heartbeat (whose timeout only closes the transport, gracefully) ended it.

Here a send waits at most SEND_SECONDS, and no longer than the subscription stays uncut (its
credential ended: that closes its sockets at once, stalled or not) and the client's side
stays open (it left, or stopped answering pings); a close waits at most CLOSE_SECONDS. A
client that is not taking what is sent cannot take a close frame either: its connection is
dropped (`abort`), and `ClientStalled` tells the handler to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from typing import Any

from aiohttp import WSCloseCode, web

from runtime.hub import Subscription

log = logging.getLogger("runtime.live")

# A client that has not taken a message after this long has stopped reading: a socket sends
# a few small messages a minute, far below what any live connection carries in this time.
SEND_SECONDS = 30.0
# The close handshake: the close frame out, the client's back (aiohttp waits 10 s for it).
CLOSE_SECONDS = 15.0
# After an abort, for the send it interrupted to end (it fails at once, connection lost).
ABORTED_SECONDS = 1.0


class ClientStalled(Exception):
    """The client did not take what was sent; its connection was dropped."""


class LiveSender:
    """Sends on one live socket (`subscription` and `reader`, the task reading the client,
    once there are any) and closes it, never waiting on its client without a bound."""

    def __init__(self, request: web.Request, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.transport = request.transport
        self.subscription: Subscription | None = None
        self.reader: asyncio.Future[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send `message`; ClientStalled when the client did not take it in time, or stopped
        mattering meanwhile (see the module doc)."""
        sending = asyncio.ensure_future(self.socket.send_json(message))
        try:
            why = await self._outcome(sending, SEND_SECONDS)
        except BaseException:
            _abandon(sending)
            raise
        if why is None:
            sending.result()  # a connection reset, as aiohttp raises it
            return
        await self._drop(sending, why)
        raise ClientStalled(why)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> None:
        """Close with `code` and `message`; a client that does not take the close frame, or
        answer it, within CLOSE_SECONDS has its connection dropped."""
        closing = asyncio.ensure_future(self.socket.close(code=code, message=message))
        try:
            done, _ = await asyncio.wait({closing}, timeout=CLOSE_SECONDS)
        except BaseException:
            _abandon(closing)
            raise
        if closing not in done:
            await self._drop(closing, f"it did not take the close frame in {CLOSE_SECONDS:g} s")
            return
        with contextlib.suppress(Exception):
            closing.result()
        transport = self.transport
        if transport is not None and (
                transport.get_write_buffer_size()
                or self.socket.close_code == WSCloseCode.ABNORMAL_CLOSURE):
            # Closed without the client's part of it (it did not answer a ping or the close
            # frame), or with data it never took still buffered: `transport.close()` would
            # hand what is left to the kernel, which keeps the connection while the client
            # takes nothing.
            reset_on_close(transport)
            transport.abort()

    async def _outcome(self, sending: asyncio.Future[None], seconds: float) -> str | None:
        """None once `sending` is done; else why the send stopped mattering."""
        watched: set[asyncio.Future[Any]] = {sending}
        cut: asyncio.Future[Any] | None = None
        if self.subscription is not None:
            cut = asyncio.ensure_future(self.subscription.cut.wait())
            watched.add(cut)
        if self.reader is not None:
            watched.add(self.reader)
        try:
            done, _ = await asyncio.wait(watched, timeout=seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            if cut is not None:
                cut.cancel()
        if sending in done:
            return None
        if cut is not None and cut in done:
            return "its socket had to end in the middle of a send"
        if self.reader is not None and self.reader in done:
            return "it left, or stopped answering pings, in the middle of a send"
        return f"it took nothing sent for {seconds:g} s"

    async def _drop(self, pending: asyncio.Future[Any], why: str) -> None:
        transport = self.transport
        if transport is not None:
            log.info("live socket: dropped the connection from %s: %s",
                     transport.get_extra_info("peername"), why)
            reset_on_close(transport)
            transport.abort()
        # Retrieved however this ends, the wait below cancelled too.
        pending.add_done_callback(_retrieved)
        # The connection lost, the send fails at once; cancelled should it not.
        done, _ = await asyncio.wait({pending}, timeout=ABORTED_SECONDS)
        if pending not in done:
            pending.cancel()


class LiveSocketResponse(web.WebSocketResponse):
    """aiohttp's WebSocket, whose heartbeat resets the connection of a client that answers no
    ping instead of closing it gracefully.

    aiohttp's pong timeout calls `transport.close()`: what the transport still buffers goes
    to the kernel, then a FIN behind it, which a client that takes nothing never reads. The
    connection stayed, holding megabytes, as an orphan of the kernel's: `LiveSender` resets it
    once its handler sees the end, but by then the transport had often flushed and closed
    the socket already (half the runs of tests/e2e/test_live_stalled_reader.py on a loaded
    machine; SO_LINGER set on a closed socket does nothing). Set here, the close resets it
    whenever it happens. (`_pong_not_received` is aiohttp's, 3.x: the test above fails
    should it ever stop being called.)"""

    def _pong_not_received(self) -> None:
        request = self._req
        if request is not None and request.transport is not None:
            reset_on_close(request.transport)
        super()._pong_not_received()


def reset_on_close(transport: asyncio.BaseTransport) -> None:
    """Make closing the connection reset it (SO_LINGER 0): the kernel drops what it still
    holds for the client (up to net.ipv4.tcp_wmem's most, megabytes) at once and the client
    learns of it, rather than the kernel keeping it, as an orphan, behind data the client is
    not reading."""
    sock = transport.get_extra_info("socket")
    # A connection the client already closed needs no reset, and has no socket left to set:
    # uvloop's stand-in for a closed transport's socket has the descriptor -1, on which
    # setsockopt raises ValueError, not OSError (every client gone without a close frame made
    # its handler end in an unhandled error, a traceback in the service's log).
    if sock is None or sock.fileno() < 0:
        return
    with contextlib.suppress(OSError, ValueError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _abandon(task: asyncio.Future[Any]) -> None:
    """A send or close whose handler was cancelled while waiting for it (at shutdown, or when
    the client leaves under aiohttp's handler_cancellation, as its test server runs):
    cancelled, and its error retrieved should it have failed first. Left alone, it failed
    (connection reset) with nobody to see it: "Task exception was never retrieved" in the
    log for every such socket."""
    task.add_done_callback(_retrieved)
    task.cancel()


def _retrieved(future: asyncio.Future[Any]) -> None:
    """The dropped connection's error is expected: retrieved, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()
