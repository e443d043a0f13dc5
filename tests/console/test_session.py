"""The console's session: what the cookie holds, CSRF on every form, and that a session never
does more than the credential it was opened with."""

from __future__ import annotations

from http.cookies import SimpleCookie

from aiohttp import ClientSession, CookieJar

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


def set_cookie(response_headers: object, name: str) -> str:
    for header in response_headers.getall("Set-Cookie", []):  # type: ignore[attr-defined]
        if header.startswith(name + "="):
            return str(header)
    raise AssertionError(f"no Set-Cookie for {name}")


async def test_cookie_is_httponly_strict_and_holds_no_key(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    response = await browser.sign_in(seed.api.secret or "")
    header = set_cookie(response.headers, "vr_console")
    lowered = header.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/console" in lowered
    value = SimpleCookie(header)["vr_console"].value
    assert (seed.api.secret or "") not in value
    assert response.headers["Location"] == "/console/modules"


async def test_wrong_credential_is_refused(console: tuple[Service, str],
                                           browser: Browser) -> None:
    form = await browser.page("/console/sign-in")
    assert 'autocomplete="off"' in form
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    response = await browser.session.post(browser.base + "/console/sign-in", data={
        "credential": "vrk_not-a-key", "csrf_token": token}, allow_redirects=False)
    assert response.status == 401
    assert "not a valid API key" in await response.text()
    assert "vr_console=" not in " ".join(response.headers.getall("Set-Cookie", []))


async def test_a_sign_in_form_of_many_fields_is_refused_unread(console: tuple[Service, str],
                                                               browser: Browser) -> None:
    # Anyone may post this form: at the API's 2 MiB limit, half a million fields were parsed
    # before the CSRF token was looked at, a third of a second of the event loop each time.
    await browser.page("/console/sign-in")
    response = await browser.session.post(
        browser.base + "/console/sign-in", data="a=1&" * 50_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False)
    assert response.status == 413
    assert "larger than 16384 bytes" in await response.text()


async def test_sign_in_form_needs_its_csrf_token(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.page("/console/sign-in")
    response = await browser.session.post(browser.base + "/console/sign-in", data={
        "credential": seed.api.secret, "csrf_token": "forged"}, allow_redirects=False)
    assert response.status == 403


async def test_forms_and_json_need_the_csrf_token(console: tuple[Service, str],
                                                  browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    module = seed.module["id"]
    refused = await browser.post_form("/console/modules", {"name": "x"}, csrf=False)
    assert refused.status == 403
    forged = await browser.post_form("/console/modules", [("name", "x"), ("csrf_token", "no")],
                                     csrf=False)
    assert forged.status == 403
    check = await browser.post_json(f"/console/modules/{module}/check", {"source": "x = 1"},
                                    csrf=False)
    assert check.status == 403
    # From another origin, even with the token, a JSON call is refused.
    other = await browser.session.post(
        browser.base + f"/console/modules/{module}/check", json={"source": "x = 1"},
        headers={"X-CSRF-Token": browser.csrf, "Origin": "https://evil.example"})
    assert other.status == 403
    modules = (await seed.api.ok("GET", "/api/v1/modules"))["modules"]
    assert [m["name"] for m in modules] == ["seed-json"]


async def test_revoking_the_key_ends_the_session(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    keys = (await seed.api.ok("GET", "/api/v1/keys"))["keys"]
    await seed.api.ok("DELETE", f"/api/v1/keys/{keys[0]['id']}", status=204)
    response = await browser.get("/console/modules", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("/console/sign-in")


async def test_sign_out_ends_the_session_even_with_the_old_cookie(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    cookie = next(c for c in browser.session.cookie_jar if c.key == "vr_console").value
    response = await browser.post_form("/console/sign-out", {})
    assert response.status == 303
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as thief:
        replay = await thief.get(browser.base + "/console/modules", allow_redirects=False,
                                 headers={"Cookie": f"vr_console={cookie}"})
        assert replay.status == 302


async def test_a_forged_cookie_is_nobody(console: tuple[Service, str], browser: Browser) -> None:
    response = await browser.get("/console/modules", allow_redirects=False,
                                 headers={"Cookie": "vr_console=eyJrIjoiYnVpbGRlciJ9.AAAA"})
    assert response.status == 302


async def test_operator_session_is_not_a_builder(console: tuple[Service, str],
                                                 browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    response = await browser.sign_in(seed.user_token)
    assert response.headers["Location"] == "/console/live"
    module = seed.module["id"]
    for path in ("/console/modules", f"/console/modules/{module}",
                 f"/console/modules/{module}/editor", f"/console/modules/{module}/executions"):
        page = await browser.get(path)
        assert page.status == 403, path
    dry = await browser.post_json(f"/console/modules/{module}/dry-run", {})
    assert dry.status == 403


async def test_builder_session_has_no_live_feed(console: tuple[Service, str],
                                                browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    assert (await browser.get("/console/live")).status == 403


async def test_another_tenants_module_is_not_found(console: tuple[Service, str],
                                                   browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    _, other = await service.new_tenant("other")
    await browser.sign_in(other.secret or "")
    module = seed.module["id"]
    for path in (f"/console/modules/{module}", f"/console/modules/{module}/editor",
                 f"/console/modules/{module}/versions"):
        assert (await browser.get(path)).status == 404, path
    check = await browser.post_json(f"/console/modules/{module}/dry-run", {})
    assert check.status == 404


async def test_next_never_leaves_the_console(console: tuple[Service, str],
                                             browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    form = await browser.page("/console/sign-in?next=//evil.example/x")
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    response = await browser.session.post(browser.base + "/console/sign-in", data={
        "credential": seed.api.secret, "csrf_token": token, "next": "//evil.example/x"},
        allow_redirects=False)
    assert response.headers["Location"] == "/console/modules"
