"""fetch() and storage for `voip-runtime run`: a script tried on the command line meets the
same checks it meets on the service.

Both go through the service's own code with the service's configuration (`--config`, else
the defaults): `CapabilitySession` for storage (key and value sizes, the module's key and byte
quotas, `ttl`), `FetchSession` for fetch() (allowlist, private addresses, the per-call request
count, timeouts, sizes). Only what sits behind the session differs: instead of the store, a
`FileStorage` holds the module's storage in memory for the run, optionally loaded from and
saved to a JSON file so a sequence of webhooks can be tried one command at a time
(`--storage state.json`). As on the service, a call's writes are kept only when it succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.capabilities import CapabilitySession, StorageWrite
from runtime.config import Config
from runtime.fetcher import FetchPolicy, FetchSession
from runtime.file_problems import file_problem
from runtime.store.dialect import dumps as compact_json
from runtime.store.models import JSON, StorageItem, StorageUsage

# The session scopes storage by module id; the command line has one module.
LOCAL_MODULE_ID = "local"


def item_size(key: str, value: JSON) -> int:
    """What a key costs against the module's byte quota, counted as the store counts it."""
    return len(key.encode("utf-8")) + len(compact_json(value).encode("utf-8"))


@dataclass
class FileStorage:
    """The module's committed storage for the run: what `CapabilitySession` reads of a store.

    The file holds `{key: value}`. A `ttl` is checked as on the service, but the file keeps no
    expiry: a key saved there stays until a script deletes it or you edit the file.
    """

    path: Path | None = None
    values: dict[str, JSON] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> FileStorage:
        """The file's contents (none yet is empty storage); ValueError when it is not usable."""
        if path is None or not path.exists():
            return cls(path)
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"cannot read {path}: {file_problem(error)}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a JSON object (key -> value)")
        return cls(path, loaded)

    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        if key not in self.values:
            return None
        value = self.values[key]
        return StorageItem(module_id, key, value, item_size(key, value), None, now)

    async def storage_usage(self, module_id: str) -> StorageUsage:
        return StorageUsage(len(self.values),
                            sum(item_size(key, value) for key, value in self.values.items()))

    def apply(self, writes: Iterable[StorageWrite]) -> None:
        """Keep a successful call's writes, and save them when a file was named."""
        for write in writes:
            if write.op == "delete":
                self.values.pop(write.key, None)
            else:
                self.values[write.key] = write.value
        if self.path is not None:
            self.path.write_text(json.dumps(self.values, ensure_ascii=False, indent=2) + "\n",
                                 encoding="utf-8")


@dataclass
class LocalHost:
    """The capability handler of one `voip-runtime run`: one call, one session."""

    storage: FileStorage
    session: CapabilitySession

    @classmethod
    def create(cls, config: Config, function: str, *, allowlist: Iterable[str],
               allow_networks: Iterable[str], storage_file: Path | None) -> LocalHost:
        """ValueError for an allowlist entry, network or storage file that cannot be used."""
        fetch_config = config.fetch.model_copy(update={
            "allow_networks": (*config.fetch.allow_networks, *allow_networks)})
        # Built now, not on the first fetch(): a bad --allow is a usage error before the run.
        policy = FetchPolicy.from_config(
            fetch_config, allowlist=allowlist,
            max_requests=config.sandbox.limits_for(function).fetches_per_call)
        storage = FileStorage.load(storage_file)
        session = CapabilitySession(storage, LOCAL_MODULE_ID, config.storage_limits.limits,
                                    lambda: FetchSession(policy))
        return cls(storage, session)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self.session.handle(request)

    @property
    def fetch_log(self) -> list[dict[str, Any]]:
        return self.session.fetch_log

    def storage_changes(self) -> list[dict[str, Any]]:
        return [write.to_json() for write in self.session.storage_writes]

    def commit(self) -> None:
        """The call succeeded: its writes become the module's storage."""
        self.storage.apply(self.session.storage_writes)
