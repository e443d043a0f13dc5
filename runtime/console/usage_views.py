"""The usage page for builders: executions, failures, CPU seconds and fetches per day (the
same figures as GET /api/v1/usage), the storage in use, and how long history is kept."""

from __future__ import annotations

from aiohttp import web

from runtime.console.web import PREFIX, page, render, require_builder
from runtime.operations.usage import query_days
from runtime.store.models import utc_now
from runtime.store.retention import Usage
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()

SPANS = (7, 30, 90)


def bar_step(value: float, most: float) -> int:
    """The bar's length in steps of 5% (a CSS class each: the CSP forbids inline styles)."""
    if most <= 0 or value <= 0:
        return 0
    return max(1, round(value / most * 20)) * 5


def usage_rows(usage: Usage) -> list[dict[str, object]]:
    most = max((u.figures.executions for u in usage.days), default=0)
    return [{"day": u.day, "figures": u.figures, "cpu_seconds": u.figures.cpu_ms / 1000,
             "storage_bytes": u.storage_bytes,
             "bar": bar_step(u.figures.executions, most)} for u in usage.days]


@routes.get(PREFIX + "/usage")
@page
async def usage_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    days = query_days(request)
    usage = await request.app[STORE].usage(session.tenant_id, utc_now(), days)
    return render(request, "usage.html", {
        "rows": usage_rows(usage), "usage": usage, "days": days, "spans": SPANS,
        "retention": request.app[CONFIG].retention,
        "totals": {
            "executions": sum(u.figures.executions for u in usage.days),
            "failures": sum(u.figures.failures for u in usage.days),
            "cpu_seconds": sum(u.figures.cpu_ms for u in usage.days) / 1000,
            "fetches": sum(u.figures.fetches for u in usage.days),
        },
    })
