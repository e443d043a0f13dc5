"""The execution list reads only what its summaries show, on both backends: listing 500 rows
of big logs, requests, results and effects used to read every byte of them (`SELECT *`) and
held the event loop most of a second; the list answers the same as from whole rows (and says
which rows have a request stored), and the detail still reads the whole row."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from runtime import ids
from runtime.api.executions import summary
from runtime.store import Store
from runtime.store.models import Execution, ExecutionFilter, ExecutionOutcome, Module
from runtime.store.queries import Reads
from tests.runtime.test_retention import NOW, WEBHOOK, record, tenant_with_module

BIG = 20_000
BIG_COLUMNS = ("logs", "request", "result", "effects")


def big(module: Module, n: int) -> Execution:
    failed = n % 3 == 0
    return Execution(
        ids.new_id(ids.EXECUTION), module.tenant_id, module.id, None, WEBHOOK,
        ExecutionOutcome.ERROR if failed else ExecutionOutcome.OK,
        NOW - timedelta(seconds=n), duration_ms=1.5 + n, cpu_ms=0.5 * n,
        error={"type": "ValueError", "message": f"bad {n}", "line": n,
               "traceback": "t" * BIG} if failed else None,
        limit="cpu" if n % 5 == 0 else None, logs="l" * BIG, logs_truncated=n % 2 == 0,
        request=None if n % 4 == 1 else {"method": "POST", "body": "r" * BIG},
        result={"value": "v" * BIG},
        effects={"events": ["e" * BIG]}, dry_run=n % 4 == 0)


def sent_sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the store's reads send from now on."""
    seen: list[str] = []
    real = Reads._all

    async def counted(self: Reads, table: Any, sql: str, args: Sequence[Any]) -> Any:
        seen.append(sql)
        return await real(self, table, sql, args)

    monkeypatch.setattr(Reads, "_all", counted)
    return seen


def assert_reads_no_big_column(sql: str) -> None:
    """`sql` reads none of the big columns, but whether the request is NULL."""
    assert "*" not in sql
    assert "request IS NOT NULL AS has_request" in sql
    for column in BIG_COLUMNS:
        named = len(re.findall(rf"\b{column}\b", sql))
        assert named == (1 if column == "request" else 0), sql


async def test_the_list_answers_as_from_whole_rows_without_reading_the_big_columns(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, module = await tenant_with_module(store, "acme")
    rows = [big(module, n) for n in range(12)]
    await record(store, rows)
    only = ExecutionFilter(module_id=module.id)

    whole = await store.list_executions(module.tenant_id, only, 500, 0)
    seen = sent_sql(monkeypatch)
    listed = await store.list_execution_summaries(module.tenant_id, only, 500, 0)

    assert [summary(e) for e in listed] == [summary(e) for e in whole]
    assert [e.id for e in listed] == [e.id for e in rows]  # newest first, every row
    assert [(e.outcome, e.dry_run, e.cpu_ms) for e in listed] == [
        (e.outcome, e.dry_run, e.cpu_ms) for e in rows]
    # Whether a request is stored, and nothing else of the big columns: the statement never
    # names them, but for the request's nullness.
    assert [e.has_request for e in listed] == [e.request is not None for e in rows]
    assert all(not hasattr(e, column) for e in listed for column in BIG_COLUMNS)
    (sql,) = seen
    assert_reads_no_big_column(sql)

    # The detail reads the whole row.
    detail = await store.get_execution(module.tenant_id, rows[3].id)
    assert detail == rows[3]


async def test_the_list_filters_and_pages_as_before(store: Store) -> None:
    _, module = await tenant_with_module(store, "acme")
    rows = [big(module, n) for n in range(7)]
    await record(store, rows)
    failed = ExecutionFilter(module_id=module.id, outcome=ExecutionOutcome.ERROR)
    for filters, limit, offset in ((failed, 500, 0), (ExecutionFilter(), 2, 3)):
        whole = await store.list_executions(module.tenant_id, filters, limit, offset)
        listed = await store.list_execution_summaries(module.tenant_id, filters, limit, offset)
        assert [summary(e) for e in listed] == [summary(e) for e in whole]
        assert listed
