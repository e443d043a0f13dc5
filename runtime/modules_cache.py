"""Webhook token → module and its active script, held in memory (no DB read on the hot path).

Every API change to a module or its versions calls `invalidate(module_id)` on this node. A
multi-node backend also calls it when another node announces a change, and while it cannot
hear those announcements it stops caching (`read_through`): every lookup reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.store import Store
from runtime.store.models import Module, ScriptVersion


@dataclass(frozen=True, slots=True)
class ActiveModule:
    module: Module
    version: ScriptVersion | None


# The active scripts' text the cache may hold (characters). A count alone let a tenant with
# many modules of large scripts (64 KiB each, no limit on modules) hold up to 650 MB of the
# service's memory through the 10,000 entries, one webhook per module.
MAX_SOURCE_CHARS = 64 * 1024 * 1024


def _weight(entry: ActiveModule) -> int:
    return len(entry.version.source) if entry.version is not None else 0


class ModuleCache:
    def __init__(self, store: Store, max_entries: int = 10_000,
                 max_source_chars: int = MAX_SOURCE_CHARS) -> None:
        self.store = store
        self.max_entries = max_entries
        self.max_source_chars = max_source_chars
        # In the order cached: the oldest entries go first when a bound is reached.
        self._by_token: dict[str, ActiveModule] = {}
        self._token_of: dict[str, str] = {}
        self._source_chars = 0
        # Bumped by every invalidation: a lookup that overlapped one does not cache what it
        # read, which may predate the change (another node's change arrives at any moment).
        self._generation = 0
        self._caching = True

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
        if generation != self._generation or not self._caching:
            return entry
        weight = _weight(entry)
        while self._by_token and (len(self._by_token) >= self.max_entries or
                                  self._source_chars + weight > self.max_source_chars):
            self._drop(next(iter(self._by_token)))
        self._drop(self._token_of.get(module.id))  # its entry under an earlier token
        self._by_token[token] = entry
        self._token_of[module.id] = token
        self._source_chars += weight
        return entry

    def _drop(self, token: str | None) -> None:
        entry = self._by_token.pop(token, None) if token is not None else None
        if entry is not None:
            self._source_chars -= _weight(entry)
            if self._token_of.get(entry.module.id) == token:
                del self._token_of[entry.module.id]

    def invalidate(self, module_id: str) -> None:
        self._generation += 1
        self._drop(self._token_of.get(module_id))

    def read_through(self) -> None:
        """Until `cache_again`: cache nothing, forget what is cached (changes made elsewhere
        may go unheard meanwhile, so nothing held here can be trusted)."""
        self._caching = False
        self.clear()

    def cache_again(self) -> None:
        """Changes are heard again: cache from now on (nothing read before is kept)."""
        self.clear()
        self._caching = True

    def clear(self) -> None:
        self._generation += 1
        self._by_token.clear()
        self._token_of.clear()
        self._source_chars = 0

    @property
    def source_chars(self) -> int:
        """The characters of script text held now."""
        return self._source_chars
