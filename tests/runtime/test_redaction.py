"""Masking a run's secrets for showing (runtime/redaction.py): what is masked, what is said to
be, and that what has nothing secret is shown exactly as it came."""

from __future__ import annotations

import json

from runtime.redaction import (
    MASK,
    TOO_DEEP,
    UNSEARCHED,
    Redactor,
    redacted_report,
    secret_settings,
)


def test_credentials_are_masked_by_their_names_and_listed() -> None:
    redactor = Redactor()
    shown = redactor.request({
        "method": "POST", "url": "https://svc.example/hooks/abc?access_token=t0p&x=1",
        "headers": [["Authorization", "Bearer abc"], ["Content-Type", "application/json"]],
        "body": json.dumps({"call": {"id": "c-1", "sign": "s1g"}, "items": [{"apiKey": "k"}]}),
    })
    assert shown["url"] == f"https://svc.example/hooks/abc?access_token={MASK}&x=1"
    assert shown["headers"][0] == ["Authorization", MASK]
    body = json.loads(shown["body"])
    assert body == {"call": {"id": "c-1", "sign": MASK}, "items": [{"apiKey": MASK}]}
    assert redactor.masked == ["request header Authorization", "request query parameter "
                               "access_token", "request body field call.sign",
                               "request body field items[0].apiKey"]


def test_a_request_with_nothing_secret_is_shown_as_it_came() -> None:
    redactor = Redactor({"sk-live-1234": "apiKey"})
    request = {"method": "POST", "url": "https://svc.example/hooks/abc?b=2&a=1",
               "headers": [["Content-Type", "application/json"]], "body": '{"a":1,  "b":[2]}'}
    assert redactor.request(request) == request
    form = {**request, "headers": [["Content-Type", "application/x-www-form-urlencoded"]],
            "body": "cmd=event&phone=%2B7916"}
    assert redactor.request(form) == form
    assert redactor.masked == []


def test_a_secret_setting_is_masked_in_any_text_longest_first() -> None:
    secrets = secret_settings({"apiKey": "abcd1234", "apiKeyFull": "abcd1234-full",
                               "pin": "12", "flag": True, "region": "eu-west"},
                              ["apiKey", "apiKeyFull", "pin", "flag"])
    assert secrets == {"abcd1234-full": "apiKeyFull", "abcd1234": "apiKey"}
    redactor = Redactor(secrets)
    assert redactor.text("a abcd1234-full b abcd1234 c 12", "logs") == f"a {MASK} b {MASK} c 12"
    assert redactor.masked == ["secret setting apiKeyFull in logs", "secret setting apiKey in logs"]


def test_fetch_urls_and_errors_are_masked() -> None:
    report = {"fetches": [{
        "method": "POST", "url": "https://api.example/v1?api_key=k3y&q=1",
        "final_url": None, "status": None, "not_sent": True,
        "error": "not sent in a dry run: POST https://api.example/v1?api_key=k3y&q=1"}],
        "logs": "", "masked": []}
    shown = redacted_report(report, {})
    [fetch] = shown["fetches"]
    assert "k3y" not in json.dumps(shown)
    assert fetch["url"] == f"https://api.example/v1?api_key={MASK}&q=1"
    assert fetch["error"] == f"not sent in a dry run: POST {fetch['url']}"
    assert shown["masked"] == ["a fetch URL query parameter api_key"]


def test_a_json_body_too_deep_to_walk_is_hidden_only_when_a_name_could_be_a_credential() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert Redactor().body(deep, "application/json") == deep
    secret = '{"token": ' + deep + "}"
    redactor = Redactor()
    assert redactor.body(secret, "application/json") == TOO_DEEP
    assert redactor.masked == ["request body (too deeply nested to mask field by field)"]


def test_a_dry_runs_storage_value_under_a_credentials_name_is_masked() -> None:
    shown = redacted_report({"storage": [
        {"op": "set", "key": "oauth_access_token", "value": "ya29.abc", "expires_at": None},
        {"op": "set", "key": "last_call", "value": {"id": "c-1"}, "expires_at": None},
        {"op": "delete", "key": "refresh_token"}]}, {})
    assert shown["storage"] == [
        {"op": "set", "key": "oauth_access_token", "value": MASK, "expires_at": None},
        {"op": "set", "key": "last_call", "value": {"id": "c-1"}, "expires_at": None},
        {"op": "delete", "key": "refresh_token"}]
    assert shown["masked"] == ["storage value oauth_access_token"]


def test_another_functions_arguments_are_masked_by_name_and_value() -> None:
    redactor = Redactor({"sk-live-1234": "apiKey"})
    shown = redactor.request([{"recordId": "r-1", "access_token": "at-9", "note": "sk-live-1234"}])
    assert shown == [{"recordId": "r-1", "access_token": MASK, "note": MASK}]
    assert redactor.masked == ["argument field [0].access_token",
                               "secret setting apiKey in request"]


