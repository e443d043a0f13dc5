"""The console shows a module's secret settings masked wherever a run carried them: the log,
one execution, the editor's test panel and replays; and it says what it masked."""

from __future__ import annotations

import re

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, upload

API_KEY = "demo-api-key-123456"  # the seed module's secret setting `apiKey`
LEAKY = """
def VoipParseWebhookRequest(request):
    print("using", settings["apiKey"])
    if request.query.get("fail"):
        raise ValueError("refused " + settings["apiKey"])
    return {"response": {"status": 200, "body": "ok " + settings["apiKey"]}}
"""


async def test_secret_settings_are_masked_on_every_page_that_shows_a_run(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await upload(seed.api, seed.module["id"], LEAKY)
    await browser.sign_in(seed.api.secret or "")
    module = seed.module["id"]
    assert (await seed.post_hook({"pass": API_KEY},
                                 headers={"X-Echo": API_KEY})).status == 200
    assert (await seed.post_hook({}, path_suffix="?fail=1")).status == 500

    modules = await browser.page("/console/modules")
    assert API_KEY not in modules and "refused ••••••" in modules
    log = await browser.page(f"/console/modules/{module}/executions")
    assert API_KEY not in log and "refused ••••••" in log
    failed, ok = re.findall(r'name="execution_id" value="([^"]+)"', log)
    for execution_id in (failed, ok):
        detail = await browser.page(f"/console/executions/{execution_id}")
        assert API_KEY not in detail and "using ••••••" in detail
        assert "Masked on this page" in detail and "secret setting apiKey in logs" in detail
    detail = await browser.page(f"/console/executions/{ok}")
    assert "secret setting apiKey in request" in detail and "X-Echo" in detail

    stored = await (await browser.get(f"/console/executions/{ok}/request")).json()
    assert API_KEY not in str(stored) and "secret setting apiKey in request" in stored["masked"]
    editor = await browser.page(f"/console/modules/{module}/editor")
    assert API_KEY not in editor

    # The replay runs what was stored (the secret and all) and shows it masked.
    replay = await browser.post_json(f"/console/modules/{module}/dry-run",
                                     {"execution_id": ok})
    report = await replay.json()
    assert replay.status == 200, report
    assert API_KEY not in str(report) and report["reply"]["body"] == "ok ••••••"
    assert report["comparison"]["changed"] is False
    version = (await seed.api.ok("GET", f"/api/v1/executions/{ok}"))["version_id"]
    page = await browser.post_form(f"/console/modules/{module}/replay",
                                   [("execution_id", ok), ("against", version)])
    html = await page.text()
    assert page.status == 200 and 'data-count="total">1<' in html, html
    assert API_KEY not in html
