"""A module builder edits, merges and deletes contacts on the contact page in Chromium: the
forms by their labels, a refusal shown beside the form with a link, the confirmation before a
deletion; axe-core on each state, screenshots under test-artifacts/console/ (with
CONSOLE_SCREENSHOTS=update also copied over the ones kept in screenshots/contact-*.png)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.async_api import expect

from tests.console.browser.conftest import ARTIFACTS, Tab
from tests.console.browser.test_accessibility import audit
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, end, record, seed_setup, start

KEPT = Path(__file__).parent / "screenshots"


async def test_builder_edits_merges_and_deletes_a_contact(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    olga = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                             status=201)
    home = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Olga home", "phones": ["+74951234567"]}, status=201)
    await seed.api.ok("POST", "/api/v1/contacts",
                      {"name": "Petr", "phones": ["+79031112233"]}, status=201)
    for event in (start("c-1", "+74951234567"), end("c-1", src="+74951234567"),
                  record("c-1", src="+74951234567")):
        await seed.hook_ok(event)
    await tab.sign_in(seed.api.secret or "")
    page = tab.page
    problems = await audit(tab, f"/console/contacts/{olga['id']}", "contact-builder")

    await page.get_by_text("Edit, merge or delete this contact").click()
    await page.get_by_label("Name", exact=True).fill("Olga Ivanova")
    await page.get_by_label("Phone numbers, one per line").fill(f"{CLIENT}\n8 903 111-22-33")
    await page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("+79031112233 belongs to another contact")
    await expect(alert.get_by_role("link", name="Open that contact")).to_be_visible()
    problems += [f"refused: {p}" for p in await audit_here(tab, "contact-edit-refused")]

    # The form kept what was typed: only the number needs changing.
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Olga Ivanova")
    await page.get_by_label("Phone numbers, one per line").fill(CLIENT)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Contact saved.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contact: Olga Ivanova")

    await page.get_by_text("Edit, merge or delete this contact").click()
    await page.get_by_label("Find the other contact by name or number").fill("495 123")
    await page.get_by_role("button", name="Find", exact=True).click()
    await page.get_by_label("Olga home (+74951234567)").check()
    await page.get_by_role("button", name="Merge the chosen contact into Olga Ivanova").click()
    await expect(page.get_by_role("status")).to_contain_text("Contacts merged")
    await expect(page.locator(".activity-entry")).to_have_count(1)
    await seed.api.ok("GET", f"/api/v1/contacts/{home['id']}", status=404)
    problems += [f"merged: {p}" for p in await audit_here(tab, "contact-merged")]

    await page.get_by_text("Edit, merge or delete this contact").click()
    await page.get_by_role("link", name="Delete this contact…").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Delete contact Olga Ivanova?")
    problems += [f"confirm: {p}" for p in await audit_here(tab, "contact-delete-confirm")]
    await page.get_by_label("Type Olga Ivanova to confirm").fill("Olga Ivanova")
    await page.get_by_role("button", name="Delete contact").click()
    await expect(page.get_by_role("status")).to_contain_text("Olga Ivanova was deleted")
    await tab.shot("contact-deleted")

    contacts = (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert [c["name"] for c in contacts] == ["Petr"]
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert call["contact_id"] is None
    print("\n".join(problems))
    assert problems == []
    assert tab.errors == []
    if os.environ.get("CONSOLE_SCREENSHOTS") == "update":
        for shot in KEPT.glob("contact-*.png"):
            shutil.copyfile(ARTIFACTS / shot.name, shot)


async def audit_here(tab: Tab, name: str) -> list[str]:
    """axe on the page as it is now (after a form was sent), with a screenshot."""
    from axe_playwright_python.async_playwright import Axe

    from tests.console.browser.test_accessibility import BLOCKING

    await tab.shot(name)
    results = await Axe().run(tab.page)
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in results.response["violations"]
            if v.get("impact") in BLOCKING]
