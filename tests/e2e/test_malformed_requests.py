"""Requests aiohttp's parser refuses get the service's JSON error, with the status that fits.

Before, every one was aiohttp's own `400` in plain text quoting the request's bytes back
(runtime/edge_protocol.py), and its `417` for an unknown `Expect:` was plain text too; a broken
chunk in a body the app was already reading was a `408` when the body's deadline ran out. Raw
sockets: no client library would send these."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e import raw_http
from tests.e2e.conftest import OPERATOR_TOKEN
from tests.e2e.test_http_edge import Edge, edge_service, no_errors_logged, read_until_closed

HOST = b"Host: 127.0.0.1\r\n"
CLOSE = b"Connection: close\r\n"

MALFORMED = [
    # (what, request bytes, status, error code, words the message holds)
    ("request line over 8190 bytes",
     b"GET /api/v1/calls?q=" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
     414, "uri_too_long", "request line is longer than 8190 bytes"),
    ("header value over 8190 bytes",
     b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Big: " + b"x" * 9000 + b"\r\n\r\n",
     431, "headers_too_large", "header line is longer than 8190 bytes"),
    ("header name over 8190 bytes",
     b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-" + b"n" * 9000 + b": v\r\n\r\n",
     431, "headers_too_large", "header line is longer than 8190 bytes"),
    ("too many header lines",
     b"GET /healthz HTTP/1.1\r\n" + HOST
     + b"".join(b"X-H%d: v\r\n" % n for n in range(200)) + b"\r\n",
     431, "headers_too_large", "more than 128 header lines"),
    ("unknown HTTP version", b"GET /healthz HTTP/9.9\r\n" + HOST + b"\r\n",
     400, "bad_request", "Invalid HTTP version"),
    ("bare LF", b"GET /healthz HTTP/1.1\n" + HOST + b"\n",
     400, "bad_request", "CRLF"),
    ("bad method", b"G(T /healthz HTTP/1.1\r\n" + HOST + b"\r\n",
     400, "bad_request", "method"),
    ("chunk size not hex",
     b"POST /api/v1/tenants HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\n\r\n", 400, "bad_request", "chunk size"),
    ("Transfer-Encoding and Content-Length",
     b"POST /api/v1/tenants HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
     b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400, "bad_request", "Content-Length"),
    ("Content-Length not a number",
     b"POST /api/v1/tenants HTTP/1.1\r\n" + HOST + b"Content-Length: 12a\r\n\r\n",
     400, "bad_request", "Content-Length"),
    ("a space in a header name",
     b"GET /healthz HTTP/1.1\r\n" + HOST + b"X Bad: v\r\n\r\n",
     400, "bad_request", "header"),
    ("an expectation other than 100-continue",
     b"POST /api/v1/tenants HTTP/1.1\r\n" + HOST + CLOSE + b"Expect: everything\r\n"
     b"Content-Length: 2\r\n\r\n{}", 417, "expectation_failed", "Expect: everything"),
    ("TLS to the plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64,
     400, "bad_request", "TLS"),
]


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    async with edge_service(tmp_path, header_timeout_seconds=10,
                            body_timeout_seconds=30) as e:
        yield e


async def exchange(port: int, data: bytes) -> raw_http.RawResponse:
    reader, writer = await raw_http.connect(port)
    try:
        writer.write(data)
        await writer.drain()
        received = await asyncio.wait_for(read_until_closed(reader), 30)
    finally:
        writer.close()
    assert received, "the connection closed without an answer"
    return raw_http.parse_response(received)


@pytest.mark.parametrize("what,data,status,code,words", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
async def test_a_malformed_request_is_answered_with_a_json_error(
        edge: Edge, caplog: pytest.LogCaptureFixture, what: str, data: bytes, status: int,
        code: str, words: str) -> None:
    response = await exchange(edge.port, data)
    assert response.status == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert words in body["message"]
    assert len(body["message"]) < 300  # the request's bytes are not echoed back
    no_errors_logged(caplog)


async def test_the_service_answers_normally_on_after_malformed_requests(edge: Edge) -> None:
    for _, data, status, *_ in MALFORMED:
        assert (await exchange(edge.port, data)).status == status
    response = await raw_http.send(edge.port, raw_http.head("GET", "/healthz"))
    assert response.status == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("target", ["hook", "/api/v1/tenants"])
async def test_a_chunk_broken_after_the_body_began_is_a_prompt_400(
        edge: Edge, caplog: pytest.LogCaptureFixture, target: str) -> None:
    """The handler is reading the body when its framing breaks: it is told so (400 bad_body),
    and the request is answered once, not left waiting for the body's deadline (30 s here:
    the test's own wait for the answer is shorter). Should both parts arrive together after
    all, the parser refuses the request before the app sees it: a 400 as well."""
    path = edge.hook_path if target == "hook" else target
    head = raw_http.head("POST", path, [
        ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked")])
    reader, writer = await raw_http.connect(edge.port)
    try:
        writer.write(head + b'5\r\n{"a":\r\n')
        await writer.drain()
        await asyncio.sleep(0.3)  # the first chunk's segment is read before the broken one
        writer.write(b"zz-not-a-size\r\n\r\n")
        await writer.drain()
        received = await asyncio.wait_for(read_until_closed(reader), 20)
    finally:
        writer.close()
    response = raw_http.parse_response(received)
    assert response.status == 400, response.text
    assert response.json()["error"] in ("bad_body", "bad_request")
    assert "chunk size" in response.json()["message"]
    assert received.count(b"HTTP/1.") == 1  # one answer
    no_errors_logged(caplog)


def test_the_installed_aiohttp_has_what_the_edge_protocol_reads() -> None:
    """Another aiohttp would run the service on aiohttp's own protocol (plain-text answers to
    what it cannot parse, logged at start): the pinned one must not."""
    from runtime import edge_protocol
    assert edge_protocol.supported()
