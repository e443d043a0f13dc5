"""fetch() and storage for `voip-runtime run`: a script tried on the command line can use
them as it would on the service.

Storage lives in memory for the run, optionally loaded from and saved to a JSON file so a
sequence of webhooks can be tried one command at a time (`--storage state.json`); as on the
service, the writes are kept only when the call succeeds. fetch() goes through the service's
own broker with the module's allowlist, so what is refused here is refused there too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.fetcher import FetchPolicy, FetchSession
from runtime.store.models import DEFAULT_STORAGE_LIMITS


@dataclass
class LocalHost:
    policy: FetchPolicy
    storage_file: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    writes: dict[str, Any] = field(default_factory=dict)  # key -> value, or DELETED
    fetcher: FetchSession | None = None

    DELETED = object()

    @classmethod
    def create(cls, allowlist: list[str], allow_networks: list[str],
               storage_file: Path | None) -> LocalHost:
        values: dict[str, Any] = {}
        if storage_file is not None and storage_file.exists():
            loaded = json.loads(storage_file.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError(f"{storage_file} must hold a JSON object")
            values = loaded
        policy = FetchPolicy(allowlist=tuple(allowlist), allow_networks=tuple(allow_networks))
        return cls(policy=policy, storage_file=storage_file, values=values)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "fetch":
            if self.fetcher is None:
                self.fetcher = FetchSession(self.policy)
            return await self.fetcher.handle(request)
        key = request.get("key")
        limits = DEFAULT_STORAGE_LIMITS
        if not isinstance(key, str) or not key or len(key) > limits.max_key_chars:
            return {"ok": False, "error": "a storage key must be a non-empty string of at most "
                                          f"{limits.max_key_chars} characters"}
        if op == "storage.get":
            value = self.writes.get(key, self.values.get(key, self.DELETED))
            if value is self.DELETED:
                return {"ok": True, "found": False, "value": None}
            return {"ok": True, "found": True, "value": value}
        if op == "storage.set":
            self.writes[key] = request.get("value")
            return {"ok": True}
        if op == "storage.delete":
            self.writes[key] = self.DELETED
            return {"ok": True}
        return {"ok": False, "error": f"unknown capability {op!r}"}

    @property
    def fetch_log(self) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in self.fetcher.log] if self.fetcher else []

    def storage_changes(self) -> list[dict[str, Any]]:
        return [
            {"op": "delete", "key": key} if value is self.DELETED
            else {"op": "set", "key": key, "value": value}
            for key, value in self.writes.items()
        ]

    def commit(self) -> None:
        """Keep this call's writes (it succeeded) and save them when a file was named."""
        for key, value in self.writes.items():
            if value is self.DELETED:
                self.values.pop(key, None)
            else:
                self.values[key] = value
        self.writes.clear()
        if self.storage_file is not None:
            self.storage_file.write_text(json.dumps(self.values, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
