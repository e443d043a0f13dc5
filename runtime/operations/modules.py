"""A tenant's module: finding it (another tenant's is as unknown as a missing one), its webhook
URL, and forgetting the webhook path's cached copy after a change."""

from __future__ import annotations

from runtime.config import Config
from runtime.errors import found
from runtime.operations.services import Services
from runtime.store.models import Module


async def tenant_module(services: Services, tenant_id: str, module_id: str) -> Module:
    """The tenant's module of that id, or a 404 `not_found` (also for another tenant's)."""
    return found(await services.store.get_module(tenant_id, module_id), "module")


def module_changed(services: Services, module_id: str) -> None:
    """Forget the webhook path's cached copy of the module after any change to it or its
    versions (runtime/modules_cache.py; other nodes hear of it through the cluster)."""
    services.modules.invalidate(module_id)


def webhook_url(config: Config, module: Module) -> str:
    """The address the module's provider calls."""
    return f"{config.base_url}/hooks/{module.webhook_token}"
