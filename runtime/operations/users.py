"""Users of a tenant: what a new one needs, and ending one of their tokens or the user itself,
everywhere at once (the API and the console's admin pages both come here)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints, field_validator

from runtime.hub import Credential, CredentialEnded, EndReason
from runtime.json_body import Body
from runtime.openapi.models import schema_extra
from runtime.operations import caps
from runtime.operations.services import Services
from runtime.store.base import Tx
from runtime.store.models import User, UserToken

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


# Characters a name shown on pages (and typed back to confirm a deletion) must not hold:
# controls (NUL, line breaks, ...) and invisible formatting (zero widths, bidirectional
# overrides) that could not be typed or would misdraw what follows.
_UNSHOWABLE = (r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
               r"\u2060-\u2064\u2066-\u206f\ufeff")
# Not blank, and nothing unshowable: one pattern, checked here and published in the API's
# schema (so clients and the API's fuzz test know the rule).
SHOWN_NAME = rf"^[^{_UNSHOWABLE}]*[^\s{_UNSHOWABLE}][^{_UNSHOWABLE}]*$"


class NewUserBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                    schema_extra(pattern=SHOWN_NAME)]
    email: Email | None = None

    @field_validator("name")
    @classmethod
    def _showable(cls, name: str) -> str:
        if re.fullmatch(SHOWN_NAME, name) is None:
            raise ValueError("must not be blank or hold control or formatting characters")
        return name


async def create_user(services: Services, tenant_id: str, body: NewUserBody) -> User:
    """A new user; 409 `conflict` for a name taken (that user's id in `details.user_id`),
    `limit_reached` when the tenant has tenant_limits.max_users."""
    return await caps.create_named(
        services, caps.USERS, tenant_id,
        lambda tx: tx.create_user(tenant_id, body.name, body.email),
        lambda: services.store.get_user_by_name(tenant_id, body.name), "user_id")


async def create_token(services: Services, tenant_id: str, user_id: str
                       ) -> tuple[UserToken, str] | None:
    """A new token of the user and its secret (None: no such user of this tenant); 409
    `limit_reached` when the user has tenant_limits.max_tokens_per_user live tokens."""
    if await services.store.get_user(tenant_id, user_id) is None:
        return None
    limit = caps.limit_of(services, caps.LIVE_TOKENS)

    async def unit(tx: Tx) -> tuple[UserToken, str] | None:
        await caps.require_room(tx, limit, caps.LIVE_TOKENS, user_id)
        return await tx.create_user_token(tenant_id, user_id)

    return await services.store.write(unit)


async def revoke_token(services: Services, tenant_id: str, user_id: str, token_id: str
                       ) -> bool:
    """Revoke one of a user's tokens and end what it opened on every node (the API and the
    console both come here). False: no such token of this user, or revoked already."""
    if not await services.store.revoke_user_token(tenant_id, user_id, token_id):
        return False
    await services.hub.end(CredentialEnded(Credential("user_token", token_id),
                                           EndReason.TOKEN_REVOKED))
    return True


async def remove_user(services: Services, tenant_id: str, user_id: str) -> bool:
    """Delete a user with its tokens and bindings and end its sockets and sessions on every
    node. False: no such user of this tenant."""
    if not await services.store.delete_user(tenant_id, user_id):
        return False
    await services.hub.end(CredentialEnded(Credential("user", user_id), EndReason.USER_DELETED))
    return True
