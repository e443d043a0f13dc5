"""The API as an outside client meets it: edges of pagination, and writes that race a deletion.

Each test here was a 500 (an unhandled error) before its fix; the answers are the documented
JSON errors, and nothing is stored that should not be.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.e2e.conftest import Api, Service, service_on_backend
from tests.e2e.helpers import (
    CLIENT,
    SEED_SCRIPT,
    end,
    record,
    seed_setup,
    serving,
    start,
    upload,
)
from tests.e2e.service_process import service_config as process_config
from tests.e2e.test_openapi import assert_conforms

SQL_INTEGER_MAX = 2**63 - 1


async def list_operations(api: Api) -> list[str]:
    """Every documented GET whose query takes `offset`, with its path ids left in."""
    doc = await api.ok("GET", "/api/v1/openapi.json")
    return [path for path, operations in doc["paths"].items()
            if any(p["name"] == "offset" for p in operations.get("get", {}).get("parameters", []))]


async def test_an_offset_past_the_largest_sql_integer_is_a_400_on_every_list(
        service: Service, caplog: pytest.LogCaptureFixture) -> None:
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    contact = await api.ok("POST", "/api/v1/contacts", {"name": "c", "phones": ["+79161234567"]},
                           status=201)
    ids = {"{module_id}": module["id"], "{user_id}": user["id"], "{contact_id}": contact["id"]}
    paths = await list_operations(api)
    assert "/api/v1/calls" in paths and "/api/v1/tenants" in paths
    for template in paths:
        path = template
        for name, value in ids.items():
            path = path.replace(name, value)
        caller = (service.operator if path.startswith("/api/v1/tenants")
                  else service.api(token["token"]) if path == "/api/v1/notifications" else api)
        for offset in (SQL_INTEGER_MAX + 1, 10**30):
            response = await caller.get(f"{path}?offset={offset}")
            body = await response.json()
            assert response.status == 400, (path, response.status, body)
            assert body["error"] == "bad_request" and "offset" in body["message"], body
        # The largest one is an empty page, not an error.
        await caller.ok("GET", f"{path}?offset={SQL_INTEGER_MAX}")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_every_list_pages_with_limit_and_offset(service: Service) -> None:
    """Each list that documents `offset` skips that many items: page after page, a client
    sees the whole list once. GET /api/v1/notifications documented it and ignored it: every
    page was the first, and a client paging until an empty page never stopped."""
    seed = await seed_setup(service, "acme")
    await service.new_tenant("globex")
    second = await seed.api.ok("POST", "/api/v1/users", {"name": "second"}, status=201)
    await seed.api.ok("POST", "/api/v1/modules", {"name": "second"}, status=201)
    # Two of each whole list that pages on request: keys, the user's tokens, bindings.
    await service.operator.ok("POST", f"/api/v1/tenants/{seed.tenant_id}/keys", status=201)
    await seed.api.ok("POST", f"/api/v1/users/{seed.user['id']}/tokens", status=201)
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": seed.user["id"], "102": second["id"]}})
    await upload(seed.api, seed.module["id"], SEED_SCRIPT)
    contact = await seed.api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": [CLIENT]},
                                status=201)
    await seed.api.ok("POST", "/api/v1/contacts", {"name": "Petr", "phones": ["+79031112233"]},
                      status=201)
    for call_id in ("c-1", "c-2", "c-3"):  # calls, activity, executions, notifications
        for event in (start(call_id), end(call_id), record(call_id)):
            await seed.hook_ok(event)
    ids = {"{module_id}": seed.module["id"], "{contact_id}": contact["id"],
           "{user_id}": seed.user["id"]}
    paths = await list_operations(seed.api)
    assert len(paths) >= 12, paths
    for template in paths:
        path = template
        for name, value in ids.items():
            path = path.replace(name, value)
        caller = (service.operator if path.startswith("/api/v1/tenants")
                  else service.api(seed.user_token) if path == "/api/v1/notifications"
                  else seed.api)
        whole = await caller.ok("GET", f"{path}?limit=500")
        (key, items), = ((k, v) for k, v in whole.items() if isinstance(v, list))
        assert len(items) >= 2, (path, whole)
        pages = [(await caller.ok("GET", f"{path}?limit=1&offset={offset}"))[key]
                 for offset in range(len(items) + 1)]
        assert pages == [[item] for item in items] + [[]], path


async def test_the_published_offset_says_its_maximum(service: Service) -> None:
    doc = await service.operator.ok("GET", "/api/v1/openapi.json")
    offset = next(p for p in doc["paths"]["/api/v1/calls"]["get"]["parameters"]
                  if p["name"] == "offset")
    assert offset["schema"]["maximum"] == SQL_INTEGER_MAX


# A script that waits, inside a fetch() the test answers, until the test has deleted its module.
HOLDING_SCRIPT = '''
def VoipParseWebhookRequest(request):
    fetch(settings["hold"])
    storage.set("seen", 1)
    if request.query.get("fail"):
        raise ValueError("failed after the hold")
    return {"callRecord": {
        "direction": VoipCallDirection.In,
        "disposition": VoipCallDisposition.NoAnswer,
        "srcPhone": "+79161234567", "dstPhone": "101", "callId": "c-1", "duration": 0,
    }}


def VoipTestConnection():
    fetch(settings["hold"])
    return {"success": True}
'''


class Hold:
    """The fake server the script's fetch() waits on."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.entered.set()
        await self.release.wait()
        return web.Response(text="ok")


