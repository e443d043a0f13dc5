"""Choosing the store backend from the configured storage URL."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from runtime.store.base import Store
from runtime.store.sqlite import SqliteStore
from runtime.store.storage_url import (
    POSTGRES_SCHEMES,
    UnsupportedStorageUrl,
    check_storage_url,
)

__all__ = ["POSTGRES_SCHEMES", "UnsupportedStorageUrl", "open_store"]


async def open_store(url: str, *, commit_window: float = 0.002) -> Store:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/or/absolute/path.db (three slashes, then the path)
        path = unquote(parts.path)
        if parts.netloc:
            path = parts.netloc + path
        return await SqliteStore.open(path, commit_window=commit_window)
    if parts.scheme in POSTGRES_SCHEMES:
        # postgresql://user:password@host:5432/database?schema=name (schema is optional).
        # Imported here: asyncpg is needed only by deployments that use it.
        from runtime.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    check_storage_url(url)  # raises UnsupportedStorageUrl, saying which schemes there are
    raise AssertionError(f"unreachable: {parts.scheme!r}")
