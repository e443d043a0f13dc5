"""Click-to-call rings once per form: reloading the page a call's POST answered (the browser
re-posts it after its "resubmit?" prompt) shows that first answer again instead of dialling.

Every console form that places a call carries a one-time nonce (`dial_nonce`): random, signed
with the console's key for this session (so none is kept until used, and one from another
session or made up is refused). The first POST of a nonce claims it in the store (a row keyed
by a digest of the session, the nonce and what was dialled: line and number), places the call
and keeps its answer there; a POST of the same again, on any node and after a restart, gets
that answer, marked as a repeat, and nothing rings. Two at once (a double click) wait for the
first's answer: on this node in memory, from another node by reading the claim again until it
is answered. When the first failed (no extension, a script error), its claim is deleted, so
trying again dials. A claim whose node stopped while placing the call is never answered: its
repeats wait, then are told to open the page again (a fresh form dials) rather than ring a
second time. The retention task deletes claims once no session could post them again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.console.session import Session, signing_key
from runtime.errors import ApiError
from runtime.typedefs import CONFIG, STORE

NONCE_FIELD = "dial_nonce"
_MAC_BYTES = 16
POLL_SECONDS = 0.2  # a repeat that reached another node than the first post looks this often
WAIT_MARGIN_SECONDS = 5.0

log = logging.getLogger(__name__)


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


def form_key(sid: str, rand: str, what: str) -> str:
    """The claim's key: neither the session id nor the number dialled is stored."""
    return hashlib.sha256(f"dial-once/v1|{sid}|{rand}|{what}".encode()).hexdigest()


class DialOnce:
    """The answers of the call forms posted (see the module doc)."""

    def __init__(self, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._poll = poll_seconds
        # Posts of this node still placing their call: a repeat here waits for the answer, or
        # the error, of the first.
        self._placing: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def place(self, app: web.Application, session: Session, nonce: str, what: str,
                    dial: Callable[[], Awaitable[dict[str, Any]]]) -> Placed:
        """`dial()` unless this session already posted this nonce for `what`; the answer."""
        key = form_key(session.sid, _checked(app, session, nonce), what)
        placing = self._placing.get(key)
        if placing is not None:
            return Placed(await asyncio.shield(placing), repeat=True)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._placing[key] = future
        try:
            placed = await self._place(app, session.tenant_id, key, dial)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            future.set_result(placed.answer)
            return placed
        finally:
            del self._placing[key]

    async def _place(self, app: web.Application, tenant_id: str, key: str,
                     dial: Callable[[], Awaitable[dict[str, Any]]]) -> Placed:
        store = app[STORE]
        # The first post's call may take the module's whole wall clock to place.
        give_up = time.monotonic() + app[CONFIG].sandbox.other_wall_seconds + WAIT_MARGIN_SECONDS
        while True:
            claim = await store.write(lambda tx: tx.claim_dial(tenant_id, key))
            if claim.claimed:
                break
            if isinstance(claim.answer, dict):
                return Placed(claim.answer, repeat=True)
            if time.monotonic() >= give_up:
                raise ApiError(409, "still_dialling",
                               "this call form was posted before and its call is still being "
                               "placed (or the node placing it stopped); nothing rang now. "
                               "Reload the page to call again")
            await asyncio.sleep(self._poll)  # another node is placing it: its answer, or
            # its failure (the claim goes, and the next look claims it), comes soon
        try:
            answer = await dial()
        except BaseException:
            # An error answer (no extension, the script failed): the claim goes, so trying
            # again dials.
            try:
                await store.write(lambda tx: tx.settle_dial(key, None))
            except Exception:  # the error the caller sees is the dial's
                log.warning("could not release a failed call form's claim", exc_info=True)
            raise
        try:
            await store.write(lambda tx: tx.settle_dial(key, answer))
        except Exception:
            # The call rang: say so. Its claim stays unanswered, so a repeat still rings
            # nothing (it waits, then is told to reload).
            log.warning("could not keep a placed call's answer", exc_info=True)
        return Placed(answer, repeat=False)


DIAL_ONCE: web.AppKey[DialOnce] = web.AppKey("console_dial_once")


def install(app: web.Application) -> None:
    app[DIAL_ONCE] = DialOnce()