@pytest.fixture
async def hold() -> AsyncIterator[tuple[Hold, str]]:
    holding = Hold()
    app = web.Application()
    app.router.add_get("/hold", holding.handle)
    async with serving(app) as base:
        yield holding, base


@pytest.fixture(params=["sqlite", "postgres"])
async def on_both(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    """A service on SQLite, then one on a fresh PostgreSQL schema."""
    async with service_on_backend(request.param, tmp_path) as service:
        yield service


async def holding_module(api: Api, base: str) -> dict[str, Any]:
    module: dict[str, Any] = await api.ok("POST", "/api/v1/modules", {
        "name": "holding", "settings": {"hold": f"{base}/hold"}, "allowlist": ["127.0.0.1"],
    }, status=201)
    await upload(api, module["id"], HOLDING_SCRIPT)
    return module


async def deleted_while_held(api: Api, module: dict[str, Any], holding: Hold,
                             running: asyncio.Task[Any]) -> None:
    await asyncio.wait_for(holding.entered.wait(), 30)
    await api.ok("DELETE", f"/api/v1/modules/{module['id']}", status=204)
    holding.release.set()


async def nothing_stored(api: Api) -> None:
    assert (await api.ok("GET", "/api/v1/calls"))["calls"] == []
    assert (await api.ok("GET", "/api/v1/contacts"))["contacts"] == []
    assert (await api.ok("GET", "/api/v1/executions"))["executions"] == []


@pytest.mark.parametrize("query", ["", "?fail=1"], ids=["result", "script-error"])
async def test_a_webhook_whose_module_is_deleted_while_it_runs_is_404_and_stores_nothing(
        on_both: Service, hold: tuple[Hold, str], query: str,
        caplog: pytest.LogCaptureFixture) -> None:
    service, (holding, base) = on_both, hold
    _, api = await service.new_tenant()
    module = await holding_module(api, base)
    hook = module["webhook_url"].split("://", 1)[1].partition("/")[2]
    running = asyncio.create_task(service.client.post(f"/{hook}{query}", data="{}"))
    await deleted_while_held(api, module, holding, running)
    response = await asyncio.wait_for(running, 30)
    body = await response.json()
    assert response.status == 404, body
    assert body == {"error": "not_found", "message": "webhook not found"}
    await nothing_stored(api)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_function_whose_module_is_deleted_while_it_runs_is_404(
        on_both: Service, hold: tuple[Hold, str], caplog: pytest.LogCaptureFixture) -> None:
    service, (holding, base) = on_both, hold
    _, api = await service.new_tenant()
    module = await holding_module(api, base)
    running = asyncio.create_task(api.post(f"/api/v1/modules/{module['id']}/test-connection"))
    await deleted_while_held(api, module, holding, running)
    response = await asyncio.wait_for(running, 30)
    body = await response.json()
    assert response.status == 404, body
    assert body["error"] == "not_found" and module["id"] in body["message"], body
    await nothing_stored(api)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_healthz_says_since_when_as_every_other_time_is_written(service: Service) -> None:
    # The document's rule: "Times are ISO-8601 in UTC with milliseconds (2025-03-04T10:15:02.123Z)".
    body = await service.operator.ok("GET", "/healthz")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["storage"]["since"]), body


async def test_notifications_read_since_as_every_other_list_does(service: Service) -> None:
    _, api = await service.new_tenant()
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    operator = service.api(token["token"])
    # An unencoded "+" arrives as a space: "+03:00" is meant, as /api/v1/calls reads it.
    for path in ("/api/v1/calls", "/api/v1/notifications"):
        caller = operator if "notifications" in path else api
        await caller.ok("GET", f"{path}?since=2026-12-07T11:06:00 03:00")
        response = await caller.get(f"{path}?since=yesterday")
        body = await response.json()
        assert response.status == 400 and body["message"] == (
            "since: 'yesterday' is not an ISO-8601 time such as 2025-03-04T10:15:00Z"), body


async def test_a_wrong_method_on_every_documented_path_is_405_with_its_allow(
        service: Service) -> None:
    """Including the paths a parameterised sibling also matches: GET /api/v1/calls/originate
    is a wrong method on the documented POST, not a call named "originate"."""
    _, api = await service.new_tenant()
    doc = await api.ok("GET", "/api/v1/openapi.json")
    static = {path: {m.upper() for m in operations if m != "parameters"}
              for path, operations in doc["paths"].items() if "{" not in path}
    assert {"/api/v1/calls/originate", "/api/v1/contacts/bulk"} <= set(static)
    wrong: list[tuple[str, str, int, str | None]] = []
    for path, methods in static.items():
        allowed = methods | ({"HEAD"} if "GET" in methods else set())
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods:
            response = await api.request(method, path)
            body = await response.json()
            allow = response.headers.get("Allow")
            if (response.status != 405 or body["error"] != "method_not_allowed"
                    or set((allow or "").split(",")) != allowed
                    or body["message"] != f"{method} is not allowed on {path}; it takes "
                                          f"{', '.join(sorted(allowed))}"):
                wrong.append((method, path, response.status, allow))
    assert not wrong, wrong


