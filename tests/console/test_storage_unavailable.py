"""The console while the database refuses (disk I/O error, PostgreSQL down): every page and form
post answers a 503 page saying the database is unavailable, with Retry-After, and logs no
traceback per request; a request asking for JSON gets the API's JSON 503; a bug is still a
logged 500, shown as a page.

The store is broken where its reads and writes reach the database, with the driver's own error
(an SQLite I/O error), as a failing disk raises it."""

from __future__ import annotations

import logging
import re
import sqlite3
from html import unescape
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, web

from runtime.store.reads import QueryReads
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, record, seed_setup

# What a console session needs on every request: these keep working, so that the failure is
# met deep in each handler rather than at the door.
SESSION_READS = frozenset({"find_api_key", "find_user_token"})


# Console GETs that never read the store: what they answer does not depend on it.
STORE_FREE = {"/console", "/console/", "/console/completion.json", "/console/sign-in"}


def io_error() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = sqlite3.SQLITE_IOERR
    return error


def break_store(service: Service, monkeypatch: pytest.MonkeyPatch, *,
                keep: frozenset[str] = frozenset()) -> None:
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    read = store._read

    async def failing_read(query: Any, *args: Any) -> Any:
        if query.__name__ in keep:
            return await read(query, *args)
        raise io_error()

    async def failing_write(*args: Any, **kwargs: Any) -> Any:
        raise io_error()

    monkeypatch.setattr(store, "_read", failing_read)
    monkeypatch.setattr(store, "write", failing_write)


def console_get_paths(app: web.Application, seed: SeedSetup, ids: dict[str, str]) -> list[str]:
    """Every GET route of the console, its path parameters filled with real ids."""
    paths = []
    for resource in app.router.resources():
        info = resource.get_info()
        pattern = info.get("formatter") or info.get("path") or ""
        if not pattern.startswith("/console") or "/static/" in pattern \
                or pattern.endswith("/socket"):
            continue
        if not any(route.method == "GET" for route in resource):
            continue
        paths.append(re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: ids.get(m.group(1), "x"),
                            pattern))
    return sorted(set(paths))


def assert_unavailable_page(status: int, headers: Any, html: str, what: str) -> None:
    assert status == 503, f"{what}: {status} {html[:300]}"
    assert int(headers["Retry-After"]) > 0, what
    assert headers["Content-Type"].startswith("text/html"), what
    assert "Temporarily unavailable" in html, what
    assert "The database is unavailable right now (disk I/O error)" in html, what


async def test_every_console_page_says_the_database_is_unavailable(
        console: tuple[Service, str], browser: Browser, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await seed.hook_ok(record("c-1"))
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    ids = {"module_id": seed.module["id"], "call_id": call["id"], "user_id": seed.user["id"],
           "contact_id": call.get("contact_id") or "x"}
    await browser.sign_in(seed.api.secret or "")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as operator_session:
        operator = Browser(operator_session, browser.base)
        await operator.sign_in(seed.user_token)
        paths = console_get_paths(service.client.app, seed, ids)
        assert len(paths) > 10, paths

        break_store(service, monkeypatch, keep=SESSION_READS)
        caplog.clear()
        unavailable: set[str] = set()
        for path in paths:
            for who in (browser, operator):  # some pages are a builder's, some an operator's
                response = await who.get(path, allow_redirects=False)
                html = await response.text()
                if path in STORE_FREE or response.status == 403:
                    continue  # 403: not this kind of session's page, said before any read
                assert_unavailable_page(response.status, response.headers, html, path)
                unavailable.add(path)
                if "?" not in path:
                    assert f'href="{path}">Try again' in html, path
        assert set(paths) - STORE_FREE == unavailable

    # A form post meets the same refusal, as a page.
    response = await browser.post_form("/console/users", {"name": "anna"})
    assert_unavailable_page(response.status, response.headers, await response.text(), "post")
    assert "Try again</a>" not in await response.text()  # a post is sent again from its page

    # The console's scripts ask for JSON and get the API's JSON error.
    response = await browser.session.get(
        browser.base + f"/console/modules/{seed.module['id']}/executions",
        headers={"Accept": "application/json"})
    assert response.status == 503
    assert (await response.json())["error"] == "storage_unavailable"

    # No traceback per request: the store's health says so once, not the console.
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert "unhandled error" not in caplog.text
    metrics = await (await browser.get("/metrics")).text()
    assert re.search(r'voip_storage_refusals_total\{surface="console"\} [1-9]', metrics), \
        metrics


async def test_the_sign_in_and_the_door_say_so_too(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    break_store(service, monkeypatch)  # the session's own reads fail as well
    response = await browser.get("/console/modules", allow_redirects=False)
    assert_unavailable_page(response.status, response.headers, await response.text(),
                            "a page whose session cannot be read")
    form = await browser.page("/console/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    response = await browser.session.post(browser.base + "/console/sign-in", data={
        "credential": seed.api.secret or "", "csrf_token": unescape(token.group(1)),
        "next": ""}, allow_redirects=False)
    assert_unavailable_page(response.status, response.headers, await response.text(),
                            "signing in")


async def test_a_bug_is_a_logged_500_page(console: tuple[Service, str], browser: Browser,
                                         monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    store = service.client.app[STORE]

    async def buggy(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(store, "list_modules", buggy)
    with caplog.at_level(logging.ERROR):
        response = await browser.get("/console/modules")
    html = await response.text()
    assert response.status == 500 and "Retry-After" not in response.headers
    assert "Something went wrong" in html and "KeyError" not in html
    assert "unhandled error on GET /console/modules" in caplog.text
