"""How many live sockets (the API's `/api/v1/live`, the console's live page) this node holds:
per user, per tenant and in all, so that one tenant's sockets cannot take the connections
everyone else needs.

A live socket is a connection that is serving a request for as long as it stays open, so the
connection budget (runtime/connection_budget.py) never closes one to make room. Without these
limits a tenant (its API key makes users and user tokens at will) could open sockets until the
budget was spent, and from then on every other client's connection was refused. Here live
sockets on a node take at most half of the connection budget (webhooks and the API always keep
the other half), one tenant at most half of that, and one user at most `PER_USER` (tabs and
devices of one person). Beyond a limit a new socket is refused with 429 before it is opened.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Final

PER_USER: Final = 20


@dataclass(frozen=True, slots=True)
class LiveSocketHeld:
    """One open socket's place, given back when it closes."""

    tenant_id: str
    user_id: str


class LiveSocketLimits:
    def __init__(self, connection_budget: int) -> None:
        self.total = max(connection_budget // 2, PER_USER)
        self.per_tenant = max(self.total // 2, PER_USER)
        self.per_user = PER_USER
        self._open = 0
        self._by_tenant: Counter[str] = Counter()
        self._by_user: Counter[str] = Counter()

    @property
    def open_sockets(self) -> int:
        """Sockets holding a place now, on this node."""
        return self._open

    def refusal(self, tenant_id: str, user_id: str) -> str | None:
        """Why one more socket of this user is refused, or None when it may open."""
        if self._by_user[user_id] >= self.per_user:
            return f"this user has {self.per_user} live sockets open, the most one user may"
        if self._by_tenant[tenant_id] >= self.per_tenant:
            return (f"this tenant's users have {self.per_tenant} live sockets open on this "
                    "server, the most one tenant may")
        if self._open >= self.total:
            return f"this server holds {self.total} live sockets, the most it keeps"
        return None

    def take(self, tenant_id: str, user_id: str) -> LiveSocketHeld:
        """Count a socket in (after `refusal` said None)."""
        self._open += 1
        self._by_tenant[tenant_id] += 1
        self._by_user[user_id] += 1
        return LiveSocketHeld(tenant_id, user_id)

    def give_back(self, held: LiveSocketHeld) -> None:
        self._open -= 1
        for counts, key in ((self._by_tenant, held.tenant_id), (self._by_user, held.user_id)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
