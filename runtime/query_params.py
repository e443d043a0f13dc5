"""Values read from a query string, for the API and the console alike: each malformed one is a
400 that names the parameter and says what was expected."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from aiohttp import web

from runtime.errors import bad_request
from runtime.ids import is_record_id

E = TypeVar("E", bound=StrEnum)

# The largest offset a list takes: SQL's integer (SQLite's and PostgreSQL's bigint). Past it the
# database refuses the statement, which was a 500; no list is that long, so it is a 400.
MAX_OFFSET = 2**63 - 1

# ASCII digits only: int() also reads "1_000", " 5 " and other scripts' digits ("٣").
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,30}")

UNENCODED_PLUS = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def query_whole_number(request: web.Request, name: str, default: int, low: int, high: int,
                       unit: str = "") -> int:
    """`?name=`, a whole number within low..high (`default` when absent); else a 400 naming
    the parameter and what it takes. `unit`: "days" reads "a whole number of days"."""
    raw = request.query.get(name)
    if raw is None:
        return default
    what = f"a whole number{' of ' + unit if unit else ''} ({low}..{high})"
    if WHOLE_NUMBER.fullmatch(raw) is None:
        if re.fullmatch(r"[+-]?[0-9]+", raw):  # too many digits to be in any range of ours
            raise bad_request(f"{name}: must be {low}..{high}")
        raise bad_request(f"{name}: {what}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise bad_request(f"{name}: must be {low}..{high}")
    return value


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


def query_record_id(request: web.Request, name: str, prefix: str) -> str | None:
    """`?name=`, a record id of the kind `prefix` names (`ntf` for `ntf_...`), or None when
    absent or empty. A well-formed id the service does not know is the caller's to treat (a
    filter that matches nothing, a catch-up from the start); anything else is a 400 naming the
    parameter, so that a typo is not answered as if it were a real id."""
    raw = request.query.get(name)
    if not raw:
        return None
    if not is_record_id(prefix, raw):
        raise bad_request(f"{name}: {raw[:40]!r} is not a {prefix}_... id "
                          f"({prefix}_ and 26 characters)")
    return raw
