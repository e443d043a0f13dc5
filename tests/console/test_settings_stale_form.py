"""The module page's settings table saves the rows it showed. A setting added after the page
was drawn (another tab, a colleague, `voip-runtime deploy`) is in no row of it: saving the page
deleted that setting without a word, and the script then failed on `settings["..."]`."""

from __future__ import annotations

import re
from html import unescape

from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder
from tests.e2e.conftest import Service


def settings_form(html: str) -> dict[str, str]:
    """The settings form's fields as the page drew them (what a browser would send)."""
    form = re.search(r'<form method="post" action="[^"]*/settings">(.*?)</form>', html, re.S)
    assert form, "no settings form"
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", form.group(1)):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if name is None or name.group(1) == "csrf_token":
            continue
        if kind and kind.group(1) == "checkbox":
            if " checked" in tag:
                fields[name.group(1)] = "1"
            continue
        fields[name.group(1)] = unescape(value.group(1)) if value else ""
    for select in re.findall(r'<select [^>]*name="([^"]+)"', form.group(1)):
        fields[select] = "text"
    return fields


async def test_saving_a_page_drawn_before_a_setting_was_added_keeps_that_setting(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module_id = seed.module["id"]
    path = f"/console/modules/{module_id}"
    form = settings_form(await browser.page(path))
    assert form["s1-original"] == "recordBaseUrl"

    # Meanwhile, elsewhere: a new setting, and a new secret.
    await seed.api.ok("PATCH", f"/api/v1/modules/{module_id}", {
        "settings": {"apiKey": "demo-api-key-123456",
                     "recordBaseUrl": "https://records.example.com/rec",
                     "members": "101:Operator,102:Anna Petrova",
                     "timeout": 5, "crmToken": "crm-secret-1"},
        "secrets": ["apiKey", "crmToken"]})

    # This page, as it was drawn: one value changed, one setting removed.
    form["s1-value"] = "https://records.example.com/v2"
    form["s2-remove"] = "1"
    saved = await browser.post_form(path + "/settings", form)
    assert saved.status == 303, await saved.text()

    module = await seed.api.ok("GET", f"/api/v1/modules/{module_id}")
    settings = module["settings"]
    assert settings["recordBaseUrl"] == "https://records.example.com/v2"
    assert "members" not in settings  # removed on this page: still removed
    assert settings["timeout"] == 5  # not on this page: kept as it is
    assert "crmToken" in settings and sorted(module["secrets"]) == ["apiKey", "crmToken"]
    # Both secrets as they were (the API shows them masked; the script gets them whole).
    stored = await console[0].client.app[STORE].get_module(seed.tenant_id, module_id)
    assert stored is not None
    assert stored.settings["crmToken"] == "crm-secret-1"
    assert stored.settings["apiKey"] == "demo-api-key-123456"
