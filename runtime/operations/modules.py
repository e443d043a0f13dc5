"""A tenant's module: finding it (another tenant's is as unknown as a missing one), creating
and changing it, its webhook URL, and forgetting the webhook path's cached copy after a
change."""

from __future__ import annotations

from runtime.config import Config
from runtime.errors import found
from runtime.operations import caps
from runtime.operations.module_fields import (
    ModulePatchBody,
    NewModuleBody,
    check_secrets,
    module_patch,
    unique,
)
from runtime.operations.services import Services
from runtime.store.models import Module, NewModule


async def tenant_module(services: Services, tenant_id: str, module_id: str) -> Module:
    """The tenant's module of that id, or a 404 `not_found` (also for another tenant's)."""
    return found(await services.store.get_module(tenant_id, module_id), "module")


def module_changed(services: Services, module_id: str) -> None:
    """Forget this node's cached copy of the module (the webhook path's, runtime/modules_cache.py)
    after any change to it, its versions or its bindings; with PostgreSQL the other nodes hear
    of the change from the database (runtime/cluster.py)."""
    services.modules.invalidate(module_id)


def webhook_url(config: Config, module: Module) -> str:
    """The address the module's provider calls."""
    return f"{config.base_url}/hooks/{module.webhook_token}"


async def create_module(services: Services, tenant_id: str, body: NewModuleBody) -> Module:
    """A new module (409 `conflict` when the tenant has one of that name, its id in
    `details.module_id`; `limit_reached` when it has tenant_limits.max_modules)."""
    secrets = unique(body.secrets)
    check_secrets(secrets, body.settings)
    new = NewModule(name=body.name, region=body.region, description=body.description,
                    settings=body.settings, secrets=secrets, allowlist=unique(body.allowlist))
    return await caps.create_named(
        services, caps.MODULES, tenant_id, lambda tx: tx.create_module(tenant_id, new),
        lambda: services.store.get_module_by_name(tenant_id, new.name), "module_id")


async def update_module(services: Services, module: Module, body: ModulePatchBody) -> Module:
    """The module changed as `body` says (a secret sent back masked keeps its value); 422 for
    a secret that is not a setting, 409 for a name taken, 404 when it is gone."""
    patch = module_patch(module, body)
    updated = found(await services.store.update_module(module.tenant_id, module.id, patch),
                    "module")
    module_changed(services, module.id)
    return updated


async def new_webhook_token(services: Services, tenant_id: str, module_id: str) -> Module:
    """A new webhook URL for the module: the old one answers 404 from now on, on every node.
    404 for an unknown module."""
    module = found(await services.store.rotate_webhook_token(tenant_id, module_id), "module")
    module_changed(services, module_id)
    return module


async def delete_module(services: Services, tenant_id: str, module_id: str) -> None:
    """Delete the module with its versions, bindings, storage, calls and execution log.
    404 for an unknown module (or one deleted meanwhile)."""
    found(await services.store.delete_module(tenant_id, module_id) or None, "module")
    module_changed(services, module_id)
