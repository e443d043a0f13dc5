"""Who is asking: the operator, a tenant (API key) or a user (user token).

Credentials travel as `Authorization: Bearer <secret>`. Browsers cannot set headers on a
WebSocket or an <audio> source, so a user token may also come as `?token=`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from runtime import ids
from runtime.errors import unauthorized
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
    if allow_query:
        token = request.query.get("token")
        if token and token.isascii():
            return token
    return None


def require_operator(request: web.Request) -> None:
    secret = bearer(request)
    if secret is None or not hmac.compare_digest(secret, request.app[OPERATOR_TOKEN]):
        raise unauthorized("this needs the operator token")


async def require_tenant(request: web.Request) -> TenantAuth:
    secret = bearer(request)
    if secret is None:
        raise unauthorized("this needs a tenant API key")
    key = await request.app[STORE].find_api_key(ids.hash_secret(secret))
    if key is None:
        raise unauthorized("unknown or revoked API key")
    return TenantAuth(tenant_id=key.tenant_id, key_id=key.id)


async def require_user(request: web.Request) -> User:
    secret = bearer(request, allow_query=True)
    if secret is None:
        raise unauthorized("this needs a user token")
    user = await request.app[STORE].find_user_by_token(ids.hash_secret(secret))
    if user is None:
        raise unauthorized("unknown or revoked user token")
    return user


async def require_tenant_or_user(request: web.Request) -> str:
    """The tenant id of either a tenant key or a user token (for reads both may do)."""
    secret = bearer(request, allow_query=True)
    if secret is None:
        raise unauthorized()
    store = request.app[STORE]
    digest = ids.hash_secret(secret)
    key = await store.find_api_key(digest)
    if key is not None:
        return key.tenant_id
    user = await store.find_user_by_token(digest)
    if user is not None:
        return user.tenant_id
    raise unauthorized("unknown or revoked credentials")
