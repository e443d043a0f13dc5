"""A tenant admin on a phone-sized window, keyboard only: opens the contacts page from the
menu, searches a contact by a part of its number, pages through, opens one and merges another
into it through the merge search; axe finds nothing serious on the way."""

from __future__ import annotations

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import expect

from tests.console.browser.conftest import Tab
from tests.console.browser.test_accessibility import BLOCKING
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


async def serious(tab: Tab, name: str) -> list[str]:
    await tab.shot(f"contacts-{name}")
    results = await Axe().run(tab.page)
    return [f"{name}: {v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"] if v.get("impact") in BLOCKING]


async def test_a_tenant_admin_finds_and_merges_contacts_by_keyboard_on_a_narrow_window(
        tab: Tab, console: tuple[Service, str]) -> None:
    service, _ = console
    seed = await seed_setup(service)
    olga = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Ольга Иванова", "phones": ["+79161234567"]}, status=201)
    await seed.api.ok("POST", "/api/v1/contacts/bulk", {"contacts": [
        {"name": f"Client {n:03d}", "phones": [f"+7903{n:07d}"]} for n in range(60)]},
        status=201)
    home = await seed.api.ok("POST", "/api/v1/contacts",
                             {"name": "Ольга дом", "phones": ["+74951234567"]}, status=201)
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await tab.sign_in(seed.api.secret or "")
    problems: list[str] = []

    await page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Contacts").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    await expect(page.locator(".contacts-table tbody tr")).to_have_count(50)
    problems += await serious(tab, "list")
    # The page does not scroll sideways: the table scrolls in its own box.
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")

    await page.get_by_role("link", name="Next contacts").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(".contacts-table tbody tr")).to_have_count(12)
    await expect(page.get_by_role("link", name="Ольга Иванова")).to_be_visible()

    await page.get_by_label("Name or number").focus()
    await page.keyboard.type("ольга")
    await page.keyboard.press("Enter")
    await expect(page.locator(".contacts-table tbody tr")).to_have_count(2)
    await page.get_by_label("Name or number").fill("")
    await page.keyboard.type("8 916 123")
    await page.keyboard.press("Enter")
    await expect(page.locator(".contacts-table tbody tr")).to_have_count(1)
    problems += await serious(tab, "search")

    await page.get_by_role("link", name="Ольга Иванова").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contact: Ольга Иванова")
    await page.get_by_text("Edit, merge or delete this contact").focus()
    await page.keyboard.press("Enter")  # opens the <details>
    await page.get_by_label("Find the other contact by name or number").focus()
    await page.keyboard.type("дом")
    await page.keyboard.press("Enter")
    choice = page.get_by_label("Ольга дом (+74951234567)")
    await expect(choice).to_be_visible()
    problems += await serious(tab, "merge-search")
    await choice.focus()
    await page.keyboard.press("Space")
    await expect(choice).to_be_checked()
    await page.get_by_role("button", name="Merge the chosen contact into Ольга Иванова").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Contacts merged")
    await seed.api.ok("GET", f"/api/v1/contacts/{home['id']}", status=404)
    merged = await seed.api.ok("GET", f"/api/v1/contacts/{olga['id']}")
    assert [p["normalized"] for p in merged["phones"]] == ["+79161234567", "+74951234567"]
    print("\n".join(problems))
    assert problems == []
    assert tab.errors == []
