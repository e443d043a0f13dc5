"""List filters as SQL conditions, written once for both backends.

A condition is a SQL fragment with `{0}` where its value goes (the same value may be used more
than once, as the phone filter does) and the value. `where_clause` numbers the parameters in
the backend's own style (`?1` for SQLite, `$1` for PostgreSQL) and converts times the backend's
way; every listing is scoped to one tenant first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from runtime.store.models import CallFilter, ExecutionFilter

Condition = tuple[str, object]


def _present(conditions: list[Condition]) -> list[Condition]:
    return [(sql, value) for sql, value in conditions if value is not None]


def call_conditions(filters: CallFilter) -> list[Condition]:
    return _present([
        ("module_id = {0}", filters.module_id),
        ("state = {0}", filters.state.value if filters.state is not None else None),
        ("direction = {0}", filters.direction),
        ("created_at >= {0}", filters.since),
        ("(client_phone_normalized = {0} OR client_phone = {0} OR src_phone = {0} "
         "OR dst_phone = {0})", filters.phone),
    ])


def execution_conditions(filters: ExecutionFilter) -> list[Condition]:
    return _present([
        ("module_id = {0}", filters.module_id),
        ("outcome = {0}", filters.outcome.value if filters.outcome is not None else None),
        ("function = {0}", filters.function),
        ("version_id = {0}", filters.version_id),
        ("created_at >= {0}", filters.since),
        ("created_at < {0}", filters.until),
    ])


def where_clause(tenant_id: str, conditions: list[Condition], *, mark: Callable[[int], str],
                 moment: Callable[[datetime], object]) -> tuple[str, list[object]]:
    """(`tenant_id = <1> AND ...`, the parameters in order); `mark(n)` writes parameter n."""
    params: list[object] = [tenant_id]
    parts = [f"tenant_id = {mark(1)}"]
    for sql, value in conditions:
        params.append(moment(value) if isinstance(value, datetime) else value)
        parts.append(sql.format(mark(len(params))))
    return " AND ".join(parts), params
