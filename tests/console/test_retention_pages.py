"""The retention period on the console's pages, and the usage page's access rules, over HTTP
(the browser test in tests/console/browser/test_usage_health.py checks the figures)."""

from __future__ import annotations

from datetime import timedelta

from runtime import ids
from runtime.config import RetentionConfig
from runtime.retention import Pruner
from runtime.store import Tx
from runtime.store.models import Execution, ExecutionOutcome, utc_now
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start

RETENTION_TEXT = ("executions 30 days (at most about 100,000 and 1,024 MiB per module), live "
                  "notifications 30 days, a call's event history 90 days. Calls, contacts and "
                  "activity stay.")


async def test_pages_say_how_long_history_is_kept(console: tuple[Service, str],
                                                  browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(start())
    await browser.sign_in(seed.api.secret or "")
    module = seed.module["id"]
    for path in ("/console/modules", f"/console/modules/{module}",
                 f"/console/modules/{module}/executions", "/console/usage"):
        assert RETENTION_TEXT in await browser.page(path), path


async def test_usage_page_is_for_builders_and_checks_its_span(console: tuple[Service, str],
                                                              browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.user_token)  # an operator
    assert "Usage" not in await browser.page("/console/live")
    response = await browser.get("/console/usage", allow_redirects=False)
    assert response.status == 403
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page("/console/usage?days=abc", status=400)
    assert "days: a whole number of days (1..366)" in html
    assert 'class="usage"' not in html  # an error page, not an empty table
    assert (await browser.page("/console/usage?days=3")).count("<th scope=\"row\">") == 3


async def test_the_last_error_outlives_its_pruned_execution_without_a_dead_link(
        console: tuple[Service, str], browser: Browser) -> None:
    """The modules page names each module's last error; once retention has pruned that
    execution, the message stays and the link to it (a 404 now) goes."""
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.server.app[STORE]
    failed = Execution(ids.new_id(ids.EXECUTION), seed.tenant_id, seed.module["id"], None,
                       "VoipParseWebhookRequest", ExecutionOutcome.ERROR, utc_now(),
                       error={"type": "ValueError", "message": "boom: an old failure"})

    async def insert(tx: Tx) -> None:
        await tx.insert_execution(failed)

    await store.write(insert)
    await browser.sign_in(seed.api.secret or "")
    link = f'href="/console/executions/{failed.id}"'
    page = await browser.page("/console/modules")
    assert link in page and "boom: an old failure" in page  # still in the log: linked

    # A pass 40 days on: the execution is past the 30 days kept.
    later = utc_now() + timedelta(days=40)
    await Pruner(store, RetentionConfig(batch_pause_ms=0), clock=lambda: later).run_pass()
    await seed.api.ok("GET", f"/api/v1/executions/{failed.id}", status=404)  # pruned
    page = await browser.page("/console/modules")
    assert "boom: an old failure" in page and "ValueError" in page
    assert link not in page
