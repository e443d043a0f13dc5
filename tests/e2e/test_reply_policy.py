"""A tenant's webhook reply through a real server (contract §4, §5.1): headers and content types
from the allowlist arrive exactly as the script set them, with the two security headers; a
refused one makes the result invalid (500, and the execution log names the header and why),
and nothing of it reaches the caller."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("form", FORMS)
async def test_a_reply_arrives_in_the_charset_its_content_type_names(
    seed: SeedSetup, form: str
) -> None:
    """A PBX that asks for windows-1251 read the UTF-8 the service sent as mojibake."""
    content_type = "text/xml; charset=windows-1251"
    response = await ask(seed, form, [("Content-Type", content_type)], "<name>Иван</name>")
    assert response.status == 200
    assert sent(response, "Content-Type") == [content_type]
    assert await response.read() == "<name>Иван</name>".encode("cp1251")


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


@pytest.mark.parametrize("value", ["a\x7fb", "a\x01b", "\x1b[31m", "a\x0bb", "a\x1fb"])
async def test_a_header_value_with_a_control_character_is_refused_precisely(
    seed: SeedSetup, value: str
) -> None:
    # HTTP field values may not hold control characters other than TAB (RFC 9110 §5.5); the
    # server would refuse to write them after the webhook's effects were stored, answering a
    # bare "internal" 500. The script is told instead: by the builder as it sets the header,
    # and by the result's validation for a reply given as a dict.
    for form in ("content_first", "headers_first"):
        response = await ask(seed, form, [("X-Id", value)], "x")
        assert response.status == 500
        answer = await response.json()
        assert answer["error"] == "script_failed", answer
        execution = await seed.api.ok("GET", f"/api/v1/executions/{answer['execution_id']}")
        assert execution["error"]["type"] == "ValueError"
        assert "control characters" in execution["error"]["message"]
    error = await logged_error(seed, await ask(seed, "dict", [("X-Id", value)], "x"))
    [problem] = error["problems"]
    assert problem["key"] == "response.headers.X-Id"
    assert "control characters" in problem["message"]


async def test_a_header_value_with_a_tab_or_non_ascii_text_is_sent(seed: SeedSetup) -> None:
    for form in FORMS:
        response = await ask(seed, form, [("X-Note", "a\tb"), ("X-Name", "Пётр")], "x")
        assert response.status == 200, await response.text()
        assert sent(response, "X-Note") == ["a\tb"]
        assert sent(response, "X-Name") == ["Пётр"]


SIZED_REPLY = """
def VoipParseWebhookRequest(request):
    ask = request.json()
    return {"response": HttpResponse().content(ask["unit"] * ask["count"])}
"""


@pytest.mark.parametrize("unit", ["x", 'a"\\\n', "й"])
async def test_a_reply_body_of_one_mib_is_sent_and_one_byte_more_is_refused(
    service: Service, unit: str,
) -> None:
    # Contract §4: a body of at most 1 MiB, counted in UTF-8 bytes; quotes, backslashes and
    # newlines (escaped in the result's JSON) and two-byte letters count as what they are.
    setup = await seed_setup(service)
    await upload(setup.api, setup.module["id"], SIZED_REPLY)
    size = len(unit.encode("utf-8"))
    mib = 1024 * 1024
    response = await setup.post_hook({"unit": unit, "count": mib // size})
    assert response.status == 200, (await response.text())[:300]
    body = await response.read()
    assert len(body) == mib // size * size and body.decode("utf-8") == unit * (mib // size)
    over = await setup.post_hook({"unit": unit, "count": mib // size + 1})
    error = await logged_error(setup, over)
    assert "body" in error["message"] and "1048576" in error["message"], error


@pytest.mark.parametrize("status", [204, 205, 304])
async def test_a_status_that_carries_no_content_is_sent_without_the_body(
    seed: SeedSetup, status: int,
) -> None:
    response = await ask(seed, "dict", [("Content-Type", "text/plain")], "ignored", status)
    assert response.status == status
    assert await response.read() == b""
    assert response.headers.get("Content-Length") in (None, "0")