async def test_a_merge_says_which_contact_is_unknown(service: Service) -> None:
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": ["+79161234567"]},
                        status=201)
    other = await api.ok("POST", f"/api/v1/contacts/{olga['id']}/merge",
                         {"contact_id": "con_unknown"}, status=404)
    assert other == {"error": "not_found", "message": "contact con_unknown (contact_id) not found"}
    this = await api.ok("POST", "/api/v1/contacts/con_unknown/merge", {"contact_id": olga["id"]},
                        status=404)
    assert this == {"error": "not_found", "message": "contact not found"}
    assert (await api.ok("GET", f"/api/v1/contacts/{olga['id']}"))["name"] == "Olga"


def test_serve_on_an_address_in_use_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(process_config(tmp_path / "data", port)))
        done = subprocess.run(
            [sys.executable, "-m", "runtime", "serve", "--config", str(config)],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"voip-runtime: cannot listen on 127.0.0.1:{port}: Address already in use (choose "
        "another with --host/--port or listen: in the configuration)"), done.stderr


async def test_a_credential_of_the_wrong_kind_is_told_so_not_that_it_is_revoked(
        service: Service) -> None:
    _, api = await service.new_tenant()
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    token = (await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201))["token"]
    asked = [
        (token, "GET", "/api/v1/modules", "this needs a tenant API key, not a user token"),
        (service.operator.secret, "GET", "/api/v1/modules",
         "this needs a tenant API key, not the operator token"),
        (api.secret, "GET", "/api/v1/notifications",
         "this needs a user token, not a tenant API key"),
        (token, "GET", "/api/v1/tenants", "this needs the operator token, not a user token"),
        (service.operator.secret, "GET", "/api/v1/calls/call_x/recording",
         "this needs a tenant API key or a user token, not the operator token"),
        # Of the right kind but unknown: as before.
        ("vrk_not_a_key", "GET", "/api/v1/modules", "unknown or revoked API key"),
        ("vut_not_a_token", "GET", "/api/v1/notifications", "unknown or revoked user token"),
        ("vut_not_a_token", "GET", "/api/v1/calls/call_x/recording",
         "unknown or revoked credentials"),
        ("something", "GET", "/api/v1/modules", "unknown or revoked API key"),
    ]
    for secret, method, path, message in asked:
        response = await service.api(secret).request(method, path)
        body = await response.json()
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert body == {"error": "unauthorized", "message": message}, (path, body)


async def test_a_webhook_whose_tenant_is_deleted_while_it_runs_is_404(
        on_both: Service, hold: tuple[Hold, str], caplog: pytest.LogCaptureFixture) -> None:
    service, (holding, base) = on_both, hold
    tenant_id, api = await service.new_tenant()
    module = await holding_module(api, base)
    hook = module["webhook_url"].split("://", 1)[1].partition("/")[2]
    running = asyncio.create_task(service.client.post(f"/{hook}", data="{}"))
    await asyncio.wait_for(holding.entered.wait(), 30)
    await service.operator.ok("DELETE", f"/api/v1/tenants/{tenant_id}")
    holding.release.set()
    response = await asyncio.wait_for(running, 30)
    body = await response.json()
    assert response.status == 404, body
    assert body == {"error": "not_found", "message": "webhook not found"}
    await service.operator.ok("GET", f"/api/v1/tenants/{tenant_id}", status=404)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_dry_run_of_a_body_a_webhook_could_not_have_is_422_not_run(
        service: Service) -> None:
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], "def VoipParseWebhookRequest(request):\n    return None\n")
    limit = service.config.max_webhook_body_kib * 1024
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                        {"request": {"body": "a" * (limit + 1)}}, status=422)
    assert body["error"] == "invalid" and body["details"][0]["field"] == "request.body", body
    assert "413" in body["message"], body
    # At the limit it runs, as the webhook would.
    report = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                          {"request": {"body": "a" * limit}})
    assert report["ok"] is True


