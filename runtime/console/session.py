"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie; a CSRF token per session.

The cookie never holds a credential. It holds what kind of credential opened the session, the
sha256 of that credential (the same digest the store looks keys and tokens up by, so it cannot
be turned back into the credential), a random session id and an expiry, signed with HMAC-SHA256.
Every request looks the digest up again, so a revoked key or token ends its sessions at once,
and a session can never do more than the credential it was opened with.

The signing key is derived from the operator token: every node of a deployment shares it, and
changing the operator token signs everybody out. Signing out ends the session through the hub
(runtime/hub.py): its live sockets close on every node, and every node remembers the session
id until the session would have expired, so the old cookie is nobody anywhere. The sign-out
is also kept in the store (table console_signed_out) until then, and a node reads those when
it starts: after a restart, and on a node started later, the cookie stays nobody. What is
remembered is bounded per credential (runtime/console/signed_out.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from aiohttp import web

from runtime import ids
from runtime.auth import TenantAuth, UserAuth, find_user_auth, user_token_ended
from runtime.console.signed_out import KEEP_PER_OWNER, SignedOut, owner_of
from runtime.hub import Credential, CredentialEnded, EndReason
from runtime.store.models import User, utc_now
from runtime.typedefs import HUB, OPERATOR_TOKEN, STORE

COOKIE = "vr_console"
PRE_COOKIE = "vr_console_pre"  # binds the sign-in form's CSRF token before there is a session
COOKIE_PATH = "/console"
LIFETIME_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

Kind = Literal["builder", "operator"]


def signing_key(app: web.Application) -> bytes:
    return hmac.new(app[OPERATOR_TOKEN].encode(), b"voip-runtime/console/session/v1",
                    hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(app: web.Application, payload: dict[str, object]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(signing_key(app), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(app: web.Application, value: str) -> dict[str, object] | None:
    body, _, mac = value.partition(".")
    if not body or not mac:
        return None
    expected = hmac.new(signing_key(app), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        data = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def derived_token(app: web.Application, purpose: str, value: str) -> str:
    return _b64(hmac.new(signing_key(app), f"{purpose}|{value}".encode(),
                         hashlib.sha256).digest()[:24])


@dataclass(frozen=True, slots=True)
class Session:
    """Who is signed in. `builder`: a tenant API key; `operator`: a user token."""

    kind: Kind
    sid: str
    tenant_id: str
    csrf: str
    expires_at: float  # epoch seconds
    key_id: str | None = None  # builder
    user_auth: UserAuth | None = None  # operator

    @property
    def auth(self) -> TenantAuth:
        assert self.key_id is not None, "only a builder session acts as a tenant key"
        return TenantAuth(tenant_id=self.tenant_id, key_id=self.key_id)

    @property
    def user(self) -> User | None:
        return None if self.user_auth is None else self.user_auth.user

    @property
    def user_id(self) -> str:
        assert self.user_auth is not None
        return self.user_auth.user.id

    @property
    def credentials(self) -> frozenset[Credential]:
        """What the live socket of an operator session stands on: the session, its user
        token and its user."""
        assert self.user_auth is not None, "only an operator session has a live socket"
        return self.user_auth.credentials | {Credential("session", self.sid)}


SESSION_KEY: Any = web.RequestKey("console_session", object) if hasattr(web, "RequestKey") \
    else "console_session"

# Signed-out sessions until they would have expired anyway: those signed out on this node,
# and (through the hub) on every other node while this one ran.
SIGNED_OUT: web.AppKey[SignedOut] = web.AppKey("console_signed_out", SignedOut)


def install(app: web.Application) -> None:
    """Remember signed-out sessions: those kept in the store when this node starts, then
    this node's and (through the hub) every other node's."""
    app[SIGNED_OUT] = SignedOut()

    async def recall(app: web.Application) -> None:
        # (After the store's cleanup context opened it: on_startup runs those first.)
        now = utc_now()
        for sid, expires in await app[STORE].signed_out_sessions(now):
            app[SIGNED_OUT].add(sid, expires.timestamp(), now.timestamp())

    app.on_startup.append(recall)

    def remember(ended: CredentialEnded) -> None:
        if ended.credential.kind != "session":
            return
        # The session would have expired by then at the latest (the hub says only its id).
        now = time.time()
        app[SIGNED_OUT].add(ended.credential.id, now + LIFETIME_SECONDS, now)

    app[HUB].on_ended.append(remember)


def new_session_id(app: web.Application, digest: str) -> str:
    """A random id naming the credential it is opened with (not the credential, nor its
    digest), which every node's memory of sign-outs groups by (runtime/console/signed_out.py)."""
    return f"{derived_token(app, 'owner', digest)[:16]}.{secrets.token_urlsafe(18)}"


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


async def credential_session(app: web.Application, secret: str
                             ) -> tuple[Kind, str, str | None, User | None] | None:
    """(kind, tenant id, key id, user) for a tenant key or a user token; None when unknown."""
    store = app[STORE]
    digest = ids.hash_secret(secret)
    key = await store.find_api_key(digest)
    if key is not None:
        return "builder", key.tenant_id, key.id, None
    user = await store.find_user_by_token(digest)
    if user is not None:
        return "operator", user.tenant_id, None, user
    return None


def start_session(request: web.Request, response: web.StreamResponse, kind: Kind,
                  secret: str) -> None:
    digest = ids.hash_secret(secret)
    payload = {
        "v": 1, "sid": new_session_id(request.app, digest), "k": kind,
        # To the millisecond, not the second: a mark of sign-outs ("this credential's
        # sessions expiring by then are out", runtime/console/signed_out.py) must not cover a
        # session opened after it within the same second.
        "h": digest, "exp": round(time.time() + LIFETIME_SECONDS, 3),
    }
    response.set_cookie(
        COOKIE, sign(request.app, payload), path=COOKIE_PATH, httponly=True,
        samesite="Strict", secure=is_secure(request), max_age=LIFETIME_SECONDS,
    )
    response.del_cookie(PRE_COOKIE, path=COOKIE_PATH)


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Sign out: the cookie goes, and the session ends on every node with its sockets."""
    data = unsign(request.app, request.cookies.get(COOKIE, ""))
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    if data is not None and isinstance(data.get("sid"), str):
        sid = str(data["sid"])
        # Kept in the store first: the sign-out outlives this process (a restart, a node
        # started later), until the session would have expired anyway.
        ends = data.get("exp")
        expires = datetime.fromtimestamp(
            ends if _is_epoch(ends) else time.time() + LIFETIME_SECONDS, UTC)
        await request.app[STORE].write(lambda tx: tx.keep_signed_out(
            sid, expires, owner=owner_of(sid), keep_per_owner=KEEP_PER_OWNER))
        await request.app[HUB].end(CredentialEnded(Credential("session", sid),
                                                   EndReason.SIGNED_OUT))


def _is_epoch(value: object) -> TypeGuard[float]:
    """A cookie's expiry: epoch seconds, whole (cookies issued before milliseconds) or not."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


async def current_session(request: web.Request) -> Session | None:
    """The signed-in session, checked against the store on every request; None when none."""
    if SESSION_KEY in request:
        cached: Session | None = request[SESSION_KEY]
        return cached
    session = await _load_session(request)
    request[SESSION_KEY] = session
    return session


async def _load_session(request: web.Request) -> Session | None:
    data = unsign(request.app, request.cookies.get(COOKIE, ""))
    if data is None or data.get("v") != 1:
        return None
    sid, kind, digest, expires = data.get("sid"), data.get("k"), data.get("h"), data.get("exp")
    if not (isinstance(sid, str) and isinstance(digest, str) and _is_epoch(expires)):
        return None
    if expires < time.time() or request.app[SIGNED_OUT].refuses(sid, expires):
        return None
    store = request.app[STORE]
    csrf = derived_token(request.app, "csrf", sid)
    if kind == "builder":
        key = await store.find_api_key(digest)
        if key is None:
            return None
        return Session("builder", sid, key.tenant_id, csrf, expires, key_id=key.id)
    if kind == "operator":
        user_auth = await find_user_auth(store, digest)
        if user_auth is None:
            return None
        return Session("operator", sid, user_auth.tenant_id, csrf, expires, user_auth=user_auth)
    return None


async def session_ended(app: web.Application, session: Session) -> EndReason | None:
    """Why an operator session that once checked out no longer does; None while it still
    does (its live socket asks now and then)."""
    if app[SIGNED_OUT].refuses(session.sid, session.expires_at):
        return EndReason.SIGNED_OUT
    if session.expires_at <= time.time():
        return EndReason.SESSION_EXPIRED
    assert session.user_auth is not None, "only an operator session has a live socket"
    return await user_token_ended(app[STORE], session.user_auth)


def pre_session_token(request: web.Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF token, bound to a short-lived random cookie.

    Returns (token, new cookie value to set or None when the browser already has one).
    """
    value = request.cookies.get(PRE_COOKIE)
    new = None
    if not value or len(value) > 64:
        value = new = secrets.token_urlsafe(18)
    return derived_token(request.app, "pre", value), new


def set_pre_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(PRE_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=is_secure(request), max_age=3600)


def pre_session_ok(request: web.Request, token: str) -> bool:
    value = request.cookies.get(PRE_COOKIE)
    if not value:
        return False
    return hmac.compare_digest(derived_token(request.app, "pre", value), token)
