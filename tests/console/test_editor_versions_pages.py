"""The editor and versions pages as served (no browser): rollback offered only when the store
would do it, the folded diff, and the test panel filled from the last webhook."""

from __future__ import annotations

import asyncio
import re
from html import unescape

from runtime.store.base import Tx
from runtime.store.models import ScriptVersion
from runtime.typedefs import STORE
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


async def test_rollback_is_offered_for_an_active_version_older_than_the_list(
        console: tuple[Service, str], browser: Browser) -> None:
    """The page lists the newest 100 versions; an older active one still offers its rollback."""
    service, _ = console
    seed = await seed_setup(service)  # version 1
    module = seed.module["id"]
    store = service.client.app[STORE]

    async def many(tx: Tx) -> list[ScriptVersion]:
        made = []
        for n in range(2, 104):
            version = await tx.add_version(seed.tenant_id, module, f"{SEED_SCRIPT}\n# {n}\n",
                                           activate=False)
            assert version is not None
            made.append(version)
        return made

    versions = await store.write(many)
    await store.activate_version(seed.tenant_id, module, versions[0].id)  # version 2
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/modules/{module}/versions")
    assert ">v2<" not in html and ">v1<" not in html  # beyond the listed 100
    assert f"{ROLLBACK} (v1)" in html
    # The older ones a page further: each to open, compare or activate.
    older = re.search(r'<a href="\?([^"]+)">Older versions</a>', html)
    assert older is not None, html
    html = await browser.page(f"/console/modules/{module}/versions?{unescape(older.group(1))}")
    assert re.findall(r'<th scope="row">v(\d+)', html) == ["3", "2", "1"]
    assert "Script versions, newest first: 101 to 103" in html
    assert 'aria-label="Activate version 1"' in html and "Newer versions</a>" in html
    assert "Older versions</a>" not in html and f"{ROLLBACK} (v1)" in html
    # Opened in the editor, or filtered by in the log, from there: the menus name it.
    v1 = re.findall(r'<th scope="row">v1<.*?editor\?version=([^"]+)"', html, re.S)[0]
    editor = await browser.page(f"/console/modules/{module}/editor?version={v1}")
    assert f'<option value="{v1}" selected>v1</option>' in editor
    assert editor.count(f'<option value="{v1}"') == 2  # opened, and the dry run's menu
    log = await browser.page(f"/console/modules/{module}/executions?version_id={v1}")
    assert f'<option value="{v1}" selected>v1</option>' in log
    await store.activate_version(seed.tenant_id, module, versions[-1].id)  # version 103
    html = await browser.page(f"/console/modules/{module}/versions?offset=100")
    assert f"{ROLLBACK} (v102)" in html  # from any page
    await store.activate_version(seed.tenant_id, module, versions[0].id)
    back = await browser.post_form(f"/console/modules/{module}/rollback", {})
    assert back.status == 303
    html = await browser.page(f"/console/modules/{module}/versions")
    assert ROLLBACK not in html


async def test_a_second_click_on_roll_back_does_not_go_back_further(
        console: tuple[Service, str], browser: Browser) -> None:
    """The button says which version it goes to; the same form sent again (a double click,
    or after someone else rolled back) changes nothing and says what is active now."""
    service, _ = console
    seed = await seed_setup(service)
    module = seed.module["id"]
    for n in (2, 3):
        await upload(seed.api, module, SEED_SCRIPT + f"\n# v{n}\n")
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/modules/{module}/versions")
    assert "Roll back to the previous version (v2)" in html
    shown = re.search(r'name="from_version_id" value="([^"]+)"', html)
    assert shown is not None
    form = {"from_version_id": shown.group(1)}

    first = await browser.post_form(f"/console/modules/{module}/rollback", form)
    assert first.status == 303
    second = await browser.post_form(f"/console/modules/{module}/rollback", form)
    text = unescape(await second.text())
    assert second.status == 409
    assert "nothing was rolled back" in text and "version 2 is active now" in text
    active = (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["active_version"]
    assert active["number"] == 2  # as the button said, not 1

    # Two clicks sent at once: the check is in the rollback's own transaction.
    v3 = (await seed.api.ok("GET", f"/api/v1/modules/{module}/versions"))["versions"][0]
    await seed.api.ok("POST", f"/api/v1/modules/{module}/versions/{v3['id']}/activate")
    both = await asyncio.gather(*(browser.post_form(f"/console/modules/{module}/rollback", form)
                                  for _ in range(2)))
    assert sorted(r.status for r in both) == [303, 409]
    active = (await seed.api.ok("GET", f"/api/v1/modules/{module}"))["active_version"]
    assert active["number"] == 2
