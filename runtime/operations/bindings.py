"""Member bindings of a module (telephony member id, an extension, -> a user of the tenant):
what an id may be, and changing them (the webhook path then forgets its cached module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import StringConstraints

from runtime.operations import caps
from runtime.operations.modules import module_changed
from runtime.operations.services import Services
from runtime.store.base import Tx
from runtime.store.models import Binding, Module

# Stripped, as the console's "bind by hand" form strips what is typed: an id with a space
# around it matches no number a script reports, so the binding would never ring anyone.
MemberId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                            pattern=r"\S")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


async def set_bindings(services: Services, module: Module, bindings: Mapping[str, str | None],
                       *, replace: bool) -> list[Binding] | None:
    """Bind (a user id) or unbind (None) each member; with `replace`, the others are unbound.
    The module's bindings after, or None when the module is gone. 404 for an unknown user;
    409 `limit_reached` when they would grow past tenant_limits.max_bindings_per_module."""
    limit = caps.limit_of(services, caps.BINDINGS)

    async def unit(tx: Tx) -> list[Binding] | None:
        await _require_room(tx, limit, module, bindings, replace=replace)
        return await tx.set_bindings(module.tenant_id, module.id, bindings, replace=replace)

    result = await services.store.write(unit)
    if result is not None:
        module_changed(services, module.id)
    return result


async def _require_room(tx: Tx, limit: int, module: Module,
                        bindings: Mapping[str, str | None], *, replace: bool) -> None:
    """Refuse a change that leaves the module more bindings than its cap and more than it has
    (one that does not grow them passes, so a lowered cap never stops unbinding). In the
    change's own unit, under the module's cap lock (`tx.count_owned`)."""
    bound = {member for member, user in bindings.items() if user is not None}
    existing_count = await tx.count_owned(caps.BINDINGS.kind, module.id)
    if replace and len(bound) <= limit:
        return  # a replacement leaves exactly these
    if not replace and existing_count + len(bound) <= limit:
        return  # even if every one were new
    existing = {b.member_id for b in await tx.list_bindings(module.tenant_id, module.id) or ()}
    after = bound if replace else (existing - set(bindings)) | bound
    if len(after) > limit and len(after) > len(existing):
        raise caps.limit_reached(caps.BINDINGS, limit)
