"""Caps on what a tenant key can create (config `tenant_limits.max_*`), checked by the
operations that create it, so the API and the console refuse alike: 409 `limit_reached`,
naming the limit and its configuration key.

A cap is checked by counting before the write, outside its transaction: requests racing each
other may pass it by the few that run at once. That bound is all a cap is for (one key cannot
fill the disk every tenant shares); no tenant is meant to come near it.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import ApiError
from runtime.operations.services import Services
from runtime.store.queries import OwnedKind


@dataclass(frozen=True, slots=True)
class Cap:
    kind: OwnedKind
    config_key: str  # the field of TenantLimitsConfig
    what: str  # plural, as the message names it
    owner: str  # whose they are: "tenant", "module", "user"


MODULES = Cap("modules", "max_modules", "modules", "tenant")
USERS = Cap("users", "max_users", "users", "tenant")
VERSIONS = Cap("versions", "max_versions_per_module", "versions", "module")
BINDINGS = Cap("bindings", "max_bindings_per_module", "member bindings", "module")
LIVE_TOKENS = Cap("live_user_tokens", "max_tokens_per_user", "live tokens", "user")


def limit_reached(cap: Cap, limit: int) -> ApiError:
    """409 `limit_reached`: the owner has `limit` of them, the most allowed."""
    return ApiError(
        409, "limit_reached",
        f"the {cap.owner} has reached its limit of {limit} {cap.what} "
        f"(tenant_limits.{cap.config_key} in the service's configuration); "
        f"delete some first, or ask the operator to raise it",
        details={"limit": f"tenant_limits.{cap.config_key}", "max": limit})


def limit_of(services: Services, cap: Cap) -> int:
    limit: int = getattr(services.config.tenant_limits, cap.config_key)
    return limit


async def require_room(services: Services, cap: Cap, owner_id: str, adding: int = 1) -> None:
    """Raise `limit_reached` unless the owner can have `adding` more of the cap's kind."""
    limit = limit_of(services, cap)
    if await services.store.count_owned(cap.kind, owner_id) + adding > limit:
        raise limit_reached(cap, limit)
