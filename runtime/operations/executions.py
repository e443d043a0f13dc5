"""The execution log's entries, as a tenant may read them."""

from __future__ import annotations

from runtime.contract import RESULT_MODELS
from runtime.errors import found
from runtime.operations.services import Services
from runtime.store.models import Execution

FUNCTIONS = tuple(RESULT_MODELS)  # the functions the log can be filtered by


async def tenant_execution(services: Services, tenant_id: str, execution_id: str) -> Execution:
    """The tenant's execution of that id, or a 404 `not_found` (also for another tenant's)."""
    return found(await services.store.get_execution(tenant_id, execution_id), "execution")
