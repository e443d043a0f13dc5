"""Builder-written modules (tests/sandbox/test_benign_builders.py) through the service: uploaded
as versions and tried with the dry-run API, so they run in the real forked sandbox and their
results through the contract's validation; and the refusals that say what was refused, as a
builder sees them there."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.e2e.conftest import Api, Service
from tests.sandbox.test_benign_builders import (
    END,
    HISTORY,
    MEGAFON,
    SECRET,
    ZADARMA,
    zadarma_request,
)


async def dry_run(api: Api, module_id: str, request: dict[str, Any],
                  source: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"request": request}
    if source is not None:
        body["source"] = source
    result: dict[str, Any] = await api.ok("POST", f"/api/v1/modules/{module_id}/dry-run", body)
    return result


async def module(api: Api, name: str, source: str, settings: dict[str, Any]) -> str:
    created = await api.ok("POST", "/api/v1/modules", {"name": name, "settings": settings},
                           status=201)
    await api.ok("POST", f"/api/v1/modules/{created['id']}/versions",
                 {"source": source, "activate": True}, status=201)
    module_id: str = created["id"]
    return module_id


async def test_builder_modules_dry_run_in_the_real_sandbox(service: Service) -> None:
    _, api = await service.new_tenant()
    zadarma = await module(api, "zadarma", ZADARMA, {"apiSecret": SECRET, "apiKey": "k"})
    signed = zadarma_request(END)
    ran = await dry_run(api, zadarma, {"method": "POST", "headers": dict(signed.headers),
                                       "body": signed.body})
    assert ran["ok"], ran["error"]
    assert ran["result"]["callRecord"]["disposition"] == "no_money_no_limit"
    assert ran["logs"] == "call #1\n  NOTIFY_END at 2025-03-04T10:15:02+03:00 (SHA1, 1)\n"
    assert ran["effects"]["record"]["created"] is True
    assert [w["key"] for w in ran["storage"]] == ["history"]

    megafon = await module(api, "megafon", MEGAFON, {"crmToken": "TOKEN"})
    ran = await dry_run(api, megafon, {"method": "POST", "body": HISTORY, "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}})
    assert ran["ok"], ran["error"]
    # The script's snake_case keys, validated, are the documented camelCase ones.
    assert ran["result"]["callRecord"]["srcPhone"] == "79031234567"
    assert ran["reply"]["status"] == 200 and ran["reply"]["body"] == '{"ok": true}'


async def test_what_the_sandbox_refuses_is_named_in_the_dry_run(service: Service) -> None:
    _, api = await service.new_tenant()
    module_id = await module(api, "m", "def VoipParseWebhookRequest(request):\n    return {}\n",
                             {})
    cases = {
        "return type(request)": ("NameError", "line 2: name 'type' is not defined ('type' is "
                                 "a Python builtin the sandbox does not offer"),
        "import time\n    time.sleep(1)": ("AttributeError", "line 3: module 'time' has no "
                                           "attribute 'sleep' (the sandbox's 'time' offers "
                                           "only "),
        "return HttpResponse().content('x')": (
            "InvalidResult", 'VoipParseWebhookRequest returned an invalid result: is a reply '
                             '(what HttpResponse() builds), not a parse result'),
    }
    for body, (kind, message) in cases.items():
        source = f"def VoipParseWebhookRequest(request):\n    {body}\n"
        ran = await dry_run(api, module_id, {"method": "POST"}, source=source)
        assert ran["ok"] is False
        assert ran["error"]["type"] == kind and ran["error"]["message"].startswith(message), ran


STORAGE_LIMITS = """
def VoipParseWebhookRequest(request):
    refused = []
    for key, value in [("k" * 201, 1), ("", 1), ("big", "x" * 70000), ("ok", "fits")]:
        try:
            storage.set(key, value)
        except StorageError as error:
            refused.append(str(error))
    return {"response": HttpResponse().content({"refused": refused, "ok": storage.get("ok")})}
