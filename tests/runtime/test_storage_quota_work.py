"""The storage quota check at call time (runtime/capabilities.py) when a module is at its
quota: right about what the call's writes replace, and each key looked up once, however many
keys the call touches (it walked every touched key on every over-quota set: a script could
make the service do work growing with the square of its writes)."""

from __future__ import annotations

import json
from datetime import datetime

from runtime.capabilities import CapabilitySession
from runtime.store.models import StorageItem, StorageLimits, StorageUsage, utc_now


class CommittedStorage:
    """A module's committed storage: `keys` keys of `size` bytes each, as the store counts."""

    def __init__(self, keys: list[str], value: int) -> None:
        self.items = {key: StorageItem(module_id="m", key=key, value=value,
                                       size=len(key) + len(json.dumps(value)),
                                       expires_at=None, updated_at=utc_now())
                      for key in keys}
        self.reads = 0

    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        self.reads += 1
        return self.items.get(key)

    async def storage_usage(self, module_id: str) -> StorageUsage:
        return StorageUsage(keys=len(self.items), bytes=sum(i.size for i in self.items.values()))


class CountingSession(CapabilitySession):
    looked_up = 0

    async def _committed_size(self, key: str) -> int | None:
        CountingSession.looked_up += 1
        return await super()._committed_size(key)


def session(store: CommittedStorage, max_keys: int) -> CountingSession:
    CountingSession.looked_up = 0
    return CountingSession(store=store, module_id="m", limits=StorageLimits(max_keys=max_keys),
                           make_fetcher=lambda: None)  # type: ignore[arg-type,return-value]


async def test_a_full_module_swapping_many_keys_is_checked_once_per_key() -> None:
    count = 1500
    old = [f"old-{n}" for n in range(count)]
    store = CommittedStorage(old, 1)
    calls = session(store, max_keys=count)
    for n in range(count):
        # Each set is over the quota on the quick count: the deletes make the room.
        assert await calls.handle({"op": "storage.delete", "key": old[n]}) == {"ok": True}
        assert await calls.handle({"op": "storage.set", "key": f"new-{n}", "value": 2}) == \
            {"ok": True}
    refused = await calls.handle({"op": "storage.set", "key": "one-more", "value": 2})
    assert refused == {"ok": False, "error": f"this module's storage is full ({count} keys)"}
    # Changing a key the call already wrote stays allowed at the quota.
    assert await calls.handle({"op": "storage.set", "key": "new-0", "value": 3}) == {"ok": True}
    assert [w.key for w in calls.storage_writes if w.op == "set"] == \
        [f"new-{n}" for n in range(count)]
    # Each key looked up about once (old code: about count**2 / 2 lookups).
    assert CountingSession.looked_up <= 3 * count + 10, CountingSession.looked_up
    assert store.reads <= 2 * count + 2


async def test_a_full_module_may_overwrite_its_own_committed_keys() -> None:
    keys = [f"k{n}" for n in range(50)]
    calls = session(CommittedStorage(keys, 1), max_keys=50)
    for key in keys:
        assert await calls.handle({"op": "storage.set", "key": key, "value": 7}) == {"ok": True}
    assert (await calls.handle({"op": "storage.set", "key": "k50", "value": 7}))["ok"] is False
    assert await calls.handle({"op": "storage.delete", "key": "k0"}) == {"ok": True}
    assert await calls.handle({"op": "storage.set", "key": "k50", "value": 7}) == {"ok": True}
    assert (await calls.handle({"op": "storage.set", "key": "k51", "value": 7}))["ok"] is False
