"""Click-to-call rings once per request that asks for it again: a console call form posted
twice (runtime/console/dial_once.py: its one-time nonce) or an API request repeated with the
same `Idempotency-Key` (runtime/api/runs.py) gets the first answer back and nothing rings.

The first request claims its key in the store (a row of `dial_once`, keyed by a digest that
names neither the session nor the number dialled), places the call and keeps its answer
there; a repeat, on any node and after a restart, gets that answer, marked as a repeat. Two at
once (a double click, a client's retry racing its first request) wait for the first's answer:
on this node in memory, from another node by reading the claim again until it is answered.
When the first failed (no extension, a script error), its claim is deleted, so trying again
dials. A claim whose node stopped while placing the call is never answered: its repeats wait,
then are refused (`409 still_dialling`) rather than ring a second time. The retention task
deletes claims after 12 hours (a console session's lifetime).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.errors import ApiError
from runtime.typedefs import CONFIG, STORE

POLL_SECONDS = 0.2  # a repeat that reached another node than the first request looks this often
WAIT_MARGIN_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Placed:
    answer: dict[str, Any]  # place_call's {execution_id, from, to}
    repeat: bool  # this request was a repeat: nothing rang this time


def claim_key(scope: str, owner: str, given: str, what: str) -> str:
    """A claim's key: a digest, so that neither the session id nor the number is stored.
    `scope` keeps the console's forms and the API's keys apart; `owner` is whose key it is
    (a console session, a tenant); `what` the call (so one key for another call dials)."""
    return hashlib.sha256(f"{scope}|{owner}|{given}|{what}".encode()).hexdigest()


class DialOnce:
    """The answers of the calls placed under a key (see the module doc)."""

    def __init__(self, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._poll = poll_seconds
        # Requests of this node still placing their call: a repeat here waits for the answer,
        # or the error, of the first.
        self._placing: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def place(self, app: web.Application, tenant_id: str, key: str,
                    dial: Callable[[], Awaitable[dict[str, Any]]], *, still_dialling: str
                    ) -> Placed:
        """`dial()` unless a call was placed under `key` already; the answer. `still_dialling`
        is the 409's message for a repeat whose first call never answered."""
        placing = self._placing.get(key)
        if placing is not None:
            return Placed(await asyncio.shield(placing), repeat=True)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._placing[key] = future
        try:
            placed = await self._place(app, tenant_id, key, dial, still_dialling)
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
                     dial: Callable[[], Awaitable[dict[str, Any]]], still_dialling: str
                     ) -> Placed:
        store = app[STORE]
        # The first request's call may take the module's whole wall clock to place.
        give_up = time.monotonic() + app[CONFIG].sandbox.other_wall_seconds + WAIT_MARGIN_SECONDS
        while True:
            claim = await store.write(lambda tx: tx.claim_dial(tenant_id, key))
            if claim.claimed:
                break
            if isinstance(claim.answer, dict):
                return Placed(claim.answer, repeat=True)
            if time.monotonic() >= give_up:
                raise ApiError(409, "still_dialling", still_dialling)
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
                log.warning("could not release a failed call's claim", exc_info=True)
            raise
        try:
            await store.write(lambda tx: tx.settle_dial(key, answer))
        except Exception:
            # The call rang: say so. Its claim stays unanswered, so a repeat still rings
            # nothing (it waits, then is refused).
            log.warning("could not keep a placed call's answer", exc_info=True)
        return Placed(answer, repeat=False)


DIAL_ONCE: web.AppKey[DialOnce] = web.AppKey("dial_once")


def install(app: web.Application) -> None:
    app[DIAL_ONCE] = DialOnce()
