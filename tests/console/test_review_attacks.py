"""The new console pages attacked and used from the outside (a review of the tenant admin's
pages, the live page and the editor): what a reload, a forged or odd request, or hostile text
gets, and what users then see."""

from __future__ import annotations

import re
from html import unescape

from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder, token_on
from tests.e2e.conftest import Service

NEWEST = re.compile(r'name="newest_token" value="([^"]*)"')


async def test_reloading_the_new_token_page_makes_no_second_token(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    anna = await seed.api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    path = f"/console/users/{anna['id']}"
    page = await browser.page(path)
    form = {"newest_token": unescape(NEWEST.search(page).group(1))}  # type: ignore[union-attr]

    made = await browser.post_form(path + "/tokens", form)
    assert made.status == 201
    secret = token_on(await made.text())

    # The browser's reload (or a second click) sends the very same form again.
    again = await browser.post_form(path + "/tokens", form)
    text = await again.text()
    assert again.status == 409
    assert "No token was made" in text and secret not in text
    assert again.headers["Cache-Control"] == "no-store"
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert len(tokens) == 1 and secret.startswith(tokens[0]["prefix"])

    # The page that says so offers the form again, and that one does make another token.
    fresh = {"newest_token": unescape(NEWEST.search(text).group(1))}  # type: ignore[union-attr]
    assert fresh["newest_token"] == tokens[0]["id"]
    second = await browser.post_form(path + "/tokens", fresh)
    assert second.status == 201 and token_on(await second.text()) != secret
    tokens = (await seed.api.ok("GET", f"/api/v1/users/{anna['id']}/tokens"))["tokens"]
    assert len(tokens) == 2
