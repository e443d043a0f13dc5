"""Live notifications for operators: a WebSocket per user, and a list to catch up with.

On connect with `?after=<notification id>` the socket first sends what the user missed, then
live messages. The subscription starts before the catch-up query, and ids already sent are
skipped, so nothing falls between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from aiohttp import WSMsgType, web

from runtime.api.common import page
from runtime.auth import require_user
from runtime.errors import bad_request
from runtime.openapi import documented
from runtime.openapi.models import NotificationList, NotificationQuery
from runtime.store.models import User, to_json
from runtime.typedefs import HUB, STORE

routes = web.RouteTableDef()

CATCH_UP_LIMIT = 200
HEARTBEAT_SECONDS = 25.0


def parse_since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("since must be an ISO-8601 time") from None


@routes.get("/api/v1/notifications")
@documented("The user's notifications, to catch up", auth="user",
            query=NotificationQuery, response=NotificationList)
async def list_notifications(request: web.Request) -> web.Response:
    user = await require_user(request)
    limit, _ = page(request)
    items = await request.app[STORE].list_notifications(
        user.tenant_id, user.id, after_id=request.query.get("after"),
        since=parse_since(request.query.get("since")), limit=limit,
    )
    return web.json_response({"notifications": to_json(items)})


@routes.get("/api/v1/live")
async def live(request: web.Request) -> web.WebSocketResponse:
    return await serve_live(request, await require_user(request))


async def serve_live(request: web.Request, user: User) -> web.WebSocketResponse:
    """A user's notifications over a WebSocket: "hello", what was missed after `?after=`,
    "caught_up", then live messages (also the console's live page, with its own session)."""
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    await socket.prepare(request)
    subscription = request.app[HUB].subscribe(user.id)
    try:
        await socket.send_json({"type": "hello", "user_id": user.id, "name": user.name})
        sent: set[str] = set()
        after = request.query.get("after")
        if after:
            missed = await request.app[STORE].list_notifications(
                user.tenant_id, user.id, after_id=after, limit=CATCH_UP_LIMIT
            )
            for notification in missed:
                sent.add(notification.id)
                await socket.send_json({"type": "notification", "missed": True,
                                        **to_json(notification)})
        await socket.send_json({"type": "caught_up"})
        reader = asyncio.ensure_future(drain_client(socket))
        try:
            while not socket.closed:
                getter = asyncio.ensure_future(subscription.queue.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                message = getter.result()
                if message.get("id") in sent:
                    continue
                await socket.send_json(message)
                if subscription.overflowed:
                    await socket.close(message=b"too slow; reconnect with ?after=")
                    break
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        subscription.close()
        await socket.close()
    return socket


async def drain_client(socket: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so close frames and pings are handled."""
    async for message in socket:
        if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break
