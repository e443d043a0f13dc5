"""Every console route that takes an id, generated from the router: tenant B's builder and
operator sessions, given tenant A's ids (in the path, the query or a form field), answer as for
an id that never existed, and A's records stay as they were."""

from __future__ import annotations

import re

import pytest
from aiohttp import ClientSession, CookieJar

from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start
from tests.e2e.test_api_access import ID_KINDS, NO_SUCH, kind_of

PARAM = re.compile(r"\{(\w+)\}")
# What is new on every page: a call form's nonce, the CSP nonce, the id of a run it made.
NONCE = re.compile(r'(name="dial_nonce" value|nonce|name="csp-nonce" content)="[^"]*"'
                   r"|exe_(?!0{26})[0-9a-z]{26}")  # and a run's new execution
# The console's forms and queries that name a record besides the path (the router does not
# publish forms): (method, path, the field, its kind, the rest of the form), "{x}" = B's own x.
FORM_IDS: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("POST", "/console/contacts/{contact}/merge", "other", "contact", {}),
    ("POST", "/console/modules/{module}/replay", "execution_id", "execution",
     {"against": "{version}"}),
    ("POST", "/console/modules/{module}/replay", "against", "version",
     {"execution_id": "{execution}"}),
    ("GET", "/console/modules/{module}/diff", "a", "version", {"b": "{version}"}),
    ("GET", "/console/modules/{module}/diff", "b", "version", {"a": "{version}"}),
    ("GET", "/console/modules/{module}/editor", "execution", "execution", {}),
    ("GET", "/console/modules/{module}/editor", "version", "version", {}),
    ("GET", "/console/modules/{module}/executions", "version_id", "version", {}),
    ("POST", "/console/modules/{module}/bind", "user_id", "user", {"member_id": "109"}),
    ("POST", "/console/users/{user}/bindings", "module_id", "module", {"member_id": "109"}),
    ("POST", "/console/modules/{module}/versions", "base_version_id", "version",
     {"source": "def VoipParseWebhookRequest(request):\n    return None\n"}),
    ("POST", "/console/modules/{module}/rollback", "from_version_id", "version", {}),
]
# The editor's JSON actions: A's id inside the body.
JSON_IDS: list[tuple[str, str, str]] = [
    ("/console/modules/{module}/dry-run", "version_id", "version"),
    ("/console/modules/{module}/dry-run", "execution_id", "execution"),
]


