"""The storage URL, read without a driver: which backend it names, and our own PostgreSQL
parameters (`?schema=`, `?pool_size=`; the others go to asyncpg). The configuration checks a
URL with this at start, so a wrong one is a configuration error, not a failure to open."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")
OUR_PARAMETERS = ("schema", "pool_size")


class UnsupportedStorageUrl(ValueError):
    pass


def pg_parameters(url: str) -> tuple[str | None, int | None, list[tuple[str, str]]]:
    """(schema, pool_size, the driver's parameters) of a PostgreSQL URL; ValueError naming
    what is wrong."""
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
    rest = [(name, value) for name, value in query if name not in ours]
    return ours.get("schema") or None, pool_size, rest


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
