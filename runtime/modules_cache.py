"""Webhook token → module and its active script, held in memory (no DB read on the hot path).

Every API change to a module or its versions calls `invalidate(module_id)` on this node. A
multi-node backend also calls it when another node announces a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.store import Store
from runtime.store.models import Module, ScriptVersion


@dataclass(frozen=True, slots=True)
class ActiveModule:
    module: Module
    version: ScriptVersion | None


class ModuleCache:
    def __init__(self, store: Store, max_entries: int = 10_000) -> None:
        self.store = store
        self.max_entries = max_entries
        self._by_token: dict[str, ActiveModule] = {}
        self._token_of: dict[str, str] = {}
        # Bumped by every invalidation: a lookup that overlapped one does not cache what it
        # read, which may predate the change (another node's change arrives at any moment).
        self._generation = 0

    async def by_token(self, token: str) -> ActiveModule | None:
        cached = self._by_token.get(token)
        if cached is not None:
            return cached
        generation = self._generation
        module = await self.store.get_module_by_webhook_token(token)
        if module is None:
            return None
        version = await self.store.get_active_version(module.tenant_id, module.id)
        entry = ActiveModule(module, version)
        if generation != self._generation:
            return entry
        if len(self._by_token) >= self.max_entries:
            self._by_token.clear()
            self._token_of.clear()
        self._by_token[token] = entry
        self._token_of[module.id] = token
        return entry

    def invalidate(self, module_id: str) -> None:
        self._generation += 1
        token = self._token_of.pop(module_id, None)
        if token is not None:
            self._by_token.pop(token, None)

    def clear(self) -> None:
        self._generation += 1
        self._by_token.clear()
        self._token_of.clear()