async def test_a_dry_run_with_more_headers_than_a_webhook_may_carry_is_422(
        service: Service) -> None:
    """A webhook with more than aiohttp's 128 header lines is a 400 before any script runs; a
    dry run's composed request is held to the same, by a field-named 422 (60,000 of them in
    a 2 MiB body held the service for a fifth of a second)."""
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], "def VoipParseWebhookRequest(request):\n    return None\n")
    path = f"/api/v1/modules/{module['id']}/dry-run"
    as_dict = {f"x-h{n}": "v" for n in range(129)}
    for headers in (as_dict, [[name, "v"] for name in as_dict]):
        body = await api.ok("POST", path, {"request": {"headers": headers}}, status=422)
        assert body["error"] == "invalid", body
        assert body["details"][0]["field"] == "request.headers", body
        assert "at most 128" in body["message"], body
    # As many as a webhook may carry run.
    report = await api.ok("POST", path, {"request": {"headers": dict(list(
        as_dict.items())[:128])}})
    assert report["ok"] is True
    # What the dry run stands for: the webhook itself is refused.
    hook = await service.client.post(urlsplit(module["webhook_url"]).path, data=b"{}",
                                     headers=as_dict)
    assert hook.status == 400


async def test_lists_answer_in_the_order_their_summary_says(service: Service) -> None:
    """The document's rule: lists "answer newest first unless said otherwise"."""
    doc = await service.operator.ok("GET", "/api/v1/openapi.json")
    summary = {path: doc["paths"][path]["get"]["summary"] for path in
               ("/api/v1/tenants", "/api/v1/modules", "/api/v1/users", "/api/v1/contacts")}
    first_id, api = await service.new_tenant("first")
    second_id, _ = await service.new_tenant("second")
    for name in ("zeta", "alpha"):
        await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
        await api.ok("POST", "/api/v1/users", {"name": name}, status=201)
    for name, phone in (("zeta", "+79160000001"), ("alpha", "+79160000002")):
        await api.ok("POST", "/api/v1/contacts", {"name": name, "phones": [phone]}, status=201)
    tenants = [t["id"] for t in (await service.operator.ok("GET", "/api/v1/tenants"))["tenants"]]
    assert "(oldest first)" in summary["/api/v1/tenants"] and tenants == [first_id, second_id]
    for path, key in (("/api/v1/modules", "modules"), ("/api/v1/users", "users")):
        names = [item["name"] for item in (await api.ok("GET", path))[key]]
        assert "(by name)" in summary[path] and names == ["alpha", "zeta"], (path, names)
    contacts = [c["name"] for c in (await api.ok("GET", "/api/v1/contacts"))["contacts"]]
    assert "(" not in summary["/api/v1/contacts"] and contacts == ["alpha", "zeta"]  # newest


async def test_lists_not_newest_first_say_so(service: Service) -> None:
    """The document's rule is "newest first unless said otherwise": the notifications come
    oldest first (a catch-up reads them in order) and the bindings by member id, and their
    summaries must say so, or a client reading the newest page reads the oldest."""
    doc = await service.operator.ok("GET", "/api/v1/openapi.json")
    seed = await seed_setup(service, "acme")
    for call_id in ("c-1", "c-2"):
        await seed.hook_ok(start(call_id))
    listed = (await service.api(seed.user_token).ok("GET", "/api/v1/notifications"))
    calls = [n["payload"]["call"]["provider_call_id"] for n in listed["notifications"]]
    assert calls == ["c-1", "c-2"]
    assert "(oldest first)" in doc["paths"]["/api/v1/notifications"]["get"]["summary"]
    path = f"/api/v1/modules/{seed.module['id']}/bindings"
    await seed.api.ok("PATCH", path, {"bindings": {"100": seed.user["id"]}})
    members = [b["member_id"] for b in (await seed.api.ok("GET", path))["bindings"]]
    assert members == ["100", "101"]
    assert "(by member id)" in doc["paths"]["/api/v1/modules/{module_id}/bindings"]["get"][
        "summary"]


async def test_a_create_repeated_is_told_which_record_it_made(service: Service) -> None:
    """A client whose POST's answer was lost sends it again: the 409 names the record that
    has the name (as a taken phone names its contact), so the retry learns its id."""
    _, api = await service.new_tenant()
    document = await api.ok("GET", "/api/v1/openapi.json")
    for path, body, key in (("/api/v1/modules", {"name": "pbx"}, "module_id"),
                            ("/api/v1/users", {"name": "Olga"}, "user_id")):
        made = await api.ok("POST", path, body, status=201)
        response = await api.post(path, body)
        assert response.status == 409
        again = await assert_conforms(document, response)
        assert again is not None and again["error"] == "conflict"
        assert again["details"] == {key: made["id"]}, again


# 0 would be any free port, but the service's URLs are built from the port it is given.
@pytest.mark.parametrize("port", ["99999", "-5", "0"])
def test_serve_with_a_port_out_of_range_is_a_configuration_error(tmp_path: Path,
                                                                 port: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "serve", "--config", str(config), "--port", port],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("voip-runtime: invalid configuration: listen.port: "), (
        done.stderr)


async def test_the_console_execution_log_past_the_largest_offset_is_a_page(
        service: Service) -> None:
    from aiohttp import ClientSession, CookieJar

    from tests.console.conftest import Browser

    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        browser = Browser(session, str(service.client.make_url("")).rstrip("/"))
        await browser.sign_in(str(api.secret))
        for offset in (SQL_INTEGER_MAX, SQL_INTEGER_MAX + 1, 10**30):
            await browser.page(f"/console/modules/{module['id']}/executions?offset={offset}")


