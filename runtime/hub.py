"""Live notifications: each user's open WebSockets, fed after a webhook's effects commit; and the
end of the credentials those sockets were opened with.

`publish` delivers on this node, then hands the message to `Hub.relay`, which a multi-node
deployment sets (runtime/cluster.py: PostgreSQL LISTEN/NOTIFY) to carry it to the other nodes;
there it arrives through `deliver_local`. Subscribers do not change.

Credentials end the same way. A subscription names every credential it stands on (the user,
the user token, the console session, ...). Whatever ends one of them (a revocation, a deletion,
a sign-out) calls `end(CredentialEnded(...))` once, after its change is committed: the hub ends
the subscriptions standing on it on this node, tells the `on_ended` listeners (the console
forgets a signed-out session), and hands the event to `Hub.relay_ended` for the other nodes,
where it arrives through `end_local`. The socket serving a subscription closes with the
reason's WebSocket close code. Events can be lost (a node's listener reconnecting), so sockets
also re-read their credential now and then, and at once after `recheck_all`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

log = logging.getLogger("runtime.hub")

QUEUE_SIZE = 256

CredentialKind = Literal["user", "user_token", "api_key", "session"]
CREDENTIAL_KINDS: frozenset[str] = frozenset(get_args(CredentialKind))


@dataclass(frozen=True, slots=True)
class Credential:
    """What a socket stands on: `user` (the person), `user_token` and `api_key` (by id),
    `session` (a console session, by its random id)."""

    kind: CredentialKind
    id: str


@enum.unique  # two reasons with one (code, text) would silently be one member
class EndReason(enum.Enum):
    """Why a credential ended, as the WebSocket close frame says it (code, reason): 4401, the
    credential is no good any more (sign in again, or get a new token); 4403, the user is gone.
    The names travel between nodes (runtime/cluster.py)."""

    SIGNED_OUT = (4401, "signed out")
    SESSION_EXPIRED = (4401, "session expired")
    TOKEN_REVOKED = (4401, "credential revoked: user token")
    KEY_REVOKED = (4401, "credential revoked: API key")
    USER_DELETED = (4403, "user deleted")
    TENANT_DELETED = (4403, "tenant deleted")
    # Not a credential's end: this node stops (SIGTERM). 1001 "going away": reconnect, to
    # another node or to this one restarted. Never relayed to other nodes.
    SHUTTING_DOWN = (1001, "server shutting down")

    @property
    def close_code(self) -> int:
        code: int = self.value[0]
        return code

    @property
    def text(self) -> str:
        text: str = self.value[1]
        return text


@dataclass(frozen=True, slots=True)
class CredentialEnded:
    credential: Credential
    reason: EndReason


class Subscription:
    def __init__(self, hub: Hub, user_id: str, credentials: frozenset[Credential]) -> None:
        self.hub = hub
        self.user_id = user_id
        self.credentials = credentials
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False
        self.ended: EndReason | None = None
        self.recheck_requested = False
        # Set when the subscription ended or should re-read its credential; the socket's loop
        # waits on it beside the queue.
        self.attention = asyncio.Event()
        # Set when the socket must stop even in the middle of a send its client is not taking
        # (runtime/live_send.py): its credential ended (or this node stops).
        self.cut = asyncio.Event()

    def deliver(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A client that stopped reading is cut off; it can list what it missed on reconnect.
            self.overflowed = True

    def end(self, reason: EndReason) -> None:
        if self.ended is None:
            self.ended = reason
        self.attention.set()
        self.cut.set()

    def request_recheck(self) -> None:
        self.recheck_requested = True
        self.attention.set()

    def close(self) -> None:
        self.hub.unsubscribe(self)


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._by_credential: dict[Credential, set[Subscription]] = defaultdict(set)
        # Set by a multi-node backend: forwards a message / an ended credential to every
        # other node.
        self.relay: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
        self.relay_ended: Callable[[CredentialEnded], Awaitable[None]] | None = None
        # Told of every ended credential, this node's and the others' (the console keeps
        # signed-out session ids with it).
        self.on_ended: list[Callable[[CredentialEnded], None]] = []

    def subscribe(self, user_id: str, credentials: Iterable[Credential] = ()) -> Subscription:
        subscription = Subscription(self, user_id, frozenset(credentials))
        self._subscribers[user_id].add(subscription)
        for credential in subscription.credentials:
            self._by_credential[credential].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        _discard(self._subscribers, subscription.user_id, subscription)
        for credential in subscription.credentials:
            _discard(self._by_credential, credential, subscription)

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

    def end_local(self, ended: CredentialEnded) -> int:
        """End this node's subscriptions standing on the credential; how many there were."""
        subscriptions = list(self._by_credential.get(ended.credential, ()))
        for subscription in subscriptions:
            subscription.end(ended.reason)
        for listener in self.on_ended:
            try:
                listener(ended)
            except Exception:
                log.exception("a listener of ended credentials failed")
        if subscriptions:
            log.info("%s: closing %d live socket(s) of %s %s", ended.reason.text,
                     len(subscriptions), ended.credential.kind, ended.credential.id)
        return len(subscriptions)

    async def end(self, ended: CredentialEnded) -> None:
        """A credential ended (its change committed): close its sockets on every node."""
        self.end_local(ended)
        if self.relay_ended is not None:
            try:
                await self.relay_ended(ended)
            except Exception:
                # The other nodes' sockets still close at their next re-check.
                log.exception("relaying an ended credential to other nodes failed")

    def end_all_local(self, reason: EndReason) -> int:
        """End every subscription on this node (it is shutting down); how many there were."""
        subscriptions = [s for group in self._subscribers.values() for s in group]
        for subscription in subscriptions:
            subscription.end(reason)
        return len(subscriptions)

    def recheck_all(self) -> None:
        """Every socket re-reads its credential now (ended-credential events may have been
        lost, e.g. while this node's cluster listener was reconnecting)."""
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.request_recheck()

    def connected_users(self) -> int:
        return len(self._subscribers)


def _discard(index: dict[Any, set[Subscription]], key: object,
             subscription: Subscription) -> None:
    subscriptions = index.get(key)
    if subscriptions is not None:
        subscriptions.discard(subscription)
        if not subscriptions:
            del index[key]
