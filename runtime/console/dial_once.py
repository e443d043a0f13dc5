"""Click-to-call rings once per form: reloading the page a call's POST answered (the browser
re-posts it after its "resubmit?" prompt) shows that first answer again instead of dialling.

Every console form that places a call carries a one-time nonce (`dial_nonce`): random, signed
with the console's key for this session (so none is kept until used, and one from another
session or made up is refused). The nonce, the session and what is dialled (line and number)
make the call's claim key; runtime/operations/call_once.py places the call once per key (the
API's `Idempotency-Key` goes the same way): a repeat, on any node and after a restart, gets
the first answer, marked as a repeat, and nothing rings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from runtime.console.session import Session, signing_key
from runtime.errors import ApiError
from runtime.operations.call_once import DIAL_ONCE, Placed, claim_key

NONCE_FIELD = "dial_nonce"
_MAC_BYTES = 16
# The claims' scope (and the digest's version): also what keys made before kept.
FORM_SCOPE = "dial-once/v1"
STILL_DIALLING = ("this call form was posted before and its call is still being placed (or the "
                  "node placing it stopped); nothing rang now. Reload the page to call again")


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


async def place(app: web.Application, session: Session, nonce: str, what: str,
                dial: Callable[[], Awaitable[dict[str, Any]]]) -> Placed:
    """`dial()` unless this session already posted this nonce for `what`; the answer."""
    key = claim_key(FORM_SCOPE, session.sid, _checked(app, session, nonce), what)
    return await app[DIAL_ONCE].place(app, session.tenant_id, key, dial,
                                      still_dialling=STILL_DIALLING)