async def test_a_refused_field_is_explained_in_the_services_own_words(service: Service) -> None:
    _, api = await service.new_tenant()
    body = await api.ok("POST", "/api/v1/modules",
                        {"name": "m", "allowlist": ["http://x.example/path"]}, status=422)
    wanted = "'http://x.example/path': give the host name only, without a scheme"
    assert body["message"] == f"allowlist.0: {wanted}", body
    assert body["details"] == [{"field": "allowlist.0", "message": wanted}], body
    # A body that is JSON but no object: no class of ours named.
    for body_text in ("[]", "null", "3"):
        response = await api.post("/api/v1/users", data=body_text,
                                  headers={"Content-Type": "application/json"})
        refused = await response.json()
        assert response.status == 422 and refused["message"] == "(body): must be a JSON object"
    # pydantic's own messages stay as they are.
    body = await api.ok("POST", "/api/v1/modules", {"name": ""}, status=422)
    assert body["message"] == "name: String should have at least 1 character", body


async def test_the_live_address_without_an_upgrade_says_it_is_a_websocket(
        service: Service) -> None:
    _, api = await service.new_tenant()
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    token = (await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201))["token"]
    response = await service.api(token).get("/api/v1/live")
    body = await response.json()
    assert response.status == 426 and response.headers["Upgrade"] == "websocket", body
    assert body["error"] == "upgrade_required" and "docs/live.md" in body["message"], body
    # The credential is still checked first.
    response = await service.api(None).get("/api/v1/live")
    assert response.status == 401


async def test_a_dry_run_whose_module_is_deleted_while_it_runs_is_404(
        on_both: Service, hold: tuple[Hold, str]) -> None:
    service, (holding, base) = on_both, hold
    _, api = await service.new_tenant()
    module = await holding_module(api, base)
    running = asyncio.create_task(api.post(f"/api/v1/modules/{module['id']}/dry-run", {}))
    await deleted_while_held(api, module, holding, running)
    response = await asyncio.wait_for(running, 30)
    body = await response.json()
    assert response.status == 404, body
    assert body["error"] == "not_found" and module["id"] in body["message"], body


async def test_a_bulk_create_of_one_names_the_item_whose_number_is_taken(
        service: Service) -> None:
    """The document: `details.index`: the item, in a bulk create."""
    _, api = await service.new_tenant()
    olga = await api.ok("POST", "/api/v1/contacts", {"name": "Olga", "phones": ["+79161234567"]},
                        status=201)
    body = await api.ok("POST", "/api/v1/contacts/bulk",
                        {"contacts": [{"name": "Other", "phones": ["89161234567"]}]}, status=409)
    assert body["error"] == "phone_taken" and body["details"] == {
        "contact_id": olga["id"], "phone": "+79161234567", "index": 0}, body
    # A single create has no items to name.
    body = await api.ok("POST", "/api/v1/contacts",
                        {"name": "Other", "phones": ["89161234567"]}, status=409)
    assert "index" not in body["details"], body


@pytest.mark.parametrize("url, says", [
    ("postgresql://voip:secret@db.invalid/voip?pool_size=abc", "pool_size"),
    ("postgresql://voip:secret@db.invalid/voip?pool_size=0", "1..1000"),
    ("mysql://voip@db.invalid/voip", "unsupported storage URL scheme 'mysql'"),
])
def test_a_storage_url_that_cannot_be_opened_as_written_is_a_configuration_error(
        tmp_path: Path, url: str, says: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "VOIP_RUNTIME_STORAGE_URL": url})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "secret" not in done.stderr, done.stderr
    assert done.stderr.startswith("voip-runtime: invalid configuration: storage_url: "), (
        done.stderr)
    assert says in done.stderr, done.stderr