async def everything(service: Service, name: str) -> dict[str, str]:
    seed = await seed_setup(service, name=name)
    api = seed.api
    await seed.hook_ok(start("c-1"))
    [call] = (await api.ok("GET", "/api/v1/calls"))["calls"]
    [execution] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    [version] = (await api.ok("GET", f"/api/v1/modules/{seed.module['id']}/versions"))[
        "versions"]
    contact = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [
        "+79161234567"]}, status=201)
    [token] = (await api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens"))["tokens"]
    [key] = (await api.ok("GET", "/api/v1/keys"))["keys"]
    return {"module": seed.module["id"], "user": seed.user["id"], "call": call["id"],
            "execution": execution["id"], "version": version["id"], "contact": contact["id"],
            "token": token["id"], "key": key["id"], "secret": api.secret or "",
            "user_token": seed.user_token}


def console_routes(service: Service) -> list[tuple[str, str]]:
    app = service.client.app
    assert app is not None
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        names = PARAM.findall(path)
        if path.startswith("/console") and route.method in ("GET", "POST") and \
                all(kind_of(name) for name in names):  # not the static files
            found.append((route.method, path))
    return sorted(set(found))


def own_ids(template: str, mine: dict[str, str]) -> str:
    for kind in ID_KINDS:
        template = template.replace(f"{{{kind}}}", mine[kind])
    return template


async def signed_in(base: str, credential: str, session: ClientSession) -> Browser:
    browser = Browser(session, base)
    await browser.sign_in(credential)
    await browser.page("/console/modules" if credential.startswith("vrk") else "/console/calls")
    return browser


async def answer(browser: Browser, method: str, path: str, form: dict[str, str]
                 ) -> tuple[int, str]:
    if method == "GET":
        query = "&".join(f"{k}={v}" for k, v in form.items())
        response = await browser.get(path + ("?" + query if query else ""),
                                     allow_redirects=False)
    else:
        response = await browser.post_form(path, form)
    return response.status, await response.text()


@pytest.mark.parametrize("role", ["builder", "operator"])
async def test_another_tenants_ids_are_unknown_on_every_console_route(
        console: tuple[Service, str], role: str) -> None:
    service, base = console
    theirs = await everything(service, "a")
    mine = await everything(service, "b")
    routes = console_routes(service)
    assert len(routes) >= 40
    checked = 0
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        browser = await signed_in(base, mine["secret" if role == "builder" else "user_token"],
                                  session)
        for method, path in routes:
            if path.endswith("/socket") or path.endswith("/sign-in") or \
                    path.endswith("/sign-out"):
                continue
            # A's id in each path parameter, B's own in the others.
            for param in PARAM.findall(path):
                kind = kind_of(param)
                assert kind in ID_KINDS, path
                url = path
                for other in PARAM.findall(path):
                    value = theirs[kind] if other == param else mine[kind_of(other) or ""]
                    url = url.replace(f"{{{other}}}", value)
                ghost = url.replace(theirs[kind], NO_SUCH[kind] + "0" * 26)
                seen, never = (await answer(browser, method, url, {}),
                               await answer(browser, method, ghost, {}))
                assert seen[0] in (403, 404), (role, method, url, seen)
                assert seen[0] == never[0], (role, method, url, seen[0], never[0])
                checked += 1
        if role == "builder":
            for method, template, field, kind, rest in FORM_IDS:
                path, form = own_ids(template, mine), {
                    k: own_ids(v, mine) for k, v in rest.items()}
                made_up = NO_SUCH[kind] + "0" * 26
                seen = await answer(browser, method, path, form | {field: theirs[kind]})
                never = await answer(browser, method, path, form | {field: made_up})
                assert seen[0] == never[0], (method, path, field, seen[0], never[0])
                # The page may echo what was asked; apart from that it is the same page.
                assert NONCE.sub("", seen[1].replace(theirs[kind], made_up)) == \
                    NONCE.sub("", never[1]), (method, path, field)
                checked += 1
            for template, field, kind in JSON_IDS:
                path, made_up = own_ids(template, mine), NO_SUCH[kind] + "0" * 26
                seen_response = await browser.post_json(path, {field: theirs[kind]})
                never_response = await browser.post_json(path, {field: made_up})
                assert seen_response.status == never_response.status == 404, (path, field)
                assert (await seen_response.text()).replace(theirs[kind], made_up) == \
                    await never_response.text(), (path, field)
                checked += 1
    assert checked >= 30
    # A's records are as they were.
    a = service.api(theirs["secret"])
    await a.ok("GET", f"/api/v1/modules/{theirs['module']}")
    await a.ok("GET", f"/api/v1/contacts/{theirs['contact']}")
    [token] = (await a.ok("GET", f"/api/v1/users/{theirs['user']}/tokens"))["tokens"]
    assert token["revoked_at"] is None
    assert len((await a.ok("GET", "/api/v1/executions"))["executions"]) == 1


@pytest.mark.parametrize("ended", ["revoked key", "deleted user", "revoked token"])
async def test_an_ended_credentials_session_is_refused_on_every_route(
        console: tuple[Service, str], ended: str) -> None:
    """The session of a key revoked, or of a user deleted or whose token was revoked, after
    sign-in: every console route sends it to sign in (or refuses it), and changes nothing."""
    service, base = console
    mine = await everything(service, "b")
    api = service.api(mine["secret"])
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        if ended == "revoked key":
            spare = await service.operator.ok(
                "POST", f"/api/v1/tenants/{await tenant_named(service, 'b')}/keys", status=201)
            browser = await signed_in(base, spare["key"], session)
            await api.ok("DELETE", f"/api/v1/keys/{spare['id']}", status=204)
        else:
            browser = await signed_in(base, mine["user_token"], session)
            if ended == "deleted user":
                await api.ok("DELETE", f"/api/v1/users/{mine['user']}", status=204)
            else:
                await api.ok("DELETE", f"/api/v1/users/{mine['user']}/tokens/{mine['token']}",
                             status=204)
        checked = 0
        for method, path in console_routes(service):
            if path.endswith("/sign-in") or path.endswith("/sign-out"):
                continue
            url = path
            for param in PARAM.findall(path):
                url = url.replace(f"{{{param}}}", mine[kind_of(param) or ""])
            if method == "GET":
                response = await browser.get(url, allow_redirects=False)
            else:
                response = await browser.post_form(url, {})
            assert response.status in (302, 303, 401, 403), (
                ended, method, url, response.status, (await response.text())[:300])
            if response.status in (302, 303):
                assert response.headers["Location"].startswith("/console/sign-in"), (
                    ended, method, url, response.headers["Location"])
            checked += 1
        assert checked >= 40
    await api.ok("GET", f"/api/v1/modules/{mine['module']}")
    assert len((await api.ok("GET", "/api/v1/executions"))["executions"]) == 1


async def tenant_named(service: Service, name: str) -> str:
    tenants = (await service.operator.ok("GET", "/api/v1/tenants"))["tenants"]
    return str(next(t["id"] for t in tenants if t["name"] == name))


@pytest.mark.parametrize("role", ["builder", "operator"])
async def test_no_console_page_of_b_shows_anything_of_a(console: tuple[Service, str],
                                                      role: str) -> None:
    """Both tenants with the same names and phone numbers: no page B's sessions can open, on
    B's own ids, holds one of A's ids."""
    service, base = console
    theirs = await everything(service, "a")
    mine = await everything(service, "b")
    checked = 0
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        browser = await signed_in(base, mine["secret" if role == "builder" else "user_token"],
                                  session)
        for method, path in console_routes(service):
            if method != "GET" or path.endswith("/socket"):
                continue
            url = path
            for param in PARAM.findall(path):
                url = url.replace(f"{{{param}}}", mine[kind_of(param) or ""])
            response = await browser.get(url, allow_redirects=False)
            text = await response.text()
            for kind in ID_KINDS:
                assert theirs[kind] not in text, (role, url, kind)
            checked += 1
    assert checked >= 20
