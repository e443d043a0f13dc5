"""What the host does when a running script calls `storage` (and routes `fetch` requests).

One `CapabilitySession` per execution. Storage reads see committed data plus this execution's
own writes; the writes themselves are only collected here and committed with the rest of the
webhook's effects (contract §3, §5): a failed call leaves storage as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from runtime.fetcher import FetchSession
from runtime.store.models import JSON, StorageItem, StorageLimits, StorageUsage, to_iso, utc_now

MAX_TTL_SECONDS = 10 * 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StorageWrite:
    op: Literal["set", "delete"]
    key: str
    value: JSON = None
    expires_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "key": self.key}
        if self.op == "set":
            data["value"] = self.value
            data["expires_at"] = to_iso(self.expires_at) if self.expires_at else None
        return data


def refused(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


class StorageReader(Protocol):
    """What a session reads of a module's committed storage: the service's `Store`, or the
    command line's file (`runtime.local_host.FileStorage`), so both get the same checks."""

    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        ...

    async def storage_usage(self, module_id: str) -> StorageUsage: ...


@dataclass
class CapabilitySession:
    store: StorageReader
    module_id: str
    limits: StorageLimits
    # Built on the first fetch() only: most calls never fetch, and a policy is not free.
    make_fetcher: Callable[[], FetchSession]
    writes: dict[str, StorageWrite] = field(default_factory=dict)
    fetcher: FetchSession | None = None
    _usage: tuple[int, int] | None = None
    # This call's writes as the store will count them (key -> bytes, None for a delete), and
    # the totals of its sets, kept as it goes so a check costs the same on the thousandth set.
    _sizes: dict[str, int | None] = field(default_factory=dict)
    _set_keys: int = 0
    _set_bytes: int = 0
    # key -> its committed size (None: absent), looked up only when a quota is near.
    _committed: dict[str, int | None] = field(default_factory=dict)
    # Of the keys this call wrote (`_sizes`), the committed ones they replace, summed as they
    # are looked up, and those not looked up yet: an over-quota check looks each key up once
    # and then costs the same however many keys the call touched.
    _replaced_keys: int = 0
    _replaced_bytes: int = 0
    _not_looked_up: set[str] = field(default_factory=set)

    @property
    def fetch_log(self) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in self.fetcher.log] if self.fetcher else []

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "fetch":
            if self.fetcher is None:
                self.fetcher = self.make_fetcher()
            return await self.fetcher.handle(request)
        key = request.get("key")
        if not isinstance(key, str) or not key or len(key) > self.limits.max_key_chars:
            return refused(
                f"a storage key must be a non-empty string of at most "
                f"{self.limits.max_key_chars} characters"
            )
        if op == "storage.get":
            return await self._get(key)
        if op == "storage.set":
            return await self._set(key, request.get("value"), request.get("ttl"))
        if op == "storage.delete":
            self.writes[key] = StorageWrite("delete", key)
            self._count(key, None)
            return {"ok": True}
        return refused(f"unknown capability {op!r}")

    @property
    def storage_writes(self) -> list[StorageWrite]:
        return list(self.writes.values())

    async def _get(self, key: str) -> dict[str, Any]:
        pending = self.writes.get(key)
        if pending is not None:
            if pending.op == "delete":
                return {"ok": True, "found": False, "value": None}
            return {"ok": True, "found": True, "value": pending.value}
        item = await self.store.storage_get(self.module_id, key, utc_now())
        if item is None:
            return {"ok": True, "found": False, "value": None}
        return {"ok": True, "found": True, "value": item.value}

    async def _set(self, key: str, value: Any, ttl: Any) -> dict[str, Any]:
        try:
            encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                                 allow_nan=False)
        except (TypeError, ValueError):
            return refused("a storage value must be plain JSON data")
        size = len(encoded.encode("utf-8"))
        if size > self.limits.max_value_bytes:
            return refused(
                f"a storage value may be at most {self.limits.max_value_bytes} bytes as JSON "
                f"(this one is {size})"
            )
        expires_at = None
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not (
                0 < ttl <= MAX_TTL_SECONDS
            ):
                return refused(f"ttl must be a positive number of seconds, at most "
                               f"{MAX_TTL_SECONDS} (ten years)")
            expires_at = utc_now() + timedelta(seconds=float(ttl))
        stored = len(key.encode("utf-8")) + size  # what the store counts: key + compact JSON
        problem = await self._check_quota(key, stored)
        if problem:
            return refused(problem)
        self.writes[key] = StorageWrite("set", key, json.loads(encoded), expires_at)
        self._count(key, stored)
        return {"ok": True}

    def _count(self, key: str, stored: int | None) -> None:
        """Keep the totals of this call's sets as a write to `key` replaces the previous one."""
        previous = self._sizes.get(key)
        if previous is not None:
            self._set_keys, self._set_bytes = self._set_keys - 1, self._set_bytes - previous
        if key not in self._sizes:  # a key new to this call: what it replaces, if known
            if key in self._committed:
                self._replace(self._committed[key])
            else:
                self._not_looked_up.add(key)
        self._sizes[key] = stored
        if stored is not None:
            self._set_keys, self._set_bytes = self._set_keys + 1, self._set_bytes + stored

    async def _check_quota(self, key: str, stored: int) -> str | None:
        """Refuse at call time what would fail at commit (the store enforces it again).

        The module's usage once this call's writes are applied, each counted as the store
        counts it, a write replacing what it overwrites: a module at its quota can still change
        a key it holds, or delete one and add another.
        """
        if self._usage is None:
            usage = await self.store.storage_usage(self.module_id)
            self._usage = (usage.keys, usage.bytes)
        keys, used = self._usage
        previous = self._sizes.get(key)
        new_keys = self._set_keys + 1 - (previous is not None)
        new_bytes = self._set_bytes + stored - (previous or 0)
        if keys + new_keys > self.limits.max_keys or used + new_bytes > self.limits.max_bytes:
            # Over on the quick count, which ignores what the writes replace: look the
            # replaced keys up (only now, so a call well within its quota reads nothing).
            while self._not_looked_up:
                touched = next(iter(self._not_looked_up))
                self._replace(await self._committed_size(touched))
                self._not_looked_up.discard(touched)
            keys, used = keys - self._replaced_keys, used - self._replaced_bytes
            if key not in self._sizes:
                replaced = await self._committed_size(key)
                if replaced is not None:
                    keys, used = keys - 1, used - replaced
        if keys + new_keys > self.limits.max_keys:
            return f"this module's storage is full ({self.limits.max_keys} keys)"
        if used + new_bytes > self.limits.max_bytes:
            return f"this module's storage is full ({self.limits.max_bytes} bytes)"
        return None

    def _replace(self, committed: int | None) -> None:
        if committed is not None:
            self._replaced_keys, self._replaced_bytes = (self._replaced_keys + 1,
                                                         self._replaced_bytes + committed)

    async def _committed_size(self, key: str) -> int | None:
        if key not in self._committed:
            item = await self.store.storage_get(self.module_id, key, utc_now())
            self._committed[key] = item.size if item is not None else None
        return self._committed[key]