async def test_text_holding_nul_is_refused_by_name_and_nothing_stored(on_both: Service) -> None:
    """PostgreSQL's text cannot hold NUL: the store kept U+FFFD where the 201 had answered NUL
    (SQLite kept the NUL), so a name read back was not the name sent, and differed by backend.
    Every body refuses it, as it refuses a lone surrogate: a 422 naming the field."""
    service = on_both
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    contact = await api.ok("POST", "/api/v1/contacts", {"name": "c", "phones": ["+79161234567"]},
                           status=201)
    refused = [
        (service.operator, "POST", "/api/v1/tenants", {"name": "a\x00b"}, "name"),
        (api, "POST", "/api/v1/modules", {"name": "a\x00b"}, "name"),
        (api, "POST", "/api/v1/modules", {"name": "d", "description": "a\x00b"}, "description"),
        (api, "POST", "/api/v1/modules", {"name": "s", "settings": {"k": "v\x00"}}, "settings.k"),
        (api, "POST", "/api/v1/modules", {"name": "s", "settings": {"k\x00": 1}},
         "settings.[key]"),
        (api, "PATCH", f"/api/v1/modules/{module['id']}", {"name": "a\x00b"}, "name"),
        (api, "POST", "/api/v1/users", {"name": "e", "email": "a\x00@b.c"}, "email"),
        (api, "POST", "/api/v1/contacts", {"name": "a\x00b", "phones": ["+79161234568"]},
         "name"),
        (api, "PATCH", f"/api/v1/contacts/{contact['id']}", {"name": "a\x00b"}, "name"),
        (api, "PUT", f"/api/v1/modules/{module['id']}/bindings",
         {"bindings": {"10\x001": user["id"]}}, "bindings.[key]"),
    ]
    for caller, method, path, body, field in refused:
        answer = await caller.ok(method, path, body, status=422)
        assert answer["error"] == "invalid", (path, answer)
        assert answer["message"] == f"{field}: text must not hold the NUL character (\\u0000)", (
            path, answer)
        assert answer["details"] == [{"field": field, "message": answer["message"].split(
            ": ", 1)[1]}], answer
    tenants = (await service.operator.ok("GET", "/api/v1/tenants"))["tenants"]
    assert all("\x00" not in t["name"] and "\ufffd" not in t["name"] for t in tenants)
    modules = (await api.ok("GET", "/api/v1/modules"))["modules"]
    assert [(m["name"], m["description"], m["settings"]) for m in modules] == [("m", "", {})]
    assert [u["email"] for u in (await api.ok("GET", "/api/v1/users"))["users"]] == [None]
    assert [c["name"] for c in (await api.ok("GET", "/api/v1/contacts"))["contacts"]] == ["c"]
    assert (await api.ok("GET", f"/api/v1/modules/{module['id']}/bindings"))["bindings"] == []


async def test_a_body_labelled_as_another_type_than_json_is_a_415_on_every_operation(
        service: Service) -> None:
    """A body sent as text, as a form (`curl -d` without a header) or as XML was read as JSON
    anyway and acted on; the document's 415 spoke only of encodings. Unlabelled or labelled as
    JSON, the same body is taken."""
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    contact = await api.ok("POST", "/api/v1/contacts", {"name": "c", "phones": ["+79161234567"]},
                           status=201)
    await upload(api, module["id"], "def VoipParseWebhookRequest(request):\n    return None\n\n"
                 "def VoipTestConnection():\n    return {'success': True}\n")
    execution = await api.ok("POST", f"/api/v1/modules/{module['id']}/test-connection")
    ids = {"{module_id}": module["id"], "{user_id}": user["id"],
           "{contact_id}": contact["id"], "{execution_id}": execution["execution_id"]}
    doc = await api.ok("GET", "/api/v1/openapi.json")
    operations = [(method.upper(), path) for path, item in doc["paths"].items()
                  for method, operation in item.items() if "requestBody" in operation]
    assert ("POST", "/api/v1/tenants") in operations and len(operations) > 10
    for method, template in operations:
        path = template
        for name, value in ids.items():
            path = path.replace(name, value)
        caller = service.operator if path == "/api/v1/tenants" else api
        for content_type in ("text/plain", "application/x-www-form-urlencoded",
                             "application/xml; charset=utf-8", "multipart/form-data; boundary=x"):
            response = await caller.request(method, path, data=b'{"name": "sent as text"}',
                                            headers={"Content-Type": content_type})
            body = await response.json()
            assert response.status == 415, (method, path, content_type, body)
            assert body == {"error": "unsupported_media_type",
                            "message": "the body must be JSON, sent as application/json (got "
                                       f"{content_type.split(';')[0]})"}, body
    assert [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]] == ["m"]
    assert [u["name"] for u in (await api.ok("GET", "/api/v1/users"))["users"]] == ["u"]
    for content_type in (None, "application/json; charset=utf-8",
                         "application/merge-patch+json"):
        name = f"named {content_type}"
        response = await api.request(
            "POST", "/api/v1/users", data=json.dumps({"name": name}).encode(),
            headers={} if content_type is None else {"Content-Type": content_type},
            skip_auto_headers=["Content-Type"])
        assert response.status == 201, (content_type, await response.text())
    assert len((await api.ok("GET", "/api/v1/users"))["users"]) == 4


async def test_a_composed_requests_headers_are_refused_as_one_field(service: Service) -> None:
    # Left to pydantic's union, each was refused once per type tried, under field names such
    # as "request.headers.dict[str,str]" and "request.headers.list[tuple[str, str]].0.1".
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], "def VoipParseWebhookRequest(request):\n    return None\n")
    shape = "must be an object of header names to values, or a list of [name, value] pairs"
    for headers, said in (("x", shape), ([["a"]], shape), ({"a": 1}, (
            "a header's name and value must be strings: 'a': 1")), ([["a", None]], (
            "a header's name and value must be strings: 'a': None"))):
        body = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                            {"request": {"headers": headers}}, status=422)
        assert body == {"error": "invalid", "message": f"request.headers: {said}",
                        "details": [{"field": "request.headers", "message": said}]}, body
    for headers in ({"X-A": "1"}, [["X-A", "1"], ["X-A", "2"]]):
        report = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                              {"request": {"headers": headers}})
        assert report["outcome"] == "ok", report


