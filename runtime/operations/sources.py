"""The script a run uses: text given with the request (a draft), a stored version, or the
module's active version."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import ApiError, bad_request, found
from runtime.operations.services import Services
from runtime.store.models import Module, ScriptVersion
from sandbox import DEFAULT_LIMITS

MAX_SOURCE_BYTES = DEFAULT_LIMITS.source_bytes  # 64 KiB, as an upload may be


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    version_id: str | None  # None for a draft


async def active_version(services: Services, module: Module) -> ScriptVersion:
    """The module's active version, or a 409 `no_active_script`."""
    version = await services.store.get_active_version(module.tenant_id, module.id)
    if version is None:
        raise ApiError(409, "no_active_script", "this module has no active script version")
    return version


async def script_for(services: Services, module: Module, source: str | None,
                     version_id: str | None) -> Script:
    """The script to run: given text, a given version of this module, or the active one."""
    if source is not None and version_id is not None:
        raise bad_request("give either source or version_id, not both")
    if source is not None:
        if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise ApiError(422, "invalid_script", "the script is larger than 64 KiB")
        return Script(source, None)
    if version_id is not None:
        version = found(await services.store.get_version(module.tenant_id, module.id,
                                                         version_id), "version")
        return Script(version.source, version.id)
    version = await active_version(services, module)
    return Script(version.source, version.id)
