"""The console's execution log page (100 rows a page) reads its rows without their big columns
(logs, request, result, effects: up to 64 KiB each), on both backends: it used to read every
byte of them (`SELECT *`) only to know which rows have a stored request, the webhook rows it
offers to replay. The page shows the same rows, with replay boxes exactly where they were."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar

from runtime.store import Tx
from runtime.store.models import JSON, Execution, ExecutionOutcome
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.e2e.conftest import Service, service_on_backend
from tests.e2e.helpers import seed_setup
from tests.runtime.test_execution_summaries import assert_reads_no_big_column, sent_sql

BIG = 20_000
NOW = datetime(2026, 12, 6, 12, 5, 0, tzinfo=UTC)
WEBHOOK = "VoipParseWebhookRequest"
CHECKBOX = re.compile(r'<input type="checkbox" name="execution_id" value="([^"]+)"')
ROW = re.compile(r'<tr class="outcome-[a-z_]+">(.*?)</tr>', re.S)


@pytest.fixture(params=["sqlite", "postgres"])
async def on_both(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    async with service_on_backend(request.param, tmp_path) as service:
        yield service


def row(tenant_id: str, module_id: str, n: int, function: str, request: JSON) -> Execution:
    failed = n % 3 == 0
    return Execution(
        f"exe_page{n:04d}", tenant_id, module_id, None, function,
        ExecutionOutcome.ERROR if failed else ExecutionOutcome.OK,
        NOW - timedelta(seconds=n), duration_ms=1.5 + n,
        error={"type": "ValueError", "message": f"bad {n}", "line": n + 1} if failed else None,
        limit="cpu" if n % 5 == 0 else None, logs="l" * BIG, request=request,
        result={"value": "v" * BIG}, effects={"events": ["e" * BIG]})


async def test_the_log_page_shows_replay_boxes_where_a_request_is_stored_without_reading_it(
        on_both: Service, tmp_path: Path) -> None:
    seed = await seed_setup(on_both)
    tenant_id, module_id = seed.tenant_id, seed.module["id"]
    webhook_request = {"method": "POST", "url": "https://pbx.example/hook", "headers": [],
                       "body": "r" * BIG}
    rows = [
        row(tenant_id, module_id, 0, WEBHOOK, webhook_request),
        row(tenant_id, module_id, 1, WEBHOOK, None),  # a webhook row without its request
        row(tenant_id, module_id, 2, "VoipGetCallLink", {"args": [{"id": "c1"}]}),
        row(tenant_id, module_id, 3, WEBHOOK, webhook_request),
        row(tenant_id, module_id, 4, "VoipGetMembers", None),
        row(tenant_id, module_id, 5, WEBHOOK, webhook_request),
    ]

    async def unit(tx: Tx) -> None:
        for e in rows:
            await tx.insert_execution(e)

    await on_both.client.server.app[STORE].write(unit)

    with pytest.MonkeyPatch.context() as patch:
        seen = sent_sql(patch)
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            browser = Browser(session, str(on_both.client.make_url("")).rstrip("/"))
            await browser.sign_in(seed.api.secret or "")
            seen.clear()  # the page's reads only
            html = await browser.page(f"/console/modules/{module_id}/executions")

    # The rows the page lists (newest first, the seed's own runs after them), each as before.
    shown = ROW.findall(html)
    ours = [r for r in shown if "exe_page" in r]
    assert len(ours) == len(rows)
    for cells, e in zip(ours, rows, strict=True):
        assert f'href="/console/executions/{e.id}"' in cells
        assert f"<td>{e.function}</td>" in cells
        assert f'badge outcome-{e.outcome.value}">{e.outcome.value}<' in cells
        assert f"<td>{e.duration_ms:.1f} ms</td>" in cells
        assert f"<td>{e.limit or ''}</td>" in cells
        if e.error:
            assert f"ValueError: bad {e.error['line'] - 1} (line {e.error['line']})" in unescape(
                cells)
    # A replay box for exactly the webhook rows with a stored request, and no other.
    boxes = CHECKBOX.findall(html)
    assert [b for b in boxes if b.startswith("exe_page")] == [rows[0].id, rows[3].id,
                                                              rows[5].id]
    assert "r" * 100 not in html and "l" * 100 not in html

    # The page's read of the log named none of the big columns, but the request's nullness.
    listing = [sql for sql in seen if "FROM executions" in sql]
    assert listing, seen
    for sql in listing:
        assert_reads_no_big_column(sql)