async def test_a_dry_run_given_a_request_and_an_execution_is_a_400(service: Service) -> None:
    # The stored request ran and the composed one was dropped without a word; the guide says
    # `execution_id` comes instead of `request`, as `version_id` instead of `source`.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    echo = ("def VoipParseWebhookRequest(request):\n"
            "    return {'response': HttpResponse().content(request.body)}\n")
    await upload(api, module["id"], echo)
    hook = module["webhook_url"].split("/hooks/", 1)[1]
    await service.client.post(f"/hooks/{hook}", data=b"stored")
    executions = (await api.ok("GET", "/api/v1/executions"))["executions"]
    path = f"/api/v1/modules/{module['id']}/dry-run"
    body = await api.ok("POST", path, {"execution_id": executions[0]["id"],
                                       "request": {"body": "composed"}}, status=400)
    assert body == {"error": "bad_request",
                    "message": "give either request or execution_id, not both"}, body
    assert (await api.ok("POST", path, {"execution_id": executions[0]["id"]}))["reply"][
        "body"] == "stored"
    assert (await api.ok("POST", path, {"request": {"body": "composed"}}))["reply"][
        "body"] == "composed"


async def test_every_422_lists_its_field_in_details_in_the_messages_words(
        service: Service) -> None:
    # Click-to-call's missing user_id came without `details`; a secret that is not a setting
    # said one thing in `message` ("is not one of the settings") and another in `details`.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    body = await api.ok("POST", "/api/v1/calls/originate",
                        {"module_id": module["id"], "number": "+79161234567"}, status=422)
    assert body == {"error": "invalid",
                    "message": "user_id: required when calling with a tenant key",
                    "details": [{"field": "user_id",
                                 "message": "required when calling with a tenant key"}]}, body
    body = await api.ok("PATCH", f"/api/v1/modules/{module['id']}",
                        {"settings": {"a": "1"}, "secrets": ["b", "c"]}, status=422)
    assert body == {"error": "invalid", "message": "secrets: 'b' is not one of the settings",
                    "details": [{"field": "secrets", "message": "'b' is not one of the settings"},
                                {"field": "secrets",
                                 "message": "'c' is not one of the settings"}]}, body


async def test_a_bad_page_parameter_is_named_and_only_plain_digits_are_numbers(
        service: Service) -> None:
    # "limit and offset must be whole numbers" named neither; int() read "1_0" as 10,
    # " 5" as 5 and "٣" as 3.
    _, api = await service.new_tenant()
    for query, said in (
            ("limit=", "limit: a whole number (1..500), not ''"),
            ("limit=1_0", "limit: a whole number (1..500), not '1_0'"),
            ("limit=%205", "limit: a whole number (1..500), not ' 5'"),
            ("limit=%D9%A3", "limit: a whole number (1..500), not '٣'"),
            ("limit=0", "limit: must be 1..500"),
            ("offset=x", f"offset: a whole number (0..{SQL_INTEGER_MAX}), not 'x'"),
            ("offset=-1", f"offset: must be 0..{SQL_INTEGER_MAX}"),
            ("offset=" + "9" * 5000, f"offset: must be 0..{SQL_INTEGER_MAX}"),
            ("limit=2&offset=1.5", f"offset: a whole number (0..{SQL_INTEGER_MAX}), not '1.5'")):
        body = await api.ok("GET", f"/api/v1/modules?{query}", status=400)
        assert body == {"error": "bad_request", "message": said}, (query, body)
    body = await api.ok("GET", "/api/v1/usage?days=1_0", status=400)
    assert body["message"] == "days: a whole number of days (1..366), not '1_0'", body
    await api.ok("GET", "/api/v1/modules?limit=%2B5&offset=0")


async def test_a_route_with_a_trailing_slash_is_a_404_saying_which_path_was_meant(
        service: Service) -> None:
    # "no such resource" alone, though the client had only added a slash.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    for method, path, meant in (("GET", "/api/v1/modules/", "/api/v1/modules"),
                                ("POST", "/api/v1/modules/", "/api/v1/modules"),
                                ("GET", f"/api/v1/modules/{module['id']}//",
                                 f"/api/v1/modules/{module['id']}"),
                                ("GET", "/healthz/", "/healthz")):
        body = await api.ok(method, path, {"name": "n"} if method == "POST" else None,
                            status=404)
        assert body == {"error": "not_found", "message": "no such resource; the path has no "
                                                        f"trailing slash: {meant}"}, body
    for path in ("/api/v1/nothing/", "/api/v1/", "/api/"):
        body = await api.ok("GET", path, status=404)
        assert body == {"error": "not_found", "message": "no such resource"}, (path, body)
    assert [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]] == ["m"]


