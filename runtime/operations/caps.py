"""Caps on what a tenant key can create (config `tenant_limits.max_*`), checked by the
operations that create it, so the API and the console refuse alike: 409 `limit_reached`,
naming the limit and its configuration key. No tenant is meant to come near one: a cap is
there so one key cannot fill the disk every tenant shares.

A cap is checked inside the unit that creates (`require_room(tx, ...)`): `tx.count_owned` holds
the owner's cap lock to COMMIT on PostgreSQL, and SQLite's one writer runs one unit at a time,
so two creations at once never both pass a count only one of them fits under.

    await services.store.write(lambda tx: create_in(tx))   # where create_in starts with
    await caps.require_room(tx, caps.limit_of(services, caps.USERS), caps.USERS, tenant_id)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from runtime.errors import ApiError
from runtime.operations.services import Services
from runtime.store import Conflict
from runtime.store.base import Tx
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
CONTACTS = Cap("contacts", "max_contacts", "contacts", "tenant")


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


async def room_for(tx: Tx, limit: int, cap: Cap, owner_id: str, adding: int = 1) -> bool:
    """Whether the owner can have `adding` more of the cap's kind; inside the creating unit,
    holding the owner's cap lock from here to its COMMIT."""
    return await tx.count_owned(cap.kind, owner_id) + adding <= limit


async def require_room(tx: Tx, limit: int, cap: Cap, owner_id: str, adding: int = 1) -> None:
    """Raise `limit_reached` unless the owner can have `adding` more (see `room_for`)."""
    if not await room_for(tx, limit, cap, owner_id, adding):
        raise limit_reached(cap, limit)


async def has_room(services: Services, cap: Cap, owner_id: str) -> None:
    """Raise `limit_reached` when the owner is at its cap already, read outside any unit: for
    an operation that spends a sandbox worker before its unit (a version's check), so a
    doomed upload costs nobody a worker. Its unit checks again (`require_room`)."""
    limit = limit_of(services, cap)
    if await services.store.count_owned(cap.kind, owner_id) + 1 > limit:
        raise limit_reached(cap, limit)


# --- bytes: the source a tenant's versions hold ---------------------------------------------

SOURCE_BYTES = "max_source_bytes"  # the field of TenantLimitsConfig


def source_bytes(source: str) -> int:
    """What a version adds to its tenant's total: its UTF-8 bytes, as the store counts them."""
    return len(source.encode("utf-8"))


def source_quota_reached(limit: int, used: int, adding: int) -> ApiError:
    """409 `limit_reached`: a version of `adding` bytes does not fit beside the `used` ones."""
    return ApiError(
        409, "limit_reached",
        f"the tenant's script versions hold {used} bytes of source; this one adds {adding} "
        f"and the tenant's quota is {limit} bytes (tenant_limits.{SOURCE_BYTES} in the "
        "service's configuration); delete modules you no longer use (a module's versions go "
        "with it), or ask the operator to raise it",
        details={"limit": f"tenant_limits.{SOURCE_BYTES}", "max": limit, "used": used,
                 "adding": adding})


def source_limit(services: Services) -> int:
    return services.config.tenant_limits.max_source_bytes


async def require_source_room(tx: Tx, limit: int, tenant_id: str, adding: int) -> None:
    """Raise `limit_reached` unless the tenant's versions can hold `adding` more bytes; inside
    the unit that stores the version, holding the tenant's cap lock (`tx.count_owned`) to its
    COMMIT, so two uploads at once never both fit under what only one of them fits under."""
    used = await tx.count_owned("source_bytes", tenant_id)
    if used + adding > limit:
        raise source_quota_reached(limit, used, adding)


async def has_source_room(services: Services, tenant_id: str, adding: int) -> None:
    """`require_source_room` read outside any unit, before an upload's check spends a worker
    (the unit checks again)."""
    limit = source_limit(services)
    used = await services.store.count_owned("source_bytes", tenant_id)
    if used + adding > limit:
        raise source_quota_reached(limit, used, adding)


class Named(Protocol):
    @property
    def id(self) -> str: ...


Created = TypeVar("Created")


async def create_named(services: Services, cap: Cap, owner_id: str,
                       create: Callable[[Tx], Awaitable[Created]],
                       holder: Callable[[], Awaitable[Named | None]], id_key: str) -> Created:
    """`create` in a unit under the owner's cap; its name taken is 409 `conflict` naming the
    record that holds it (`details[id_key]`): a client retrying a create whose answer it lost
    learns which one it made."""
    limit = limit_of(services, cap)

    async def unit(tx: Tx) -> Created:
        await require_room(tx, limit, cap, owner_id)
        return await create(tx)

    try:
        return await services.store.write(unit)
    except Conflict as taken:
        existing = await holder()
        if existing is None:  # deleted again meanwhile
            raise
        raise ApiError(409, "conflict", str(taken), details={id_key: existing.id}) from None
