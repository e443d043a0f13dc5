"""The execution log's entries, as a tenant may read them: their secrets masked
(runtime/redaction.py), for the API and the console alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from runtime.contract import RESULT_MODELS
from runtime.errors import found
from runtime.operations.services import Services
from runtime.redaction import Redactor, redact, secret_values
from runtime.store.models import Execution, ListedExecution, Module
from runtime.store.retention import ModuleHealth

FUNCTIONS = tuple(RESULT_MODELS)  # the functions the log can be filtered by


async def tenant_execution(services: Services, tenant_id: str, execution_id: str) -> Execution:
    """The tenant's execution of that id, or a 404 `not_found` (also for another tenant's).
    As stored, secrets and all: for running it again, never for showing it."""
    return found(await services.store.get_execution(tenant_id, execution_id), "execution")


async def shown_execution(services: Services, tenant_id: str,
                          execution_id: str) -> tuple[Execution, list[str]]:
    """The tenant's execution of that id as it is shown: secrets masked, and what was
    (404 as `tenant_execution`)."""
    execution = await tenant_execution(services, tenant_id, execution_id)
    return redact(execution, await services.store.get_module(tenant_id, execution.module_id))


async def shown_list(services: Services, tenant_id: str,
                     executions: Sequence[ListedExecution]) -> list[ListedExecution]:
    """A page of the log as it is listed: each error message with its module's secret settings
    masked (a script may raise with one in its message)."""
    # One Redactor a module for the whole page: its secrets' spellings are made once, and the
    # page searches within one view's budget (a module of hundreds of secrets, 500 errors).
    redactors: dict[str, Redactor] = {}
    for module_id in {e.module_id for e in executions if e.error}:
        module = await services.store.get_module(tenant_id, module_id)
        secrets = secret_values(module) if module is not None else {}
        if secrets:
            redactors[module_id] = Redactor(secrets)
    return [replace(e, error=redactors[e.module_id].json(e.error, "error"))
            if e.error and e.module_id in redactors else e for e in executions]


def shown_health(health: ModuleHealth, module: Module) -> ModuleHealth:
    """A module's health as it is shown: its last error's message with the module's secret
    settings masked, as the execution it came from is."""
    last = health.last_error
    secrets = secret_values(module)
    if last is None or not last.error or not secrets:
        return health
    error = Redactor(secrets).json(last.error, "error")
    return replace(health, last_error=replace(last, error=error))
