"""What a person sees when the console cannot do what the browser asked: a page in words, with
a way back, never the API's raw JSON (a browser shows that as a wall of text)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote

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


async def test_an_htmx_button_after_the_session_ended_sends_the_page_to_sign_in(
        console: tuple[Service, str], browser: Browser) -> None:
    """Not a redirect (htmx would follow it and show the sign-in page inside the button's
    box): HX-Redirect, back to the page the button is on."""
    seed = await signed_in_builder(console, browser)
    module_page = f"/console/modules/{seed.module['id']}"
    await browser.page(module_page)
    browser.session.cookie_jar.clear()
    response = await browser.post_form(
        module_page + "/test-connection", {},
        headers={"HX-Request": "true", "HX-Current-URL": browser.base + module_page})
    assert response.status == 401
    assert response.headers["HX-Redirect"] == \
        "/console/sign-in?next=%2Fconsole%2Fmodules%2F" + seed.module["id"]
    # The module page drawn as a refused form's answer (the address bar: .../settings, a
    # form's address): back to the module page, not to that address ("Method Not Allowed").
    response = await browser.post_form(
        module_page + "/test-connection", {},
        headers={"HX-Request": "true",
                 "HX-Current-URL": browser.base + module_page + "/settings"})
    assert response.headers["HX-Redirect"] == \
        "/console/sign-in?next=%2Fconsole%2Fmodules%2F" + seed.module["id"]
    response = await browser.post_form(
        module_page + "/general", {"name": "x"}, csrf=False,
        headers={"Referer": browser.base + module_page + "/general"})
    assert response.status == 302
    assert unquote(response.headers["Location"]) == \
        "/console/sign-in?unsent=1&next=/console/modules/" + seed.module["id"]


async def test_an_htmx_buttons_error_is_a_few_words_not_a_page(
        console: tuple[Service, str], browser: Browser) -> None:
    seed = await signed_in_builder(console, browser)
    module_page = f"/console/modules/{seed.module['id']}"
    await browser.page(module_page)
    await seed.api.ok("DELETE", f"/api/v1/modules/{seed.module['id']}", status=204)
    response = await browser.post_form(module_page + "/load-members", {},
                                       headers={"HX-Request": "true"})
    text = await response.text()
    assert response.status == 404
    assert text.strip().startswith('<p class="error" role="alert"')
    assert "module not found" in text and "<header" not in text


async def test_a_form_sent_after_the_session_ended_says_nothing_was_saved(
        console: tuple[Service, str], browser: Browser) -> None:
    """The session ended while the page was open (it expired, or was signed out elsewhere):
    its Save lands on the sign-in form, which says nothing was saved, and signing in goes
    back to the page of the form (it went to the modules list, saying nothing)."""
    seed = await signed_in_builder(console, browser)
    module_page = f"/console/modules/{seed.module['id']}"
    await browser.page(module_page)
    browser.session.cookie_jar.clear()
    sent = await browser.post_form(module_page + "/general", {"name": "renamed"},
                                   headers={"Referer": browser.base + module_page})
    assert sent.status == 302
    location = sent.headers["Location"]
    form = await browser.page(location)
    assert "nothing was saved" in form
    assert f'name="next" value="{module_page}"' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    back = await browser.session.post(
        browser.base + "/console/sign-in", allow_redirects=False,
        data={"credential": seed.api.secret, "csrf_token": unescape(token.group(1)),
              "next": module_page})
    assert back.status == 303 and back.headers["Location"] == module_page
    assert (await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}"))["name"] == \
        "seed-json"


# URLs urllib cannot take apart: an IPv6 host without its "]", a bracketed host that is no
# address; in a form's field also a host NFKC normalisation turns into a URL's delimiter
# ("\uff03" is "#").
UNREADABLE_URLS = ("http://[::1/console/modules", "http://[zz]/console/modules")
UNREADABLE_NEXT = ("//[::1/console/modules", "//a\uff03b/console/modules")


async def test_headers_anyone_may_send_that_are_no_url_never_make_a_500(
        console: tuple[Service, str], browser: Browser) -> None:
    """The console reads the Referer, HX-Current-URL and Origin headers and a sign-in's
    `next`; urlsplit's ValueError on them was a 500 (a traceback in the log) for any stranger
    posting to a form's address. They read as no page to go back to, and no origin."""
    seed = await signed_in_builder(console, browser)
    module_page = f"/console/modules/{seed.module['id']}"
    await browser.page(module_page)
    for url in UNREADABLE_URLS:
        # Signed in: a form whose Origin cannot be read is not from this console.
        forged = await browser.post_form(module_page + "/general", {"name": "renamed"},
                                         headers={"Origin": url})
        assert forged.status == 403, await forged.text()
        assert "did not come from this console" in await forged.text()
    assert (await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}"))["name"] == \
        seed.module["name"]

    browser.session.cookie_jar.clear()
    for url in UNREADABLE_URLS:
        sent = await browser.post_form(module_page + "/general", {"name": "renamed"},
                                       csrf=False, headers={"Referer": url})
        assert sent.status == 302, await sent.text()
        assert unquote(sent.headers["Location"]) == "/console/sign-in?unsent=1&next=/console/"
        button = await browser.post_form(module_page + "/test-connection", {}, csrf=False,
                                         headers={"HX-Request": "true", "HX-Current-URL": url})
        assert button.status == 401, await button.text()
        assert button.headers["HX-Redirect"] == "/console/sign-in?next=%2Fconsole%2F"

    for nxt in UNREADABLE_NEXT:
        form = await browser.page("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed_in = await browser.session.post(
            browser.base + "/console/sign-in", allow_redirects=False,
            data={"credential": seed.api.secret, "csrf_token": unescape(token.group(1)),
                  "next": nxt})
        assert signed_in.status == 303, await signed_in.text()
        assert signed_in.headers["Location"] == "/console/modules"
        browser.session.cookie_jar.clear()
