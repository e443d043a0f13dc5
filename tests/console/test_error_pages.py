"""What a person sees when the console cannot do what the browser asked: a page in words, with
a way back, never the API's raw JSON (a browser shows that as a wall of text)."""

from __future__ import annotations

from tests.console.conftest import Browser
from tests.console.test_admin_pages import signed_in_builder
from tests.e2e.conftest import Service


async def shown_as_page(browser: Browser, method: str, path: str, status: int,
                        words: str) -> None:
    response = await browser.session.request(method, browser.base + path,
                                             allow_redirects=False)
    text = await response.text()
    assert response.status == status, text[:300]
    assert response.content_type == "text/html", text[:300]
    assert words in text
    assert 'href="/console/"' in text  # a way back


async def test_an_address_the_console_does_not_have_is_a_page(
        console: tuple[Service, str], browser: Browser) -> None:
    await signed_in_builder(console, browser)
    await shown_as_page(browser, "GET", "/console/modles", 404, "There is no such page")


async def test_a_forms_address_opened_as_a_page_says_what_it_is(
        console: tuple[Service, str], browser: Browser) -> None:
    """After a refused form the address bar shows the form's address (the 422 page is its
    answer): pressing Enter there, or opening it in a new tab, is a GET."""
    seed = await signed_in_builder(console, browser)
    module_id = seed.module["id"]
    refused = await browser.post_form(f"/console/modules/{module_id}/general",
                                      {"name": "x", "region": "ZZ"})
    assert refused.status == 422
    await shown_as_page(browser, "GET", f"/console/modules/{module_id}/general", 405,
                        "This address is where a form is sent")


async def test_signing_out_from_a_page_older_than_the_session_is_a_page(
        console: tuple[Service, str], browser: Browser) -> None:
    """A tab left open while the same browser signed out and in again in another tab holds
    the old session's CSRF token: its Sign out is refused, in words."""
    seed = await signed_in_builder(console, browser)
    await browser.page("/console/modules")
    old_token = browser.csrf
    assert (await browser.post_form("/console/sign-out", {})).status == 303
    await browser.sign_in(seed.api.secret or "")
    response = await browser.session.post(
        browser.base + "/console/sign-out", data={"csrf_token": old_token},
        allow_redirects=False)
    text = await response.text()
    assert response.status == 403
    assert response.content_type == "text/html", text[:300]
    assert "reload the page and try again" in text
