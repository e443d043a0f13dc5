"""Who is asking: the operator, a tenant (API key) or a user (user token).

A live socket keeps what its credential checked out as (`UserAuth`) and asks
`user_token_ended` again later: a credential ends for open sockets too (runtime/hub.py).

Credentials travel as `Authorization: Bearer <secret>`. Browsers cannot set headers on a
WebSocket or an <audio> source, so a user token may also come as `?token=`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from runtime import ids
from runtime.errors import ApiError, unauthorized
from runtime.hub import Credential, EndReason
from runtime.store import Store
from runtime.store.models import User
from runtime.typedefs import OPERATOR_TOKEN, STORE


@dataclass(frozen=True, slots=True)
class TenantAuth:
    tenant_id: str
    key_id: str


def bearer(request: web.Request, *, allow_query: bool = False) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    # Every credential we issue is ASCII; anything else is none (and must not reach
    # hmac.compare_digest, which refuses non-ASCII text with a TypeError).
    if scheme.lower() == "bearer" and secret.strip() and secret.isascii():
        return secret.strip()
    return query_token(request) if allow_query else None


def query_token(request: web.Request) -> str | None:
    """A user token as `?token=`, for what cannot send headers (an <audio> element, a
    browser's WebSocket)."""
    token = request.query.get("token")
    return token if token and token.isascii() else None


def _kind(request: web.Request, secret: str) -> str | None:
    """Which kind of credential a refused secret is, when it says so by its prefix (or is the
    operator token), so the refusal says "wrong kind" rather than "unknown or revoked"."""
    if secret.startswith(ids.API_KEY_PREFIX):
        return "a tenant API key"
    if secret.startswith(ids.USER_TOKEN_PREFIX):
        return "a user token"
    if hmac.compare_digest(secret, request.app[OPERATOR_TOKEN]):
        return "the operator token"
    return None


def _refused(request: web.Request, secret: str, needed: str, unknown: str) -> ApiError:
    kind = _kind(request, secret)
    if kind is None or kind in needed:  # one of the kinds asked for, and not found
        return unauthorized(unknown)
    return unauthorized(f"this needs {needed}, not {kind}")


def require_operator(request: web.Request) -> None:
    secret = bearer(request)
    if secret is None:
        raise unauthorized("this needs the operator token")
    if not hmac.compare_digest(secret, request.app[OPERATOR_TOKEN]):
        kind = _kind(request, secret)
        raise unauthorized("this needs the operator token" + (f", not {kind}" if kind else ""))


async def require_tenant(request: web.Request) -> TenantAuth:
    secret = bearer(request)
    if secret is None:
        raise unauthorized("this needs a tenant API key")
    key = await request.app[STORE].find_api_key(ids.hash_secret(secret))
    if key is None:
        raise _refused(request, secret, "a tenant API key", "unknown or revoked API key")
    return TenantAuth(tenant_id=key.tenant_id, key_id=key.id)


@dataclass(frozen=True, slots=True)
class UserAuth:
    """A user token that checked out: its user, its id, and the digest it is looked up by
    (kept to look it up again while a live socket stays open)."""

    user: User
    token_id: str
    token_hash: str

    @property
    def tenant_id(self) -> str:
        return self.user.tenant_id

    @property
    def credentials(self) -> frozenset[Credential]:
        """What a socket opened with this token stands on: the token, and the user."""
        return frozenset({Credential("user", self.user.id),
                          Credential("user_token", self.token_id)})


async def find_user_auth(store: Store, token_hash: str) -> UserAuth | None:
    found = await store.find_user_token(token_hash)
    if found is None:
        return None
    token, user = found
    return UserAuth(user=user, token_id=token.id, token_hash=token_hash)


async def user_token_ended(store: Store, auth: UserAuth) -> EndReason | None:
    """Why a user token that once checked out no longer does; None while it still does."""
    found = await store.find_user_token(auth.token_hash)
    if found is not None and found[0].id == auth.token_id and found[1].id == auth.user.id:
        return None
    if await store.get_user(auth.user.tenant_id, auth.user.id) is None:
        return EndReason.USER_DELETED
    return EndReason.TOKEN_REVOKED


async def require_user_auth(request: web.Request) -> UserAuth:
    secret = bearer(request, allow_query=True)
    if secret is None:
        raise unauthorized("this needs a user token")
    auth = await find_user_auth(request.app[STORE], ids.hash_secret(secret))
    if auth is None:
        raise _refused(request, secret, "a user token", "unknown or revoked user token")
    return auth


async def require_user(request: web.Request) -> User:
    return (await require_user_auth(request)).user


async def require_tenant_or_user_auth(request: web.Request) -> TenantAuth | UserAuth:
    """A tenant key or a user token (for what both may do, each within its own rules)."""
    in_header = bearer(request)
    secret = in_header or query_token(request)
    if secret is None:
        raise unauthorized()
    store = request.app[STORE]
    digest = ids.hash_secret(secret)
    key = await store.find_api_key(digest)
    if key is not None:
        # `?token=` is for a user token; a tenant key in a URL would be written to every
        # access log, proxy log and browser history it passes through.
        if in_header is None:
            raise unauthorized("a tenant API key goes in the Authorization header, never in "
                               "the URL (?token= takes a user token)")
        return TenantAuth(tenant_id=key.tenant_id, key_id=key.id)
    user = await find_user_auth(store, digest)
    if user is not None:
        return user
    raise _refused(request, secret, "a tenant API key or a user token",
                   "unknown or revoked credentials")

