"""How many client connections the service holds at once: fewer than its file descriptors.

Every open connection is a descriptor, and so is everything else the service needs to go on:
its database files, the pipes and pidfds of its sandbox workers, a new worker's pipes. aiohttp
accepts connections for as long as the process may open descriptors, and an idle connection
that never sends a byte is kept until the keep-alive timeout (75 s). So anyone who could reach
the port held the service: a few hundred idle connections (a process limit of 1024 is common)
and every other client was refused at accept, /healthz included, for as long as they stayed.

The budget is the process's descriptor limit less a reserve for the service's own use. At the
budget, a new connection takes the place of the oldest one with no request in the app (idle,
or still sending its request's headers): that one is closed without an answer, as a header
deadline would close it. Requests being handled and live sockets are never closed for
room. When every connection is one of those, the new connection is closed at once.
"""

from __future__ import annotations

import logging
import resource
from typing import Final, Protocol

from runtime.config import Config
from runtime.logs import Throttled

log = logging.getLogger("runtime.http.connections")

# Descriptors kept for the service itself: the store's files or connections, the log, the
# event loop's own, the worker template's control socket...
RESERVED_FOR_SERVICE: Final = 64
# ... and each sandbox worker's pipes and pidfd in the service, with room for one being made.
RESERVED_PER_WORKER: Final = 4
# Whatever the limit, this many connections are allowed (a limit this low leaves the service
# short of descriptors anyway; the budget must not refuse everyone).
MINIMUM_CONNECTIONS: Final = 16


class Sheddable(Protocol):
    """A connection as the budget sees it (deadlines.WatchedConnection)."""

    def in_request(self) -> bool:
        """A request has reached the app and is not finished (a live socket is one)."""
        ...

    def shed(self) -> None:
        """Close the connection now, without an answer."""
        ...


def connections_for(descriptor_limit: int, workers: int) -> int:
    """The budget of connections for a process that may open `descriptor_limit` descriptors
    and keeps up to `workers` sandbox workers."""
    reserve = RESERVED_FOR_SERVICE + RESERVED_PER_WORKER * (workers + 1)
    return max(descriptor_limit - reserve, MINIMUM_CONNECTIONS)


def budget_for(config: Config) -> int:
    """The budget of connections of this process under `config`."""
    sandbox = config.sandbox
    return connections_for(descriptor_limit(), sandbox.tenant_workers + sandbox.spare_workers)


def descriptor_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class ConnectionBudget:
    """The open client connections, oldest first, and how many may be open at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[Sheddable, None] = {}  # insertion order: oldest first
        self._full_lines = Throttled(log, "connections closed for room")

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, connection: Sheddable) -> bool:
        """Count `connection` in, making room if the budget is spent; False when no room can be
        made (the caller closes it)."""
        if len(self._open) >= self.limit:
            oldest_waiting = next((c for c in self._open if not c.in_request()), None)
            if oldest_waiting is None:
                self._full_lines.log(
                    logging.WARNING, "refused a connection: all %d connections the service "
                    "keeps are handling requests", self.limit)
                return False
            self.release(oldest_waiting)
            self._full_lines.log(
                logging.WARNING, "closed the oldest connection without a request to make room "
                "for a new one (%d connections open, the most the service keeps)", self.limit)
            oldest_waiting.shed()
        self._open[connection] = None
        return True

    def release(self, connection: Sheddable) -> None:
        self._open.pop(connection, None)
