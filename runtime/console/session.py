"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie; a CSRF token per session.

The cookie never holds a credential. It holds what kind of credential opened the session, the
sha256 of that credential (the same digest the store looks keys and tokens up by, so it cannot
be turned back into the credential), a random session id and an expiry, signed with HMAC-SHA256.
Every request looks the digest up again, so a revoked key or token ends its sessions at once,
and a session can never do more than the credential it was opened with.

The signing key is derived from the operator token: every node of a deployment shares it, and
changing the operator token signs everybody out. Signing out also remembers the session id on
this node until the session would have expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from runtime import ids
from runtime.auth import TenantAuth
from runtime.store.models import User
from runtime.typedefs import OPERATOR_TOKEN, STORE

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
    key_id: str | None = None  # builder
    user: User | None = None  # operator

    @property
    def auth(self) -> TenantAuth:
        assert self.key_id is not None, "only a builder session acts as a tenant key"
        return TenantAuth(tenant_id=self.tenant_id, key_id=self.key_id)

    @property
    def user_id(self) -> str:
        assert self.user is not None
        return self.user.id


SESSION_KEY: Any = web.RequestKey("console_session", object) if hasattr(web, "RequestKey") \
    else "console_session"

# Signed-out session ids on this node -> when they would have expired anyway.
SIGNED_OUT: web.AppKey[dict[str, float]] = web.AppKey("console_signed_out", dict)


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
    payload = {
        "v": 1, "sid": secrets.token_urlsafe(18), "k": kind,
        "h": ids.hash_secret(secret), "exp": int(time.time()) + LIFETIME_SECONDS,
    }
    response.set_cookie(
        COOKIE, sign(request.app, payload), path=COOKIE_PATH, httponly=True,
        samesite="Strict", secure=is_secure(request), max_age=LIFETIME_SECONDS,
    )
    response.del_cookie(PRE_COOKIE, path=COOKIE_PATH)


def end_session(request: web.Request, response: web.StreamResponse) -> None:
    data = unsign(request.app, request.cookies.get(COOKIE, ""))
    if data is not None and isinstance(data.get("sid"), str):
        signed_out = request.app[SIGNED_OUT]
        now = time.time()
        for sid, until in list(signed_out.items()):
            if until < now:
                del signed_out[sid]
        signed_out[str(data["sid"])] = float(data.get("exp", now + LIFETIME_SECONDS))  # type: ignore[arg-type]
    response.del_cookie(COOKIE, path=COOKIE_PATH)


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
    if not (isinstance(sid, str) and isinstance(digest, str) and isinstance(expires, int)):
        return None
    if expires < time.time() or sid in request.app[SIGNED_OUT]:
        return None
    store = request.app[STORE]
    csrf = derived_token(request.app, "csrf", sid)
    if kind == "builder":
        key = await store.find_api_key(digest)
        if key is None:
            return None
        return Session("builder", sid, key.tenant_id, csrf, key_id=key.id)
    if kind == "operator":
        user = await store.find_user_by_token(digest)
        if user is None:
            return None
        return Session("operator", sid, user.tenant_id, csrf, user=user)
    return None


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