def test_a_json_body_with_a_byte_order_mark_has_its_credentials_masked() -> None:
    # The script's request.json() reads such a body (sandbox/injected.py skips the mark), so
    # its credentials are as real as any other body's.
    redactor = Redactor()
    shown = redactor.body('\ufeff{"crm_token": "t0p-s3cret", "cmd": "event"}', "application/json")
    assert shown is not None and "t0p-s3cret" not in shown
    assert json.loads(shown) == {"crm_token": MASK, "cmd": "event"}
    assert redactor.masked == ["request body field crm_token"]


def test_a_json_body_with_a_number_too_long_for_python_still_has_its_credentials_masked() -> None:
    # Python's json refuses an integer of more than 4300 digits: the body was shown as sent,
    # token and all.
    digits = "7" * 5000
    redactor = Redactor()
    shown = redactor.body('{"token": "t0p-s3cret", "n": ' + digits + "}", "application/json")
    assert shown is not None and "t0p-s3cret" not in shown
    assert json.loads(shown) == {"token": MASK, "n": digits}
    assert redactor.masked == ["request body field token"]


def test_every_value_under_a_credentials_name_is_masked_whatever_its_shape() -> None:
    redactor = Redactor()
    shown = redactor.body(json.dumps({
        "tokens": ["t0k-1", "t0k-2"],
        "signature": {"alg": "sha256", "value": "s1g-v4lue"},
        "call": {"id": "c-1", "api_keys": [["k-1"], {"old": "k-2"}]},
    }), "application/json")
    assert shown is not None
    assert json.loads(shown) == {
        "tokens": [MASK, MASK],
        "signature": {"alg": MASK, "value": MASK},
        "call": {"id": "c-1", "api_keys": [[MASK], {"old": MASK}]},
    }
    assert redactor.masked == ["request body field tokens", "request body field signature",
                               "request body field call.api_keys"]


def test_a_secret_setting_is_masked_as_json_and_urls_spell_it() -> None:
    # A base64 key has "+", "/" and "=": in a fetch URL it is percent-encoded (the script's
    # quote(), or the query it built); in a JSON reply the service encoded, or a log line of
    # json.dumps, a quote or a non-ASCII letter is escaped. Each spelling was shown as is.
    key = 'ab+cd/ef== xé"q'
    redactor = Redactor(secret_settings({"apiKey": key}, ["apiKey"]))
    spellings = [json.dumps(key), json.dumps(key, ensure_ascii=False),
                 "q=ab%2Bcd%2Fef%3D%3D%20x%C3%A9%22q", "q=ab%2Bcd/ef%3D%3D%20x%C3%A9%22q",
                 "q=ab%2Bcd%2Fef%3D%3D+x%C3%A9%22q"]
    shown = redactor.json({"logs": spellings}, "logs")
    assert shown == {"logs": [f'"{MASK}"', f'"{MASK}"', f"q={MASK}", f"q={MASK}",
                              f"q={MASK}"]}
    assert redactor.masked == ["secret setting apiKey in logs"]


def test_a_secret_whose_spellings_are_all_the_same_is_masked_once_by_its_value() -> None:
    redactor = Redactor(secret_settings({"apiKey": "sk_live_1234"}, ["apiKey"]))
    assert redactor.text("key sk_live_1234 and sk_live_1234", "logs") == f"key {MASK} and {MASK}"
    assert redactor.masked == ["secret setting apiKey in logs"]


def many_secrets(count: int) -> dict[str, str]:
    """`count` secret settings with a quote, a slash and a non-ASCII letter each (so each is
    looked for in several spellings)."""
    settings = {f"s{i}": f'é+/{i:04d}"' for i in range(count)}
    return secret_settings(settings, list(settings))


def test_a_view_too_large_to_search_for_so_many_secrets_is_hidden_not_searched() -> None:
    # Each view of an execution searched its every string for every secret setting, in the
    # event loop: a module of 200 secrets whose run printed 64 KiB and returned 7,000 members
    # took over half a second of it per GET, and a few readers in a loop stalled every
    # tenant's webhooks. A view searches a bounded amount; what lies beyond is not shown.
    logs = "".join('é+/0123456789abc"'[(i * 7) % 17] for i in range(64_000)) + 'é+/0002"'
    members = [{"id": str(i), "name": f"Member {i}"} for i in range(7000)]
    redactor = Redactor(many_secrets(200))
    assert redactor.text(logs, "logs") == UNSEARCHED
    # Its shape and keys kept (what readers and the API's schema look values up by).
    assert redactor.json(members, "result") == [
        {"id": UNSEARCHED, "name": UNSEARCHED} for _ in members]
    assert redactor.masked == [
        "logs (too large to search for 200 secret settings: not shown)",
        "result (too large to search for 200 secret settings: not shown)"]
    # The same view of a module with a few secrets is searched and masked as ever.
    few = Redactor(many_secrets(3))
    assert few.text(logs, "logs").endswith(MASK)
    assert few.json(members, "result") == members
