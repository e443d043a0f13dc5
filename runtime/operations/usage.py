"""Usage, for the API and the console alike: the span a request asks for."""

from __future__ import annotations

from aiohttp import web

from runtime.openapi.models import UsageQuery
from runtime.query_params import query_whole_number


def query_days(request: web.Request) -> int:
    """`?days=` within UsageQuery's bounds; anything else is a 400 saying what is allowed."""
    field = UsageQuery.model_fields["days"]
    return query_whole_number(request, "days", int(field.default), 1, 366, unit="days")
