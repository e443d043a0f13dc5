"""Click-to-call rings once per form: reloading the page a call's POST answered (the browser
re-posts it after its "resubmit?" prompt) shows that first answer again instead of dialling.

Every console form that places a call carries a one-time nonce (`dial_nonce`): random, signed
with the console's key for this session (so none is kept until used, and one from another
session or made up is refused). The first POST of a nonce places the call and keeps its answer
here, keyed by the session, the nonce and what was dialled (line and number), for as long as a
session lives; a POST of the same again gets that answer, marked as a repeat, and nothing
rings. Two at once (a double click) wait for the first's answer. When the first failed (no
extension, a script error), nothing is kept, so trying again dials.

What is kept is per node and in memory (bounded, oldest dropped first): a repeat that reaches
another node of a deployment, or this one after a restart, dials again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.console.session import LIFETIME_SECONDS, Session, signing_key
from runtime.errors import ApiError

NONCE_FIELD = "dial_nonce"
MAX_KEPT = 10_000  # answers kept per node; ~200 bytes each
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class Placed:
    answer: dict[str, Any]  # place_call's {execution_id, from, to}
    repeat: bool  # this POST was a repeat: nothing rang this time


def _mac(app: web.Application, sid: str, rand: str) -> str:
    digest = hmac.new(signing_key(app), f"dial-once/v1|{sid}|{rand}".encode(),
                      hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(app: web.Application, session: Session | None) -> str:
    """A fresh nonce for a call form of this session ("" without one: no form is shown)."""
    if session is None:
        return ""
    rand = secrets.token_urlsafe(12)
    return f"{rand}.{_mac(app, session.sid, rand)}"


def _checked(app: web.Application, session: Session, nonce: str) -> str:
    rand, _, mac = nonce.partition(".")
    if not rand or not mac or not hmac.compare_digest(mac, _mac(app, session.sid, rand)):
        raise ApiError(422, "invalid", f"{NONCE_FIELD}: this call form has expired or was not "
                                       "made for this session; reload the page and call again")
    return rand


class DialOnce:
    """The answers of the call forms posted on this node (see the module doc)."""

    def __init__(self, *, keep_seconds: float = LIFETIME_SECONDS, max_kept: int = MAX_KEPT
                 ) -> None:
        self._keep = keep_seconds
        self._max = max_kept
        self._kept: OrderedDict[tuple[str, str, str], tuple[float, asyncio.Future[dict[str, Any]]]]
        self._kept = OrderedDict()

    def _forget_old(self, now: float) -> None:
        # Oldest first (kept in the order posted): stop at the first still young, or still
        # dialling (a repeat must find it; the next post tidies past it).
        while self._kept:
            key, (at, future) = next(iter(self._kept.items()))
            if (len(self._kept) <= self._max and now - at < self._keep) or not future.done():
                break
            del self._kept[key]

    async def place(self, app: web.Application, session: Session, nonce: str, what: str,
                    dial: Callable[[], Awaitable[dict[str, Any]]]) -> Placed:
        """`dial()` unless this session already posted this nonce for `what`; the answer."""
        key = (session.sid, _checked(app, session, nonce), what)
        now = time.monotonic()
        self._forget_old(now)
        kept = self._kept.get(key)
        if kept is not None:
            return Placed(await asyncio.shield(kept[1]), repeat=True)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._kept[key] = (now, future)
        try:
            answer = await dial()
        except BaseException as error:
            # An error answer (no extension, the script failed): forget it, so trying again
            # dials; a repeat already waiting gets the same error.
            del self._kept[key]
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        future.set_result(answer)
        return Placed(answer, repeat=False)


DIAL_ONCE: web.AppKey[DialOnce] = web.AppKey("console_dial_once")


def install(app: web.Application) -> None:
    app[DIAL_ONCE] = DialOnce()
