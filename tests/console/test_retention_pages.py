"""The retention period on the console's pages, and the usage page's access rules, over HTTP
(the browser test in tests/console/browser/test_usage_health.py checks the figures)."""

from __future__ import annotations

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start

RETENTION_TEXT = ("executions 30 days (at most about 100,000 per module), live notifications "
                  "30 days, a call's event history 90 days")


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
