"""The storage URL, read without a driver: which backend it names, and our own PostgreSQL
parameters (`?schema=`, `?pool_size=`, `?command_timeout=`; the others go to asyncpg). The
configuration checks a URL with this at start, so a wrong one is a configuration error, not a
failure to open."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
OUR_PARAMETERS = ("schema", "pool_size", "command_timeout")
# Bounds of `?command_timeout=` (seconds): below a second would cut a COMMIT waiting on a busy
# disk; above an hour is no bound a caller could wait for.
COMMAND_TIMEOUT_RANGE = (1.0, 3600.0)


class UnsupportedStorageUrl(ValueError):
    pass


class PgParameters(NamedTuple):
    schema: str | None
    pool_size: int | None
    command_timeout: float | None  # seconds a pool connection's statement may take
    rest: list[tuple[str, str]]  # the driver's parameters


def pg_parameters(url: str) -> PgParameters:
    """Our parameters and the driver's of a PostgreSQL URL; ValueError naming what is
    wrong."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in OUR_PARAMETERS}
    pool_size = None
    if ours.get("pool_size"):
        try:
            pool_size = int(ours["pool_size"])
        except ValueError:
            raise ValueError("pool_size in the storage URL must be a number") from None
        if not 1 <= pool_size <= 1000:
            raise ValueError("pool_size in the storage URL must be 1..1000")
    command_timeout = None
    if ours.get("command_timeout"):
        low, high = COMMAND_TIMEOUT_RANGE
        try:
            command_timeout = float(ours["command_timeout"])
        except ValueError:
            raise ValueError("command_timeout in the storage URL must be a number of "
                             "seconds") from None
        if not low <= command_timeout <= high:
            raise ValueError(f"command_timeout in the storage URL must be {low:g}..{high:g} "
                             "seconds")
    rest = [(name, value) for name, value in query if name not in ours]
    return PgParameters(ours.get("schema") or None, pool_size, command_timeout, rest)


def check_storage_url(url: str) -> None:
    """ValueError (UnsupportedStorageUrl for another scheme) when `url` cannot be opened as
    it is written."""
    scheme = urlsplit(url).scheme
    if scheme in POSTGRES_SCHEMES:
        pg_parameters(url)
    elif scheme != "sqlite":
        raise UnsupportedStorageUrl(
            f"unsupported storage URL scheme {scheme!r}: use sqlite:///path/to/file.db "
            "or postgresql://user@host/database")
