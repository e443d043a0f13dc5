"""A user's live notifications over a WebSocket, for `/api/v1/live` and the console's live page
alike (each authenticates its own way and hands over a `LiveAccess`).

On connect with `?after=<notification id>` the socket first sends what the user missed, then
live messages. The subscription starts before the catch-up query, and what the catch-up sent
is skipped, so nothing falls between the two.

A user's notifications go out on the socket in the order they were stored (`InOrder`), which
is what makes "the id of the last one received" a safe place to resume from: live ones can
arrive out of that order (two webhooks answered in the other order, a relay from another node
a moment late, or never, when that node died between its commit and the relay), so each live
one first brings along those stored before it that this socket has not sent.

A socket lives no longer than its credential: a revoked token, a deleted user or a signed-out
console session closes it on every node with close code 4401 (the credential ended: sign in or
get a new token) or 4403 (the user, or its whole tenant, was deleted) and a reason naming which
(runtime/hub.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from runtime.errors import ApiError
from runtime.hub import Credential, EndReason, Subscription
from runtime.ids import NOTIFICATION
from runtime.live_send import ClientStalled, LiveSender, LiveSocketResponse
from runtime.query_params import query_record_id
from runtime.store import Store
from runtime.store.errors import StoreError, storage_unavailable
from runtime.store.models import Notification, User, to_json
from runtime.typedefs import CONFIG, HUB, LIVE_LIMITS, STORE

CATCH_UP_LIMIT = 200
# A refused socket's Retry-After: sockets close when their people leave, not on a clock.
LIVE_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True, slots=True)
class LiveAccess:
    """What a live socket stands on: the hub closes it when one of `credentials` ends, and it
    asks `check` (None: still good) every `live_recheck_seconds`, when the hub asks, and once
    just after subscribing. `expires_at` (epoch seconds) ends it at that moment."""

    user: User
    credentials: frozenset[Credential]
    check: Callable[[], Awaitable[EndReason | None]]
    expires_at: float | None = None


async def serve_live(request: web.Request, access: LiveAccess) -> web.WebSocketResponse:
    """A user's notifications over a WebSocket: "hello", what was missed after `?after=`,
    "caught_up", then live messages (also the console's live page, with its own session),
    until the client leaves or the credential ends (close code 4401/4403, runtime/hub.py)."""
    user = access.user
    # A malformed `?after=` is refused before the upgrade, with a JSON answer naming it; a
    # well-formed one the service does not know starts the catch-up from the beginning.
    query_record_id(request, "after", NOTIFICATION)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        # A plain GET (a browser tab, curl): say what the address is, not aiohttp's bare 400.
        raise ApiError(426, "upgrade_required",
                       "this address is a WebSocket: connect with Upgrade: websocket "
                       "(docs/live.md)", headers={"Upgrade": "websocket"})
    limits = request.app[LIVE_LIMITS]
    refusal = limits.refusal(user.tenant_id, user.id)
    if refusal is not None:
        raise ApiError(429, "too_many_sockets", f"{refusal}: close one first (docs/live.md)",
                       headers={"Retry-After": str(LIVE_RETRY_AFTER_SECONDS)})
    held = limits.take(user.tenant_id, user.id)
    try:
        return await serve_opened(request, access)
    finally:
        limits.give_back(held)


async def serve_opened(request: web.Request, access: LiveAccess) -> web.WebSocketResponse:
    """`serve_live` once the socket has its place under the limits (runtime/live_limits.py)."""
    user = access.user
    # aiohttp's heartbeat: a ping every `live_heartbeat_seconds`, and a peer silent for half
    # of that after one is closed (the reader below then ends and the place is given back).
    socket = LiveSocketResponse(heartbeat=request.app[CONFIG].live_heartbeat_seconds)
    await socket.prepare(request)
    # Every send and the close bounded: a client may stop reading (runtime/live_send.py).
    sender = LiveSender(request, socket)
    store = request.app[STORE]
    after = query_record_id(request, "after", NOTIFICATION)
    order = InOrder(store, user, after)
    if not after:
        # Nothing stored before the socket opened is sent: the newest of those, read before
        # subscribing, is where this socket's order starts.
        order.last = await order.newest()
    subscription = request.app[HUB].subscribe(user.id, access.credentials)
    sender.subscription = subscription
    try:
        # A credential that ended between the handler's check and the subscription had its
        # event find nothing to close: look once more, now that events reach this socket.
        reason = await access.check()
        if reason is not None:
            await close_ended(sender, reason)
            return socket
        await sender.send({"type": "hello", "user_id": user.id, "name": user.name})
        if after:
            missed = await store.list_notifications(
                user.tenant_id, user.id, after_id=after, limit=CATCH_UP_LIMIT
            )
            for notification in missed:
                await sender.send({"type": "notification", "missed": True,
                                   **to_json(notification)})
            if len(missed) == CATCH_UP_LIMIT:
                # Perhaps more: the client reads those with GET /api/v1/notifications (as
                # documented); live ones start from the newest, not from the rest of them.
                order.last = await order.newest()
            elif missed:  # resume from the last one sent (else from the client's own)
                order.last = missed[-1].id
        await sender.send({"type": "caught_up"})
        await relay_until_done(request, sender, subscription, access, order)
    except ClientStalled:
        pass  # its connection is dropped (and logged): nothing more to do for it
    finally:
        subscription.close()
        await sender.close()
    return socket


async def relay_until_done(request: web.Request, sender: LiveSender,
                           subscription: Subscription, access: LiveAccess,
                           order: InOrder) -> None:
    """Send live messages until the client leaves, it falls too far behind, or the
    credential ends."""
    socket = sender.socket
    recheck_every = request.app[CONFIG].live_recheck_seconds
    reader = asyncio.ensure_future(drain_client(socket))
    sender.reader = reader
    getter: asyncio.Future[dict[str, Any]] | None = None
    attention: asyncio.Future[Any] | None = None
    try:
        while not socket.closed:
            if getter is None:
                getter = asyncio.ensure_future(subscription.queue.get())
            attention = asyncio.ensure_future(subscription.attention.wait())
            timeout = recheck_every
            if access.expires_at is not None:
                timeout = max(0.0, min(timeout, access.expires_at - time.time()))
            waiting: set[asyncio.Future[Any]] = {getter, reader, attention}
            done, _ = await asyncio.wait(waiting, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            attention.cancel()
            if reader in done:
                break
            if subscription.ended is not None:
                await close_ended(sender, subscription.ended)
                break
            if not done or subscription.recheck_requested:
                subscription.recheck_requested = False
                subscription.attention.clear()
                reason = await access.check()
                if reason is not None:
                    await close_ended(sender, reason)
                    break
            if getter not in done:
                continue
            message = getter.result()
            getter = None
            if message.get("type") == "notification":
                for item in await order.through(message):
                    await sender.send(item)
            else:
                await sender.send(message)
            if subscription.overflowed:
                await sender.close(message=b"too slow; reconnect with ?after=")
                break
    finally:
        # `attention` too: a handler cancelled in the middle of the wait (at shutdown, or
        # when the client leaves under aiohttp's handler_cancellation, as its test server
        # runs) left a task waiting on the event, pending until the garbage collector
        # destroyed it, with an error in the log for every such socket.
        for task in (getter, reader, attention):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class InOrder:
    """A socket's notifications in the order they were stored (their `seq`).

    Stored order is commit order for one user (a unit holds the user's notification lock to
    its commit, runtime/store/locks.py), so when a notification is published every earlier
    one of the user is stored already and one read finds what this socket has not sent."""

    def __init__(self, store: Store, user: User, last: str | None) -> None:
        self.store = store
        self.user = user
        self.last = last  # the newest notification this socket sent (or started after)

    async def newest(self, upto: str | None = None) -> str | None:
        """The id of the user's newest notification (up to and including `upto`)."""
        found = await self.store.list_notifications(
            self.user.tenant_id, self.user.id, limit=1, newest=True, upto_id=upto)
        return found[0].id if found else None

    async def through(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """What to send for the live `message`: the notifications stored before it that were
        not sent yet, then it; nothing when it was sent already."""
        try:
            return await self._through(message)
        except Exception as error:
            if not isinstance(error, StoreError) and storage_unavailable(error) is None:
                raise
            # The database went away after the commit (or the store is closing): the one
            # that came is sent as it came; the earlier ones come with the next, or on a
            # catch-up.
            return [message]

    async def _through(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        upto = message["id"]
        rows: list[Notification] = []
        while True:
            more = await self.store.list_notifications(
                self.user.tenant_id, self.user.id, after_id=self.last, upto_id=upto,
                limit=CATCH_UP_LIMIT)
            if not more:
                break
            rows.extend(more)
            self.last = more[-1].id
            if more[-1].id == upto or len(more) < CATCH_UP_LIMIT:
                break
        if not rows:
            if await self.newest(upto) != upto:
                return [message]  # not stored (any more): as it came, as it always was
            return []  # at or before the last one sent: sent already
        items: list[dict[str, Any]] = [
            {"type": "notification", **to_json(n)} for n in rows if n.id != upto]
        if rows[-1].id == upto:
            items.append(message)
        return items


async def close_ended(sender: LiveSender, reason: EndReason) -> None:
    await sender.close(code=reason.close_code, message=reason.text.encode())


async def drain_client(socket: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so close frames and pings are handled."""
    async for message in socket:
        if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break
