"""A tenant's webhook reply through a real server (contract §4, §5.1): headers and content types
from the allowlist arrive exactly as the script set them, with the two security headers; a
refused one makes the result invalid (500, and the execution log names the header and why),
and nothing of it reaches the caller."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.e2e.conftest import Service
from tests.e2e.helpers import SeedSetup, seed_setup, upload

# Replies as the request asks: with the builder (`.header()` calls, then or before
# `.content()`) or as a plain dict, so one module tries every case.
REPLY_SCRIPT = """
def VoipParseWebhookRequest(request):
    ask = request.json()
    if ask["form"] == "dict":
        return {"response": {"status": ask["status"], "headers": dict(ask["headers"]),
                             "body": ask["body"]}}
    reply = HttpResponse().status(ask["status"])
    if ask["form"] == "content_first":
        reply.content(ask["body"])
    for name, value in ask["headers"]:
        reply.header(name, value)
    if ask["form"] == "headers_first":
        reply.content(ask["body"])
    return {"response": reply}
"""

FORMS = ["dict", "content_first", "headers_first"]


@pytest.fixture
async def seed(service: Service) -> SeedSetup:
    setup = await seed_setup(service)
    await upload(setup.api, setup.module["id"], REPLY_SCRIPT)
    return setup


async def ask(seed: SeedSetup, form: str, headers: list[tuple[str, str]], body: Any = "",
              status: int = 200) -> ClientResponse:
    return await seed.post_hook({"form": form, "headers": headers, "body": body,
                                 "status": status})


def sent(response: ClientResponse, name: str) -> list[str]:
    """Every value of a header as it came over the wire (any case), in order."""
    wanted = name.lower().encode()
    return [value.decode() for key, value in response.raw_headers if key.lower() == wanted]


async def logged_error(seed: SeedSetup, response: ClientResponse) -> dict[str, Any]:
    assert response.status == 500, await response.text()
    answer = await response.json()
    assert answer["error"] == "script_failed"
    execution = await seed.api.ok("GET", f"/api/v1/executions/{answer['execution_id']}")
    assert execution["outcome"] == "invalid"
    error: dict[str, Any] = execution["error"]
    return error


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", "r-1"),
          ("Cache-Control", "no-store"), ("Retry-After", "30")], '{"ok": true}'),
        ([("content-type", "text/xml"), ("x-trace", "t")], "<ok/>"),
        ([("Content-Type", "application/problem+json")], '{"title": "no"}'),
        ([("Content-Type", "text/csv; header=present")], "a,b\n1,2\n"),
        ([("CONTENT-TYPE", "text/plain ; charset=windows-1251")], "OK"),
        ([("Content-Type", "application/x-www-form-urlencoded")], "status=ok&n=1"),
    ],
)
async def test_an_allowed_reply_arrives_intact_with_the_security_headers(
    seed: SeedSetup, form: str, headers: list[tuple[str, str]], body: str
) -> None:
    response = await ask(seed, form, headers, body, status=202)
    assert response.status == 202, await response.text()
    assert await response.text() == body
    for name, value in headers:
        assert sent(response, name) == [value]
    assert sent(response, "Content-Security-Policy") == ["sandbox"]
    assert sent(response, "X-Content-Type-Options") == ["nosniff"]
    assert not sent(response, "Set-Cookie")


async def test_a_reply_without_content_type_is_sent_as_bytes_nothing_runs(
    seed: SeedSetup,
) -> None:
    response = await ask(seed, "dict", [("X-Id", "1")], "alert(1)")
    assert response.status == 200
    assert await response.text() == "alert(1)"
    assert sent(response, "Content-Type") == ["application/octet-stream"]
    assert sent(response, "X-Content-Type-Options") == ["nosniff"]
    assert sent(response, "Content-Security-Policy") == ["sandbox"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("X-Accel-Redirect", "/internal/secrets", "nginx acts on X-Accel-*"),
        ("x-accel-buffering", "no", "nginx acts on X-Accel-*"),
        ("X-Sendfile", "/etc/passwd", "X-Sendfile*"),
        ("X-LIGHTTPD-send-file", "/etc/passwd", "lighttpd acts on"),
        ("X-Frame-Options", "ALLOW-FROM https://evil.example", "browsers apply it"),
        ("X-Forwarded-For", "127.0.0.1", "X-Forwarded-*"),
        ("X-Real-IP", "127.0.0.1", "client's address"),
        ("X-Content-Type-Options", "none", "the service sets it"),
        ("Set-Cookie", "vr_console=stolen; Path=/console", "is not a header a script may set"),
        ("Content-Security-Policy", "default-src *", "is not a header a script may set"),
        ("Location", "https://evil.example/", "is not a header a script may set"),
    ],
)
async def test_a_refused_header_makes_the_result_invalid(
    seed: SeedSetup, form: str, name: str, value: str, fragment: str
) -> None:
    response = await ask(seed, form, [("X-Fine", "1"), (name, value)], "x")
    error = await logged_error(seed, response)
    assert error["type"] == "InvalidResult"
    [problem] = error["problems"]
    assert problem["key"] == f"response.headers.{name}"
    assert fragment in problem["message"]
    assert f"response.headers.{name}" in error["message"]
    # Nothing the script set reached the caller.
    assert value not in sent(response, name)
    assert not sent(response, "X-Fine")
    assert sent(response, "X-Content-Type-Options") == ["nosniff"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("text/javascript", "text/javascript is refused: a browser would run it as the "
                            "service's own script"),
        ("text/javascript ;", "text/javascript is refused"),
        ("application/javascript; charset=utf-8", "application/javascript is refused"),
        ("TEXT/HTML", "text/html is refused: a browser would show it as a page of the service"),
        ("text/css", "text/css is refused: a browser would apply it as the service's own "
                     "stylesheet"),
        ("image/svg+xml", "image/svg+xml is refused"),
        ("application/xhtml+xml", "application/xhtml+xml is refused"),
        ("application/json, text/javascript", "must be one media type"),
        ("", "must not be empty"),
    ],
)
async def test_a_refused_content_type_makes_the_result_invalid(
    seed: SeedSetup, form: str, value: str, fragment: str
) -> None:
    response = await ask(seed, form, [("Content-Type", value)], "window.pwned = 1")
    error = await logged_error(seed, response)
    [problem] = error["problems"]
    assert problem["key"] == "response.headers.Content-Type"
    assert fragment in problem["message"]
    assert sent(response, "Content-Type") == ["application/json"]  # the service's own error
    assert "window.pwned" not in await response.text()


async def test_a_chosen_content_type_wins_over_contents_default(seed: SeedSetup) -> None:
    # Contract §3: .content(dict) supplies application/json only while none was chosen.
    response = await ask(seed, "headers_first", [("Content-Type", "application/problem+json")],
                         {"title": "busy"}, status=503)
    assert response.status == 503
    assert sent(response, "Content-Type") == ["application/problem+json"]
    assert json.loads(await response.text()) == {"title": "busy"}
    response = await ask(seed, "headers_first", [], {"title": "ok"})
    assert sent(response, "Content-Type") == ["application/json"]


async def test_a_dry_run_reports_the_same_refusal(seed: SeedSetup) -> None:
    run = await seed.api.ok("POST", f"/api/v1/modules/{seed.module['id']}/dry-run", {
        "request": {"method": "POST", "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"form": "dict", "headers": [["X-Accel-Redirect", "/i"]],
                                        "body": "", "status": 200})},
    })
    assert run["ok"] is False
    assert run["outcome"] == "invalid"
    assert run["error"]["problems"][0]["key"] == "response.headers.X-Accel-Redirect"
    assert run["reply"] is None  # no reply would be sent as the script wrote it


# Control characters but tab: the HTTP server refuses to write them in a header, so they must
# be refused as the script's own mistake, never reach the server and fail there (an unhandled
# error and the service's generic 500, the script's changes kept).
HEADER_CONTROLS = ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]


@pytest.mark.parametrize("control", HEADER_CONTROLS, ids=lambda c: f"{ord(c):#04x}")
async def test_a_control_character_in_a_reply_header_makes_the_result_invalid(
    seed: SeedSetup, control: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await ask(seed, "dict", [("X-Fine", "1"), ("X-Id", f"a{control}b")], "x")
    error = await logged_error(seed, response)
    assert error["type"] == "InvalidResult"
    [problem] = error["problems"]
    assert problem["key"] == "response.headers.X-Id"
    assert "must not contain line breaks or other control characters" in problem["message"]
    assert not sent(response, "X-Fine")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("form", ["content_first", "headers_first"])
@pytest.mark.parametrize("control", HEADER_CONTROLS, ids=lambda c: f"{ord(c):#04x}")
async def test_the_builder_refuses_a_control_character_in_a_header_value(
    seed: SeedSetup, form: str, control: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await ask(seed, form, [("X-Id", f"a{control}b")], "x")
    assert response.status == 500, await response.text()
    answer = await response.json()
    assert answer["error"] == "script_failed"
    execution = await seed.api.ok("GET", f"/api/v1/executions/{answer['execution_id']}")
    assert execution["error"]["type"] == "ValueError"
    assert "control characters" in execution["error"]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_tab_and_any_other_text_in_a_reply_header_arrive_intact(seed: SeedSetup) -> None:
    value = "a\tb \u00e9\u2028\U0001F600"
    for form in FORMS:
        response = await ask(seed, form, [("X-Id", value)], "x")
        assert response.status == 200, await response.text()
        assert sent(response, "X-Id") == [value]
