"""The webhook token cache: a lookup that overlaps an invalidation does not cache what it read
(with several nodes, another node's change can be announced at any moment)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.modules_cache import ModuleCache
from runtime.store import Store
from runtime.store.models import NewModule, ScriptVersion


class SlowAfterReading:
    """The real store, whose active-version read takes its time to come back (as over a
    network): it has read, and the answer is on its way, when `arrived` is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.arrived = asyncio.Event()
        self.deliver = asyncio.Event()

    async def get_module_by_webhook_token(self, token: str) -> Any:
        return await self.store.get_module_by_webhook_token(token)

    async def get_active_version(self, tenant_id: str, module_id: str) -> ScriptVersion | None:
        version = await self.store.get_active_version(tenant_id, module_id)
        self.arrived.set()
        await self.deliver.wait()
        return version


async def test_a_lookup_overlapping_an_invalidation_is_not_cached(store: Store) -> None:
    tenant = await store.create_tenant("acme")
    module = await store.create_module(tenant.id, NewModule(name="m", region="RU"))
    v1 = await store.add_version(tenant.id, module.id, "v1")
    slow = SlowAfterReading(store)
    cache = ModuleCache(slow)  # type: ignore[arg-type]

    lookup = asyncio.ensure_future(cache.by_token(module.webhook_token))
    await slow.arrived.wait()  # it has read v1 ...
    v2 = await store.add_version(tenant.id, module.id, "v2")
    cache.invalidate(module.id)  # ... and v2 is announced before the answer arrives
    slow.deliver.set()
    first = await lookup
    assert first is not None and first.version == v1  # that request was served as it came
    entry = await cache.by_token(module.webhook_token)  # the next one reads again
    assert entry is not None and entry.version == v2
    assert await cache.by_token(module.webhook_token) is entry  # and caches it


async def test_the_cache_holds_a_bounded_amount_of_script_text(store: Store) -> None:
    # Many modules with large scripts, one webhook each: the oldest entries make room (a
    # count alone let 10,000 scripts of 64 KiB stay in the service's memory).
    tenant = await store.create_tenant("acme")
    cache = ModuleCache(store, max_source_chars=10_000)
    tokens = {}
    for n in range(8):
        module = await store.create_module(tenant.id, NewModule(name=f"m{n}", region="RU"))
        await store.add_version(tenant.id, module.id, f"# {n}\n" + "x = 1\n" * 500)
        tokens[module.id] = module.webhook_token
        entry = await cache.by_token(module.webhook_token)
        assert entry is not None and entry.version is not None
        assert entry.version.source.startswith(f"# {n}\n")
        assert cache.source_chars <= 10_000
    first, *_ = tokens
    again = await cache.by_token(tokens[first])  # read again, and right
    assert again is not None and again.module.id == first
    assert cache.source_chars <= 10_000
    cache.invalidate(first)
    assert cache.source_chars <= 10_000 - 3000
