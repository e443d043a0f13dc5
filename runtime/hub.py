"""Live notifications: each user's open WebSockets, fed after a webhook's effects commit.

`publish` delivers on this node, then hands the message to `Hub.relay`, which a multi-node
deployment sets (runtime/cluster.py: PostgreSQL LISTEN/NOTIFY) to carry it to the other nodes;
there it arrives through `deliver_local`. Subscribers do not change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("runtime.hub")

QUEUE_SIZE = 256


class Subscription:
    def __init__(self, hub: Hub, user_id: str) -> None:
        self.hub = hub
        self.user_id = user_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def deliver(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A client that stopped reading is cut off; it can list what it missed on reconnect.
            self.overflowed = True

    def close(self) -> None:
        self.hub.unsubscribe(self)


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        # Set by a multi-node backend: forwards a message to every other node.
        self.relay: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    def subscribe(self, user_id: str) -> Subscription:
        subscription = Subscription(self, user_id)
        self._subscribers[user_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.user_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.user_id]

    def deliver_local(self, user_id: str, message: dict[str, Any]) -> None:
        for subscription in list(self._subscribers.get(user_id, ())):
            subscription.deliver(message)

    async def publish(self, user_id: str, message: dict[str, Any]) -> None:
        self.deliver_local(user_id, message)
        if self.relay is not None:
            try:
                await self.relay(user_id, message)
            except Exception:
                log.exception("relaying a notification to other nodes failed")

    def connected_users(self) -> int:
        return len(self._subscribers)
