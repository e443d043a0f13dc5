"""Users of a tenant: what a new one needs, and ending one of their tokens or the user itself,
everywhere at once (the API and the console's admin pages both come here)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from runtime.hub import Credential, CredentialEnded, EndReason
from runtime.json_body import Body
from runtime.openapi.models import not_blank
from runtime.operations.services import Services

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class NewUserBody(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                    not_blank()]
    email: Email | None = None


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
