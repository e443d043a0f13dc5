"""Member bindings of a module (telephony member id, an extension, -> a user of the tenant):
what an id may be, and changing them (the webhook path then forgets its cached module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import StringConstraints

from runtime.operations.modules import module_changed
from runtime.operations.services import Services
from runtime.store.models import Binding, Module

# Stripped, as the console's "bind by hand" form strips what is typed: an id with a space
# around it matches no number a script reports, so the binding would never ring anyone.
MemberId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                            pattern=r"\S")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


async def set_bindings(services: Services, module: Module, bindings: Mapping[str, str | None],
                       *, replace: bool) -> list[Binding] | None:
    """Bind (a user id) or unbind (None) each member; with `replace`, the others are unbound.
    The module's bindings after, or None when the module is gone. 404 for an unknown user."""
    result = await services.store.set_bindings(module.tenant_id, module.id, bindings,
                                               replace=replace)
    if result is not None:
        module_changed(services, module.id)
    return result