@pytest.mark.parametrize(("given", "below_the_hook"), [
    (None, ""),
    ("/events/summary?kind=end", "/events/summary?kind=end"),
    ("events/summary", "/events/summary"),
    ("?zd_echo=abc", "?zd_echo=abc"),
])
async def test_a_dry_runs_url_without_a_host_is_read_below_the_webhook_url(
        service: Service, given: str | None, below_the_hook: str) -> None:
    # Contract §3: `request.url` is the full URL that was called. A composed request's
    # `/events/summary` reached the script as that text, and `urlsplit(request.url).netloc`
    # or a signature over the full URL saw what no provider's call ever carries.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    echo = ("def VoipParseWebhookRequest(request):\n"
            "    return {'response': HttpResponse().content(request.url)}\n")
    await upload(api, module["id"], echo)
    request = {} if given is None else {"url": given}
    report = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                          {"request": request})
    assert report["reply"]["body"] == module["webhook_url"] + below_the_hook, report
    absolute = "https://provider.example/callback?x=1"
    report = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                          {"request": {"url": absolute}})
    assert report["reply"]["body"] == absolute, report


@pytest.mark.parametrize("url", ["http://[::1", "https://[provider.example/callback",
                                 "http://a\uff03b/"])
async def test_a_dry_runs_url_that_cannot_be_read_is_refused_naming_it(
        service: Service, url: str) -> None:
    # An IPv6 host without its `]`, a host that NFKC normalisation turns into a URL's
    # delimiter: urlsplit's ValueError was a 500 with a traceback in the log.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], "def VoipParseWebhookRequest(request):\n    return {}\n")
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/dry-run",
                        {"request": {"url": url}}, status=422)
    assert body["error"] == "invalid", body
    assert body["message"].startswith("request.url: is not a URL that can be read: "), body


async def test_an_id_parameter_that_is_no_id_is_a_400_naming_it(service: Service) -> None:
    """`?after=` and `?version_id=` took any text: a typo or a truncated id was answered as an
    id nobody has (the notifications from the start, an empty execution log), so the client
    could not tell its mistake from an empty result. A well-formed id the service does not know
    is still that (docs/live.md: the catch-up starts at the oldest)."""
    seed = await seed_setup(service, "acme")
    await seed.hook_ok(start())
    operator = service.api(seed.user_token)
    [first] = (await operator.ok("GET", "/api/v1/notifications"))["notifications"]
    unknown = "ntf_" + "0" * 26
    for after in (unknown, ""):
        listed = await operator.ok("GET", f"/api/v1/notifications?after={after}")
        assert [n["id"] for n in listed["notifications"]] == [first["id"]], after
    assert (await operator.ok("GET", f"/api/v1/notifications?after={first['id']}")
            ) == {"notifications": []}
    for bad in ("garbage", first["id"][:-1], first["id"].upper(), "exe" + first["id"][3:]):
        for path in ("/api/v1/notifications", "/api/v1/live"):
            response = await operator.get(path, params={"after": bad})
            body = await response.json()
            assert response.status == 400, (path, bad, body)
            assert body == {"error": "bad_request", "message": (
                f"after: {bad!r} is not a ntf_... id (ntf_ and 26 characters)")}, body
    api = seed.api
    [execution] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    version_id = execution["version_id"]
    assert len((await api.ok("GET", f"/api/v1/executions?version_id={version_id}")
                )["executions"]) == 1
    assert (await api.ok("GET", "/api/v1/executions?version_id=ver_" + "0" * 26)
            )["executions"] == []
    response = await api.get("/api/v1/executions?version_id=v1")
    assert response.status == 400 and (await response.json())["message"] == (
        "version_id: 'v1' is not a ver_... id (ver_ and 26 characters)")
    # The document says which spelling it takes, so that a client generated from it knows.
    doc = await api.ok("GET", "/api/v1/openapi.json")
    for path, name, prefix in (("/api/v1/notifications", "after", "ntf"),
                               ("/api/v1/executions", "version_id", "ver")):
        [parameter] = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
        assert parameter["schema"]["pattern"] == f"^$|^{prefix}_[0-9a-hjkmnp-tv-z]{{26}}$"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")
async def test_serve_on_an_ipv6_address_starts_and_names_it_in_brackets(tmp_path: Path) -> None:
    """`serve --host ::1` stopped at start with a traceback: the service's own address was
    written `http://::1:PORT`, which no URL parser reads. A module's webhook URL is built from
    the same address."""
    from tests.e2e.service_process import OPERATOR, ServiceProcess, call_json

    service = ServiceProcess(tmp_path)
    service.config_file.write_text(yaml.safe_dump(process_config(
        tmp_path / "data", service.port, listen={"host": "::1", "port": service.port})))
    service.base = f"http://[::1]:{service.port}"
    service.start()
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant = await call_json(session, "POST", service.base + "/api/v1/tenants",
                                     OPERATOR, {"name": "acme"}, status=201)
            key = await call_json(session, "POST",
                                  f"{service.base}/api/v1/tenants/{tenant['id']}/keys",
                                  OPERATOR, status=201)
            module = await call_json(session, "POST", service.base + "/api/v1/modules",
                                     key["key"], {"name": "m"}, status=201)
        assert module["webhook_url"].startswith(f"http://[::1]:{service.port}/hooks/"), module
    finally:
        service.stop()
