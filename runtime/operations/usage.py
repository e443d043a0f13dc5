"""Usage, for the API and the console alike: the span a request asks for."""

from __future__ import annotations

from aiohttp import web

from runtime.errors import bad_request
from runtime.openapi.models import UsageQuery


def query_days(request: web.Request) -> int:
    """`?days=` within UsageQuery's bounds; anything else is a 400 saying what is allowed."""
    field = UsageQuery.model_fields["days"]
    low, high = 1, 366
    text = request.query.get("days")
    if text is None:
        return int(field.default)
    try:
        days = int(text)
    except ValueError:
        raise bad_request(f"days: a whole number of days ({low}..{high}), not {text[:40]!r}"
                          ) from None
    if not low <= days <= high:
        raise bad_request(f"days: must be {low}..{high}")
    return days
