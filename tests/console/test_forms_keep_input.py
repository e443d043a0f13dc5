"""A form the console refuses comes back with the problem and with what was typed, so the
builder fixes the one wrong field instead of typing the whole form again."""

from __future__ import annotations

import re
from html import unescape

from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder
from tests.e2e.conftest import Service


def field_value(html: str, field_id: str) -> str:
    found = re.search(rf'<input id="{re.escape(field_id)}"[^>]*?value="([^"]*)"', html)
    assert found, f"no value for {field_id}"
    return unescape(found.group(1))


def textarea(html: str, field_id: str) -> str:
    found = re.search(rf'<textarea id="{re.escape(field_id)}"[^>]*>(.*?)</textarea>', html,
                      re.S)
    assert found, f"no textarea {field_id}"
    return unescape(found.group(1))


async def test_a_refused_general_section_keeps_what_was_typed(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    path = f"/console/modules/{seed.module['id']}"
    await browser.page(path)
    typed = {"name": "Front desk <b>PBX</b> «ру»", "description": "Moved to the new PBX",
             "region": "ZZ", "allowlist": "api.example.com\nhooks.example.com"}
    refused = await browser.post_form(path + "/general", typed)
    html = await refused.text()
    assert refused.status == 422
    assert "is not an ISO 3166 region code" in html
    assert field_value(html, "g-name") == typed["name"]
    assert textarea(html, "g-description") == typed["description"]
    assert field_value(html, "g-region") == "ZZ"
    assert textarea(html, "g-allowlist") == typed["allowlist"]
    # Nothing was saved.
    stored = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}")
    assert stored["name"] == "seed-json" and stored["allowlist"] == []


async def test_a_refused_settings_table_keeps_what_was_typed(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    path = f"/console/modules/{seed.module['id']}"
    await browser.page(path)
    # The seed's settings (apiKey secret, recordBaseUrl, members), one changed, one removed,
    # and two new ones: a number typed wrong and a new secret.
    form = {
        "rows": "6",
        "s0-original": "apiKey", "s0-name": "apiKey", "s0-type": "text", "s0-value": "",
        "s0-secret": "1",
        "s1-original": "recordBaseUrl", "s1-name": "recordBaseUrl", "s1-type": "text",
        "s1-value": "https://records.example.com/v2",
        "s2-original": "members", "s2-name": "members", "s2-type": "text", "s2-value": "101:A",
        "s2-remove": "1",
        "s3-original": "", "s3-name": "retries", "s3-type": "number", "s3-value": "three",
        "s4-original": "", "s4-name": "crmToken", "s4-type": "text", "s4-value": "tok-typed",
        "s4-secret": "1",
        "s5-original": "", "s5-name": "", "s5-type": "text", "s5-value": "",
    }
    refused = await browser.post_form(path + "/settings", form)
    html = await refused.text()
    assert refused.status == 422
    assert "retries: &#39;three&#39; is not a number" in html
    names = [field_value(html, f"s{i}-name") for i in range(5)]
    assert names == ["apiKey", "recordBaseUrl", "members", "retries", "crmToken"]
    assert 'id="s5-name" name="s5-name" placeholder="new setting"' in html  # and a new row
    assert field_value(html, "s1-value") == "https://records.example.com/v2"
    assert field_value(html, "s3-value") == "three"
    assert re.search(r'<option value="number" selected>number</option>', html)
    assert re.search(r'id="s2-remove"[^>]*checked', html)  # still ticked
    # The stored secret is still not shown back; the one typed into this form is kept.
    assert field_value(html, "s0-value") == ""
    assert "demo-api-key-123456" not in html
    assert re.search(r'id="s4-value" name="s4-value" type="password" value="tok-typed"', html)
    assert 'name="rows" value="6"' in html

    # Fixing the one wrong value and sending the form back as the page now has it saves all.
    form.update({"s3-value": "3"})
    saved = await browser.post_form(path + "/settings", form)
    assert saved.status == 303
    module = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}")
    assert module["settings"]["retries"] == 3 and "members" not in module["settings"]
    assert module["settings"]["recordBaseUrl"] == "https://records.example.com/v2"
    assert sorted(module["secrets"]) == ["apiKey", "crmToken"]


async def test_unticking_secret_with_a_blank_value_does_not_wipe_it(
        console: tuple[Service, str], browser: Browser) -> None:
    """A blank secret means "keep it"; unticked, it was stored as "" without a word. Now the
    form says what to do, and the secret stays as it was."""
    seed = await signed_in_builder(console, browser)
    path = f"/console/modules/{seed.module['id']}"
    await browser.page(path)
    form = {
        "rows": "3",
        "s0-original": "apiKey", "s0-name": "apiKey", "s0-type": "text", "s0-value": "",
        "s1-original": "recordBaseUrl", "s1-name": "recordBaseUrl", "s1-type": "text",
        "s1-value": "https://records.example.com/rec",
        "s2-original": "members", "s2-name": "members", "s2-type": "text",
        "s2-value": "101:Operator,102:Anna Petrova",
    }
    refused = await browser.post_form(path + "/settings", form)
    assert refused.status == 422
    assert "apiKey: a secret&#39;s value is never shown" in await refused.text()
    module = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}")
    assert module["secrets"] == ["apiKey"]
    # Typing the value makes it a plain setting, as asked.
    saved = await browser.post_form(path + "/settings", {**form, "s0-value": "shown-now"})
    assert saved.status == 303
    module = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}")
    assert module["secrets"] == [] and module["settings"]["apiKey"] == "shown-now"
