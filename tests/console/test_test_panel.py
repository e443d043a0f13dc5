"""Where the editor's test panel starts: the module's last real webhook, masked."""

from __future__ import annotations

from datetime import UTC, datetime

from runtime.console.test_panel import METHODS, methods_for, starting_request
from runtime.redaction import MASK
from runtime.store.models import Execution, ExecutionOutcome, Module

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MODULE = Module(id="mod_1", tenant_id="ten_1", name="m", description="", region="RU",
                settings={"crmToken": "crm-secret-77", "region": "eu"}, secrets=("crmToken",),
                allowlist=(), webhook_token="abc", active_version_id="ver_1", created_at=AT,
                updated_at=AT)


def execution(ident: str, request: object, *, dry_run: bool = False) -> Execution:
    return Execution(id=ident, tenant_id="ten_1", module_id="mod_1", version_id="ver_1",
                     function="VoipParseWebhookRequest", outcome=ExecutionOutcome.OK,
                     created_at=AT, request=request, dry_run=dry_run)


FORM = {
    "method": "POST", "url": "https://svc.example/hooks/abc?token=t0p&x=1",
    "headers": [["Host", "svc.example"], ["Content-Length", "40"],
                ["Content-Type", "application/x-www-form-urlencoded"],
                ["X-Signature", "sig-secret"]],
    "body": "type=start&from=%2B7916&apiKey=k-secret",
}


def test_the_newest_real_webhook_masked_without_transport_headers() -> None:
    start = starting_request([
        execution("exe_dry", {"method": "PUT", "url": "", "headers": [], "body": "{}"},
                  dry_run=True),
        execution("exe_form", FORM),
        execution("exe_old", {"method": "POST", "url": "", "headers": [], "body": "{}"}),
    ], MODULE)
    assert start is not None
    assert start.execution_id == "exe_form"
    assert start.method == "POST"
    assert start.headers == ("Content-Type: application/x-www-form-urlencoded\n"
                             f"X-Signature: {MASK}")
    assert "t0p" not in start.url and "x=1" in start.url
    assert "k-secret" not in start.body and "type=start" in start.body
    assert start.masked


def test_a_secret_setting_is_masked_under_any_name() -> None:
    start = starting_request([execution("exe_1", {
        "method": "POST", "url": "https://svc.example/hooks/abc?k=crm-secret-77",
        "headers": [["X-Pbx", "crm-secret-77"]], "body": '{"pass_through": "crm-secret-77"}'})],
        MODULE)
    assert start is not None and start.masked
    assert "crm-secret-77" not in start.url + start.headers + start.body
    assert start.headers == f"X-Pbx: {MASK}"


def test_nothing_stored_or_nothing_secret() -> None:
    assert starting_request([], MODULE) is None
    assert starting_request([execution("exe_1", None)], MODULE) is None
    plain = starting_request([execution("exe_1", {
        "method": "get", "url": "https://svc.example/hooks/abc?event=start",
        "headers": [["Accept", "*/*"]], "body": None})], MODULE)
    assert plain is not None and not plain.masked
    assert plain.method == "GET" and plain.body == "" and plain.headers == "Accept: */*"


def test_the_method_menu_keeps_an_unusual_method() -> None:
    assert methods_for(None) == list(METHODS)
    head = starting_request([execution("exe_1", {"method": "OPTIONS", "url": "", "headers": [],
                                                 "body": None})], MODULE)
    assert methods_for(head)[-1] == "OPTIONS"