"""


async def test_a_storage_limit_raises_storage_error_the_script_can_catch(
        service: Service) -> None:
    # Contract §3: keys of at most 200 characters, values of at most 64 KiB, "beyond a limit
    # `set` raises `StorageError`": a builder's `except StorageError` keeps the webhook going.
    _, api = await service.new_tenant()
    module_id = await module(api, "m", STORAGE_LIMITS, {})
    ran = await dry_run(api, module_id, {"method": "POST"})
    assert ran["ok"], ran["error"]
    assert json.loads(ran["reply"]["body"]) == {"refused": [
        "a storage key must have 1 to 200 characters",
        "a storage key must have 1 to 200 characters",
        "the storage value is 70002 bytes as JSON; the limit is 65536",
    ], "ok": "fits"}
    assert [write["key"] for write in ran["storage"]] == ["ok"]


LONE_SURROGATES = """
def VoipParseWebhookRequest(request):
    text = b"caf\\xff".decode("utf-8", "surrogateescape")  # what a careless decode leaves
    refused = []
    for attempt in (lambda: storage.set(text, 1), lambda: storage.get(text),
                    lambda: fetch("https://api.example.com/" + text),
                    lambda: fetch("https://api.example.com/", method="POST", body=text),
                    lambda: fetch("https://api.example.com/", headers={"X-A": text})):
        try:
            attempt()
        except ValueError as error:
            refused.append(str(error))
    return {"response": HttpResponse().content(refused)}
"""


async def test_a_lone_surrogate_given_to_storage_or_fetch_is_named(service: Service) -> None:
    # The script hears which argument is not valid Unicode, not a UnicodeEncodeError about a
    # position in the host's own message.
    _, api = await service.new_tenant()
    module_id = await module(api, "m", LONE_SURROGATES, {})
    ran = await dry_run(api, module_id, {"method": "POST"})
    assert ran["ok"], ran["error"]
    assert json.loads(ran["reply"]["body"]) == [
        "a storage key is not valid Unicode (a lone surrogate at position 3)",
        "a storage key is not valid Unicode (a lone surrogate at position 3)",
        "fetch() url is not valid Unicode (a lone surrogate at position 27)",
        "fetch() body is not valid Unicode (a lone surrogate at position 3)",
        "a header value is not valid Unicode (a lone surrogate at position 3)",
    ]
    assert ran["fetches"] == []


async def test_a_json_body_sent_with_a_byte_order_mark_is_read(service: Service) -> None:
    # Some senders start a UTF-8 body with a BOM; json.loads skips it in bytes (RFC 8259
    # allows a parser to), and request.json() reads the same body the same way.
    _, api = await service.new_tenant()
    module_id = await module(api, "m", (
        "def VoipParseWebhookRequest(request):\n"
        "    return {'response': HttpResponse().content(request.json())}\n"), {})
    ran = await dry_run(api, module_id, {"method": "POST", "body": "\ufeff{\"a\": \"ж\"}"})
    assert ran["ok"], ran["error"]
    assert json.loads(ran["reply"]["body"]) == {"a": "ж"}
    ran = await dry_run(api, module_id, {"method": "POST", "body": "\ufeff"})
    assert ran["error"]["message"] == "line 2: the request body is empty, not JSON"


TTLS = """
def VoipParseWebhookRequest(request):
    refused = []
    for ttl in (10**400, 10 * 365 * 86400 + 1, float("inf")):
        try:
            storage.set("k", 1, ttl=ttl)
        except (ValueError, StorageError) as error:
            refused.append(str(error))
    storage.set("k", 1, ttl=10 * 365 * 86400)
    return {"response": HttpResponse().content(refused)}
"""


async def test_a_ttl_out_of_range_is_refused_saying_what_fits(service: Service) -> None:
    _, api = await service.new_tenant()
    module_id = await module(api, "m", TTLS, {})
    ran = await dry_run(api, module_id, {"method": "POST"})
    assert ran["ok"], ran["error"]
    assert json.loads(ran["reply"]["body"]) == [
        "ttl must be a positive number of seconds or None",  # not an OverflowError
        "ttl must be a positive number of seconds, at most 315360000 (ten years)",
        "ttl must be a positive number of seconds or None",
    ]


async def test_a_dry_runs_storage_write_with_a_ttl_tells_its_expiry_as_every_time_is_told(
        service: Service) -> None:
    _, api = await service.new_tenant()
    module_id = await module(api, "m", (
        "def VoipParseWebhookRequest(request):\n"
        "    storage.set('k', 1, ttl=60)\n"
        "    return {}\n"), {})
    ran = await dry_run(api, module_id, {"method": "POST"})
    assert ran["ok"], ran["error"]
    [write] = ran["storage"]
    # `2025-03-04T10:15:02.123Z`, as the API's other times (not Python's `+00:00` form).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", write["expires_at"]), write
