"""The pages listing users, their extensions and the click-to-call lines read every module's
bindings, and every user's live tokens, in one read each: the same pages, however many users
and modules the tenant has (they used to read per module, and per user, one by one)."""

from __future__ import annotations

import re
from html import unescape
from types import SimpleNamespace
from typing import cast

import pytest
from aiohttp import web

from runtime.auth import UserAuth
from runtime.console.dialing import dial_lines
from runtime.console.session import Session
from runtime.store.models import NewModule
from runtime.store.reads import QueryReads
from runtime.typedefs import STORE
from tests.console.conftest import Browser, counting_reads
from tests.e2e.conftest import Service
from tests.e2e.helpers import record, seed_setup

MODULES = 8
USERS = 12


async def test_member_pages_read_bindings_and_tokens_at_once(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    tenant = seed.tenant_id
    users = [await store.create_user(tenant, f"user-{n:02}") for n in range(USERS)]
    for n, user in enumerate(users):
        for _ in range(n % 3):  # 0, 1 or 2 live tokens, and one revoked for every third
            await store.create_user_token(tenant, user.id)
        if n % 3 == 0:
            token, _secret = await store.create_user_token(tenant, user.id)
            await store.revoke_user_token(tenant, user.id, token.id)
    for m in range(MODULES):
        module = await store.create_module(tenant, NewModule(name=f"pbx-{m}", region="RU"))
        await store.set_bindings(tenant, module.id, {
            f"{200 + n}": users[(n + m) % USERS].id for n in range(3)})
    await browser.sign_in(seed.api.secret or "")

    with counting_reads(store, monkeypatch) as reads:
        html = await browser.page("/console/users")
    assert reads["list_bindings"] == 0 and reads["list_user_tokens"] == 0, reads
    assert reads["users_bindings"] == 1 and reads["live_token_counts"] == 1, reads
    assert reads["tenant_bindings"] == 0, reads
    # What the page says is as before: each user's extensions (module by module, by name,
    # each by member id) and live tokens.
    assert "<td>2</td>" in html and "<td>1</td>" in html, html
    assert "200 <span class=\"muted\">(pbx-0)</span>" in html, html

    with counting_reads(store, monkeypatch) as reads:
        html = await browser.page(f"/console/users/{users[0].id}")
    assert reads["list_bindings"] == 0 and reads["users_bindings"] == 1, reads
    expected_here = sorted((f"pbx-{m}", f"{200 + n}") for m in range(MODULES) for n in range(3)
                      if (n + m) % USERS == 0)
    shown = [(module, member) for module, member in expected_here
             if f"<strong>{member}</strong> in <a" in html and module in html]
    assert shown == expected_here and expected_here, html

    with counting_reads(store, monkeypatch) as reads:
        await browser.page("/console/calls")
    # The Call menus: one read of the bindings of the modules its calls came through.
    assert reads["list_bindings"] == 0 and reads["tenant_bindings"] == 0, reads
    assert reads["dial_bindings"] == 1, reads

    # The lines to call from: each module's users, each at their first extension, as before.
    builder = Session(kind="builder", sid="s", tenant_id=tenant, csrf="c", expires_at=0,
                      key_id="key")
    request = cast(web.Request, SimpleNamespace(app=service.client.app))
    modules = await store.list_modules(tenant, 500, 0)
    with counting_reads(store, monkeypatch) as reads:
        dial = (await dial_lines(request, builder, [m.id for m in modules]))["dial"]
    assert reads["list_bindings"] == 0 and reads["tenant_bindings"] == 0, reads
    assert reads["dial_bindings"] == 1, reads
    names = {u.id: u.name for u in await store.list_users(tenant, 500, 0)}
    expected: dict[str, list[tuple[str, str]]] = {}
    for module in modules:
        first: dict[str, str] = {}
        for binding in await store.list_bindings(tenant, module.id) or []:
            first.setdefault(binding.user_id, binding.member_id)
        expected[module.id] = [(names[u], member) for u, member in first.items()]
    assert {m: [(line.user_name, line.extension) for line in lines]
            for m, lines in dial.items()} == expected
    assert len(expected) == MODULES + 1 and all(expected.values())


async def test_the_users_list_reaches_every_user_a_page_at_a_time(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant may have 10,000 users (tenant_limits.max_users); the list showed the first
    500 by name, and the rest could not be reached in the console. Its pages, followed by
    their links, show every user once, with their extensions, each page in the same few
    reads (the bindings of the page's users only, not every binding of every module)."""
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    tenant = seed.tenant_id
    users = [await store.create_user(tenant, f"user-{n:03}") for n in range(520)]
    module = await store.create_module(tenant, NewModule(name="pbx-many", region="RU"))
    await store.set_bindings(tenant, module.id, {"9519": users[-1].id, "9000": users[0].id})
    await browser.sign_in(seed.api.secret or "")

    seen: list[str] = []
    path: str | None = "/console/users"
    pages = 0
    while path is not None:
        with counting_reads(store, monkeypatch) as reads:
            html = await browser.page(path)
        assert (reads["list_users"], reads["users_bindings"], reads["live_token_counts"]) \
            == (1, 1, 1), reads
        assert reads["tenant_bindings"] == 0, reads
        seen += [unescape(name) for name in
                 re.findall(r'<td class="text"><a href="/console/users/[^"]+">([^<]*)</a>', html)]
        if "user-519" in html:
            assert '9519 <span class="muted">(pbx-many)</span>' in html, html
        found = re.search(r'<a href="(\?offset=\d+)">Next users</a>', html)
        path = "/console/users" + unescape(found.group(1)) if found else None
        pages += 1
        assert pages < 10
    assert sorted(seen) == sorted(["operator", *(u.name for u in users)])
    assert len(seen) == len(set(seen))
    # And back: the previous page's link.
    html = await browser.page("/console/users?offset=200")
    assert 'href="?offset=0">Previous users</a>' in html


@pytest.mark.parametrize("offset", ["9223372036854775807", "9223372036854775808",
                                    "1" + "0" * 100])
async def test_a_users_page_beyond_every_user_says_so_however_far(
        console: tuple[Service, str], browser: Browser, offset: str) -> None:
    """An offset past what the store's 64-bit integers hold was the SQLite driver's
    OverflowError, a 500; the API refuses it (offset: must be 0..2**63-1), the page shows
    the end of the list as it does for any offset past the last user."""
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/users?offset={offset}")
    assert "No users this far in the list." in html


async def test_an_operators_calls_page_reads_only_their_own_bindings(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    other = await store.create_user(seed.tenant_id, "other")
    for m in range(MODULES):
        module = await store.create_module(seed.tenant_id, NewModule(name=f"pbx-{m}",
                                                                     region="RU"))
        await store.set_bindings(seed.tenant_id, module.id, {"300": other.id})
    await seed.hook_ok(record("at-101"))  # a call at the operator's number, unanswered
    await browser.sign_in(seed.user_token)

    with counting_reads(store, monkeypatch) as reads:
        html = await browser.page("/console/calls")
    # Their bindings once for the calls they may see, once for their lines to call from (of
    # the modules of the calls shown); a list of calls for the one module where a number is
    # theirs (and the ones they answered).
    assert reads["list_bindings"] == 0 and reads["tenant_bindings"] == 1, reads
    assert reads["dial_bindings"] == 1, reads
    assert reads["list_calls"] == 2, reads
    assert "No calls." not in html, html  # the call at 101 is theirs to see

    user = await store.get_user(seed.tenant_id, seed.user["id"])
    assert user is not None
    operator = Session(kind="operator", sid="s", tenant_id=seed.tenant_id, csrf="c",
                       expires_at=0, user_auth=UserAuth(user, "tok", "hash"))
    request = cast(web.Request, SimpleNamespace(app=service.client.app))
    every_module = [m.id for m in await store.list_modules(seed.tenant_id, 500, 0)]
    assert len(every_module) == MODULES + 1
    # Of every module's menu, an operator's lines only: none in the modules where only
    # another user is bound.
    dial = (await dial_lines(request, operator, every_module))["dial"]
    assert {m: [(line.user_name, line.extension) for line in lines]
            for m, lines in dial.items()} == {seed.module["id"]: [("operator", "101")]}



def submitted(html: str, form_action: str) -> list[tuple[str, str]]:
    """The fields a browser sends for the form posting to `form_action`: hidden inputs, and
    each select's selected option (its first when none is)."""
    start = html.index(f'action="{form_action}"')
    form = html[start:html.index("</form>", start)]
    fields = [(name, unescape(value)) for name, value in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)]
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', form,
                                    re.S):
        chosen = (re.search(r'<option value="([^"]*)" selected>', options)
                  or re.search(r'<option value="([^"]*)"', options))
        assert chosen is not None
        fields.append((name, unescape(chosen.group(1))))
    return [(name, value) for name, value in fields if name != "csrf_token"]


async def test_saving_bindings_keeps_a_user_past_the_first_500(
        console: tuple[Service, str], browser: Browser) -> None:
    """The module page's menus offered the first 500 users by name only: a member bound to a
    user after them showed "not bound", and saving the bindings form unbound it. The menus
    hold every bound user, in one more read."""
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    for n in range(500):
        await store.create_user(seed.tenant_id, f"a-{n:03}")
    last = await store.create_user(seed.tenant_id, "zz last")
    module_id = seed.module["id"]
    await store.set_bindings(seed.tenant_id, module_id, {"200": last.id})
    await browser.sign_in(seed.api.secret or "")
    html = await browser.page(f"/console/modules/{module_id}")
    action = f"/console/modules/{module_id}/bindings"
    sent = submitted(html, action)
    assert ("m1-user", last.id) in sent and ("m1-id", "200") in sent, sent

    response = await browser.post_form(action, sent)  # "Save" without changing anything
    assert response.status == 303, await response.text()
    bindings = await store.list_bindings(seed.tenant_id, module_id) or []
    assert {b.member_id: b.user_id for b in bindings} == {
        "101": seed.user["id"], "200": last.id}


async def test_the_modules_page_reads_active_versions_at_once(
        console: tuple[Service, str], browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The modules page read each module's active version, its source included, to show
    its number: a read per module."""
    service, _ = console
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    assert isinstance(store, QueryReads)
    for m in range(MODULES):
        module = await store.create_module(seed.tenant_id, NewModule(name=f"pbx-{m}",
                                                                     region="RU"))
        for n in range(m % 3):
            await store.add_version(seed.tenant_id, module.id, f"x = {n}")
    await browser.sign_in(seed.api.secret or "")
    with counting_reads(store, monkeypatch) as reads:
        html = await browser.page("/console/modules")
    assert reads["get_version"] == 0 and reads["active_version_numbers"] == 1, reads
    rows = re.findall(r'>(pbx-\d|seed-json)</a>.*?<td>(v\d|<span class="muted">none yet)',
                      html, re.S)
    assert sorted(rows) == sorted([("seed-json", "v1")] + [
        (f"pbx-{m}", f"v{m % 3}" if m % 3 else '<span class="muted">none yet')
        for m in range(MODULES)]), html
