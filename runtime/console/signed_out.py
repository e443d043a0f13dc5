"""The console's memory of signed-out sessions, bounded per credential.

A session id names the credential it was opened with: `<owner>.<random>`, where `owner` is
derived from the credential's digest (runtime/console/session.py `new_session_id`), so every
node can group the sign-outs it hears through the hub, which carry only the session id.

Each credential's sign-outs are remembered one by one, up to KEEP_PER_OWNER of them. Past
that, the oldest is dropped and turned into a mark, "every session of this credential that
expires by then is out": it covers the dropped session (and any of the credential's sessions
opened before that sign-out). Without the bound, one user signing in and out in a loop kept
an entry per sign-out on every node (and a row in the store) for 12 hours.

The store keeps the same: a row per sign-out with its owner, and the mark as a row whose
session id is `<owner>.*` (no session id has a "*"). A session id without an owner is one
issued before ids named theirs: such sign-outs are remembered one by one (no more of those
sessions can be opened).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

# Sign-outs of one credential remembered one by one before the oldest becomes the mark. A
# person signs out a few times a day; a credential shared by many browsers many more: each
# past this many within a session's lifetime signs out its sessions opened before the oldest.
KEEP_PER_OWNER: Final = 64
MARK_SUFFIX: Final = ".*"


def owner_of(session_id: str) -> str:
    """The credential a session id names; "" for an id issued before ids named theirs."""
    owner, dot, _ = session_id.rpartition(".")
    return owner if dot else ""


def mark_id(owner: str) -> str:
    """The store's session id for an owner's mark."""
    return owner + MARK_SUFFIX


@dataclass(slots=True)
class _OwnerSignOuts:
    # Session id -> when it would have expired anyway, in the order they expire.
    sessions: dict[str, float] = field(default_factory=dict)
    # The credential's sessions expiring by then (epoch seconds) are out: older sign-outs
    # than those kept one by one.
    out_until: float = -math.inf  # (none)
    # When nothing here matters any more (every session it names has expired by then).
    useless_after: float = 0.0


class SignedOut:
    """Which sessions were signed out, per credential, until they would have expired."""

    def __init__(self, keep_per_owner: int = KEEP_PER_OWNER) -> None:
        self.keep_per_owner = keep_per_owner
        # In the order they stop mattering (each change moves an owner to the end, with the
        # latest time): only the front is looked at to drop what expired.
        self._owners: dict[str, _OwnerSignOuts] = {}

    def __len__(self) -> int:
        """Entries held: a session id or a mark each."""
        return sum(len(o.sessions) + (o.out_until > -math.inf) for o in self._owners.values())

    def refuses(self, session_id: str, expires_at: float) -> bool:
        """Whether the session (expiring at `expires_at`) was signed out."""
        kept = self._owners.get(owner_of(session_id))
        return kept is not None and (session_id in kept.sessions
                                     or expires_at <= kept.out_until)

    def add(self, session_id: str, expires_at: float, now: float) -> None:
        """Signed out; it would have expired at `expires_at` (or a mark from the store)."""
        self._drop_expired(now)
        owner = owner_of(session_id)
        kept = self._owners.pop(owner, None) or _OwnerSignOuts()
        self._owners[owner] = kept  # to the end: it changes now, with the latest time
        if session_id == mark_id(owner):
            kept.out_until = max(kept.out_until, expires_at)
        else:
            kept.sessions.pop(session_id, None)  # (again: moves to the end, keeping the order)
            kept.sessions[session_id] = expires_at
            while owner and len(kept.sessions) > self.keep_per_owner:
                oldest = next(iter(kept.sessions))
                kept.out_until = max(kept.out_until, kept.sessions.pop(oldest))
        kept.useless_after = max(kept.useless_after, expires_at)
        # The owner's own sign-outs that expired go too.
        while kept.sessions:
            oldest = next(iter(kept.sessions))
            if kept.sessions[oldest] >= now:
                break
            del kept.sessions[oldest]

    def _drop_expired(self, now: float) -> None:
        while self._owners:
            first = next(iter(self._owners))
            if self._owners[first].useless_after >= now:
                break
            del self._owners[first]
