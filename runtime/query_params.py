"""Values read from a query string, for the API and the console alike: each malformed one is a
400 that names the parameter and says what was expected."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from aiohttp import web

from runtime.errors import bad_request

E = TypeVar("E", bound=StrEnum)

# The largest offset a list takes: SQL's integer (SQLite's and PostgreSQL's bigint). Past it the
# database refuses the statement, which was a 500; no list is that long, so it is a 400.
MAX_OFFSET = 2**63 - 1

UNENCODED_PLUS = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def query_time(request: web.Request, name: str) -> datetime | None:
    """An ISO-8601 time from the query string (UTC when it names no offset)."""
    raw = request.query.get(name)
    if raw is None:
        return None
    # An unencoded "+" in a query string arrives as a space: "10:15:00 03:00" meant "+03:00".
    text = UNENCODED_PLUS.sub(r"\1+\2", raw.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{name}: {raw!r} is not an ISO-8601 time such as "
                          "2025-03-04T10:15:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_choice(request: web.Request, name: str, enum: type[E]) -> E | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise bad_request(f"{name}: {raw!r} is not one of: {allowed}") from None
