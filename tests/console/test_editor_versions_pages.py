"""The editor and versions pages as served (no browser): rollback offered only when the store
would do it, the folded diff, and the test panel filled from the last webhook."""

from __future__ import annotations

from html import unescape

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import SEED_SCRIPT, seed_setup, start, upload

ROLLBACK = "Roll back to the previous version"


async def test_rollback_is_offered_only_with_a_version_to_go_back_to(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)  # version 1, active
    module = seed.module["id"]
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/modules/{module}/versions")
    assert ROLLBACK not in html
    v2 = await upload(seed.api, module, SEED_SCRIPT + "\n# two\n", activate=False)
    html = await browser.page(f"/console/modules/{module}/versions")
    assert ROLLBACK not in html  # v2 is saved, v1 still active: nothing below v1
    await seed.api.ok("POST", f"/api/v1/modules/{module}/versions/{v2['id']}/activate")
    html = await browser.page(f"/console/modules/{module}/versions")
    assert f"{ROLLBACK} (v1)" in html
    back = await browser.post_form(f"/console/modules/{module}/rollback", {})
    assert back.status == 303
    html = await browser.page(f"/console/modules/{module}/versions?done=rolled-back")
    assert ROLLBACK not in html


async def test_the_diff_folds_unchanged_lines(console: tuple[Service, str],
                                              browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await browser.sign_in(seed.api.secret or "")
    lines = SEED_SCRIPT.splitlines()
    assert len(lines) > 20
    changed = "\n".join([*lines[:-1], lines[-1] + "  # changed"]) + "\n"
    v2 = await upload(seed.api, module, changed)
    v1 = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"][1]
    diff = await browser.page(f"/console/modules/{module}/diff?a={v1['id']}&b={v2['id']}")
    assert "1 changed line." in diff
    assert diff.count('class="code added"') == 1 and diff.count('class="code removed"') == 1
    folded = len(lines) - 4
    assert f"⋯ {folded} unchanged lines (1–{folded})" in unescape(diff)
    assert diff.count('<tr class="d-equal">') == 3
    full = await browser.page(f"/console/modules/{module}/diff?a={v1['id']}&b={v2['id']}&full=1")
    assert 'class="d-fold"' not in full
    assert full.count('<tr class="d-equal">') == len(lines) - 1


async def test_the_test_panel_starts_from_the_last_webhook(console: tuple[Service, str],
                                                           browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/modules/{module}/editor")
    assert 'id="start-note"' not in html  # no webhook yet: the JSON sample
    assert "c-1001" in html
    await seed.post_hook(start("c-77"), headers={"Authorization": "Bearer hook-secret-9"})
    html = unescape(await browser.page(f"/console/modules/{module}/editor"))
    assert 'id="start-note"' in html and "c-77" in html
    assert "Authorization: ••••••" in html and "hook-secret-9" not in html
    executions = (await seed.api.ok("GET", f"/api/v1/executions?module_id={module}"))
    newest = executions["executions"][0]["id"]
    assert f'<option value="{newest}" selected>' in html
