"""The HTTP edge against the real service on loopback, served as `voip-runtime serve` serves it
(`runtime.server.listening`: every connection under the header and body deadlines), spoken
to over raw sockets where the client's pacing matters.

- bodies are read whole however they arrive (many small segments with pauses), up to the limit
  and not a byte more, compressed ones by their decoded size, to a webhook, the API and the
  console's sign-in; a body that is not what its Content-Encoding says is a 400;
- slow clients (headers dribbled, or a body a byte at a time) are cut off at their deadline
  while everyone else is served;
- every byte value in header values, the path and the query reaches a script as valid
  Unicode (contract §3), through a webhook and through the dry-run API;
- bad input is answered 4xx, never 500, with one warning line at most.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientSession, CookieJar, WSMsgType

from runtime.app import create_app
from runtime.bodies import MAX_GZIP_MEMBERS
from runtime.config import Config, HttpConfig
from runtime.console.auth_views import SIGN_IN_FORM_BYTES
from runtime.server import listening
from tests.e2e import raw_http
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.crash_support import free_port
from tests.e2e.helpers import SeedSetup, seed_setup, upload
from tests.e2e.test_service import read_until

WEBHOOK_LIMIT = 4 * 1024  # max_webhook_body_kib=4
API_LIMIT = 64 * 1024  # http.max_api_body_kib=64
SECRET = "s3cret"

ECHO_SCRIPT = '''
import hashlib
import hmac


def VoipParseWebhookRequest(request):
    raw = (request.body or "").encode("utf-8")
    expected = hmac.new(settings["secret"].encode("utf-8"), raw, "sha256").hexdigest()
    seen = {
        "method": request.method,
        "url": request.url,
        "query": dict(request.query),
        "headers": {name.lower(): request.headers[name] for name in request.headers},
        "body": request.body if len(raw) <= 1024 else None,
        "length": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "signed": hmac.compare_digest(expected, request.headers.get("X-Signature", "")),
    }
    return {"response": HttpResponse().content(seen)}


def VoipGetCallLink(call_data):
    return settings["link"]
'''


@dataclass
class Edge:
    """The service on a real port, the seed tenant with the echo script, and its webhook."""

    port: int
    config: Config
    seed: SeedSetup
    session: ClientSession

    @property
    def hook_path(self) -> str:
        return self.seed.hook_path

    async def hook(self, body: bytes, headers: list[tuple[str, str | bytes]] | None = None, *,
                   segments: int = 8, pause: float = 0.05, target: bytes | str | None = None,
                   length: bool = True) -> raw_http.RawResponse:
        given = list(headers or [])
        names = {name.lower() for name, _ in given}
        if "content-type" not in names:
            given.append(("Content-Type", "application/json"))
        if "transfer-encoding" not in names and length:
            given.append(("Content-Length", str(len(body))))
        return await raw_http.send(
            self.port, raw_http.head("POST", target or self.hook_path, given), body,
            segments=segments, pause=pause)


def edge_config(tmp_path: Path, **http: Any) -> Config:
    return service_config(tmp_path, max_webhook_body_kib=WEBHOOK_LIMIT // 1024,
                          http=HttpConfig(max_api_body_kib=API_LIMIT // 1024, **http))


@asynccontextmanager
async def edge_service(tmp_path: Path, **http: Any) -> AsyncIterator[Edge]:
    config = edge_config(tmp_path, **http)
    app = create_app(config, OPERATOR_TOKEN)
    async with listening(app, config, host="127.0.0.1", port=0) as port, \
            ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        service = Service(session, config, Api(session, OPERATOR_TOKEN))  # type: ignore[arg-type]
        seed = await seed_setup(service)
        await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}",
                          {"settings": {"secret": SECRET, "link": "https://records.example/1"},
                           "secrets": []})
        await upload(seed.api, seed.module["id"], ECHO_SCRIPT)
        yield Edge(port, config, seed, session)


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    async with edge_service(tmp_path, header_timeout_seconds=10, body_timeout_seconds=20) as e:
        yield e


def json_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least 2)."""
    if size < 11:
        return b"{}" + b" " * (size - 2)
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


def signature(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def no_errors_logged(caplog: pytest.LogCaptureFixture, *, warnings: int = 1) -> None:
    """Bad input leaves no error in the log and at most `warnings` warning lines."""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    # (A service's start may warn that another service on this host holds the default worker
    # uids, as when tests run beside other services: that is about the host, not the input.)
    warned = [r for r in caplog.records
              if r.levelno == logging.WARNING and r.name != "sandbox.uid_claim"]
    assert len(warned) <= warnings, [r.getMessage() for r in warned]
    assert all("Traceback" not in r.getMessage() and r.exc_info is None for r in warned)


# --- 1. bodies read whole ----------------------------------------------------------------------

@pytest.mark.parametrize("size", [2, 1399, 1448, 2094, WEBHOOK_LIMIT - 1, WEBHOOK_LIMIT])
async def test_a_webhook_body_in_many_segments_reaches_the_script_whole(
        edge: Edge, size: int) -> None:
    body = json_body(size)
    response = await edge.hook(body, [("X-Signature", signature(body))], segments=9, pause=0.05)
    assert response.status == 200, response.text
    seen = response.json()
    assert seen["length"] == size
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["signed"] is True


async def test_a_chunked_webhook_body_reaches_the_script_whole(edge: Edge) -> None:
    body = json_body(3000)
    response = await edge.hook(raw_http.chunked(body, 7),
                               [("Transfer-Encoding", "chunked"), ("X-Signature", signature(body))],
                               segments=12, pause=0.05)
    assert response.status == 200, response.text
    assert response.json()["signed"] is True


async def test_utf8_split_between_segments_is_decoded_whole(edge: Edge) -> None:
    text = '{"name": "' + "Ёжик é " * 150 + '"}'
    body = text.encode("utf-8")
    response = await edge.hook(body, [("X-Signature", signature(body))], segments=13, pause=0.03)
    assert response.status == 200, response.text
    assert response.json()["signed"] is True
    # and the execution log keeps the exact text
    executions = await edge.seed.api.ok(
        "GET", f"/api/v1/executions?module_id={edge.seed.module['id']}&limit=1")
    stored = await edge.seed.api.ok(
        "GET", f"/api/v1/executions/{executions['executions'][0]['id']}")
    assert stored["request"]["body"] == text


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_webhook_body_one_byte_over_the_limit_is_413(edge: Edge, framing: str) -> None:
    body = json_body(WEBHOOK_LIMIT + 1)
    if framing == "length":
        response = await edge.hook(body, segments=5, pause=0.05)
    else:
        response = await edge.hook(raw_http.chunked(body, 5), [("Transfer-Encoding", "chunked")],
                                   segments=5, pause=0.05)
    assert response.status == 413, response.text
    assert response.json()["error"] == "payload_too_large"


@pytest.mark.parametrize("over", [0, 1])
async def test_an_api_body_in_many_segments_up_to_the_limit(edge: Edge, over: int) -> None:
    start = b'{"name": "edge-tenant"'
    body = start + b" " * (API_LIMIT + over - len(start) - 1) + b"}"
    assert len(body) == API_LIMIT + over
    head = raw_http.head("POST", "/api/v1/tenants", [
        ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
        ("Content-Length", str(len(body)))])
    response = await raw_http.send(edge.port, head, body, segments=16, pause=0.05)
    if over:
        assert response.status == 413, response.text
        assert response.json()["error"] == "payload_too_large"
    else:
        assert response.status == 201, response.text
        assert response.json()["name"] == "edge-tenant"


async def sign_in_form(edge: Edge) -> tuple[str, str]:
    """The sign-in form's CSRF token and the cookie that binds it, as a browser gets them."""
    async with edge.session.get("/console/sign-in") as response:
        html = await response.text()
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in response.cookies.items())
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found and cookie
    return unescape(found.group(1)), cookie


@pytest.mark.parametrize("over", [0, 1])
async def test_the_console_sign_in_form_in_many_segments_up_to_the_limit(
        edge: Edge, over: int) -> None:
    token, cookie = await sign_in_form(edge)
    key = edge.seed.api.secret
    assert key
    form = f"csrf_token={token}&credential={key}&next=&pad=".encode()
    # (The sign-in form has a limit of its own, below the API's: anyone may post it.)
    limit = min(API_LIMIT, SIGN_IN_FORM_BYTES)
    body = form + b"x" * (limit + over - len(form))
    head = raw_http.head("POST", "/console/sign-in", [
        ("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", str(len(body)))])
    response = await raw_http.send(edge.port, head, body, segments=16, pause=0.05)
    if over:
        assert response.status == 413, response.text
        assert "text/html" in response.headers["content-type"]
    else:
        assert response.status == 303, response.text
        assert response.headers["location"] == "/console/modules"


# --- Content-Encoding ----------------------------------------------------------------------------

def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("coding,encode", [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", raw_deflate),
    ("gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),  # 2 members
])
async def test_a_compressed_webhook_body_reaches_the_script_decoded(
        edge: Edge, coding: str, encode: Any) -> None:
    body = json_body(WEBHOOK_LIMIT)  # the limit counts the decoded bytes: exactly at it
    response = await edge.hook(encode(body), [("Content-Encoding", coding),
                                              ("X-Signature", signature(body))])
    assert response.status == 200, response.text
    assert response.json()["length"] == WEBHOOK_LIMIT
    assert response.json()["signed"] is True


async def test_a_compressed_body_is_limited_by_its_decoded_size(
        edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    over = gzip.compress(json_body(WEBHOOK_LIMIT + 1))
    response = await edge.hook(over, [("Content-Encoding", "gzip")])
    assert response.status == 413, response.text
    bomb = gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB in ~64 KiB
    assert len(bomb) > WEBHOOK_LIMIT
    bomb_in_limit = gzip.compress(b"0" * (3 * 1024 * 1024), compresslevel=9)
    assert len(bomb_in_limit) < WEBHOOK_LIMIT
    for data in (bomb, bomb_in_limit):
        response = await edge.hook(data, [("Content-Encoding", "gzip")], segments=2)
        assert response.status == 413, response.text
        assert response.json()["error"] == "payload_too_large"
    no_errors_logged(caplog, warnings=0)


async def test_a_body_of_more_gzip_members_than_any_client_sends_is_refused(
        edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    """Each gzip member costs a new decompressor, and zlib copied the rest of a body past each
    member's end: a megabyte of empty members (20 bytes each) held the event loop, every
    tenant's webhooks waiting, for seconds. Up to MAX_GZIP_MEMBERS are read as gzip reads them
    (here through the API, whose limit holds that many)."""

    async def create_tenant(data: bytes) -> raw_http.RawResponse:
        head = raw_http.head("POST", "/api/v1/tenants", [
            ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"), ("Content-Length", str(len(data)))])
        return await raw_http.send(edge.port, head, data)

    body = b'{"name": "many-members"}' + b" " * (2 * MAX_GZIP_MEMBERS)
    cuts = [len(body) * n // MAX_GZIP_MEMBERS for n in range(MAX_GZIP_MEMBERS + 1)]
    members = [gzip.compress(body[a:b], mtime=0) for a, b in pairwise(cuts)]
    created = await create_tenant(b"".join(members))
    assert created.status == 201, created.text
    assert created.json()["name"] == "many-members"

    one_more = await create_tenant(b"".join(members) + gzip.compress(b"", mtime=0))
    assert one_more.status == 400, one_more.text
    assert one_more.json() == {
        "error": "bad_encoding",
        "message": f"the body has more than {MAX_GZIP_MEMBERS} gzip members; send it as one"}
    empty = gzip.compress(b"", mtime=0)
    flood = await create_tenant(empty * (API_LIMIT // len(empty)))
    assert flood.status == 400 and flood.json()["error"] == "bad_encoding", flood.text
    no_errors_logged(caplog, warnings=0)


# mtime=0 and named ids: the gzip header holds the time it was written, and the ids pytest
# made of these bytes were a new name each second (a case could not be run by the name it was
# collected by).
NOT_AS_ENCODED = [
    pytest.param("gzip", b"this is not gzip at all", id="gzip-not-gzip"),
    pytest.param("gzip", gzip.compress(b'{"a": 1}' * 50, mtime=0)[:-6],  # cut before its end
                 id="gzip-cut-short"),
    pytest.param("gzip", gzip.compress(b'{"a": 1}', mtime=0) + b"trailing junk",
                 id="gzip-trailing-junk"),
    pytest.param("deflate", b"not deflate", id="deflate-not-deflate"),
    pytest.param("gzip", b"", id="gzip-empty"),
]


@pytest.mark.parametrize("coding,data", NOT_AS_ENCODED)
async def test_a_body_that_is_not_what_its_encoding_says_is_400_everywhere(
        edge: Edge, caplog: pytest.LogCaptureFixture, coding: str, data: bytes) -> None:
    hook = await edge.hook(data, [("Content-Encoding", coding)], segments=3)
    api_head = raw_http.head("POST", "/api/v1/tenants", [
        ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
        ("Content-Encoding", coding), ("Content-Length", str(len(data)))])
    api = await raw_http.send(edge.port, api_head, data, segments=3, pause=0.02)
    _, cookie = await sign_in_form(edge)
    console_head = raw_http.head("POST", "/console/sign-in", [
        ("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Encoding", coding), ("Content-Length", str(len(data)))])
    console = await raw_http.send(edge.port, console_head, data, segments=3, pause=0.02)
    if not data:
        # An empty body with a coding has nothing to decode and nothing to refuse: the
        # webhook runs with no body; the API asks for one; the form is empty (so stale).
        assert hook.status == 200 and hook.json()["body"] is None
        assert api.status == 400 and api.json()["error"] == "bad_request"
        assert console.status == 403
        return
    assert hook.status == 400 and hook.json()["error"] == "bad_encoding", hook.text
    assert api.status == 400 and api.json()["error"] == "bad_encoding", api.text
    assert console.status == 400 and "text/html" in console.headers["content-type"]
    assert coding in console.text
    no_errors_logged(caplog, warnings=0)


@pytest.mark.parametrize("coding", ["br", "gzip, gzip", "compress", "zstd"])
async def test_a_content_encoding_we_cannot_decode_is_415(edge: Edge, coding: str) -> None:
    data = gzip.compress(gzip.compress(b"{}"))
    response = await edge.hook(data, [("Content-Encoding", coding)])
    assert response.status == 415, response.text
    assert response.json()["error"] == "unsupported_encoding"
    assert response.headers["accept-encoding"] == "gzip, deflate"


# --- 2. deadlines for slow clients ----------------------------------------------------------------

HEADER_DEADLINE = 1.5
BODY_DEADLINE = 3.0


@dataclass
class Slow:
    opened: float
    closed: float
    received: bytes


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the service sent before it closed the connection (or reset it)."""
    received = bytearray()
    try:
        while chunk := await reader.read(65536):
            received += chunk
    except ConnectionError:
        pass
    return bytes(received)


async def dribble(port: int, first: bytes, *, every: float, give_up: float) -> Slow:
    """Send `first`, then one byte every `every` seconds, until the service closes the
    connection (or `give_up` seconds pass: the test then fails)."""
    loop = asyncio.get_running_loop()
    reader, writer = await raw_http.connect(port)
    opened = loop.time()
    writer.write(first)
    reading = asyncio.ensure_future(read_until_closed(reader))
    try:
        while not reading.done() and loop.time() - opened < give_up:
            await asyncio.wait([reading], timeout=every)
            if reading.done():
                break
            try:
                writer.write(b"a")
                await writer.drain()
            except ConnectionError:
                break
        received = await asyncio.wait_for(reading, max(0.1, give_up - (loop.time() - opened)))
        return Slow(opened, loop.time(), received)
    finally:
        reading.cancel()
        writer.close()


async def test_slow_clients_are_cut_off_while_others_are_served(tmp_path: Path) -> None:
    async with edge_service(tmp_path, header_timeout_seconds=HEADER_DEADLINE,
                            body_timeout_seconds=BODY_DEADLINE) as edge:
        _, cookie = await sign_in_form(edge)
        give_up = BODY_DEADLINE + 30  # generous: the machine is shared
        headers_dribbled = b"POST /console/sign-in HTTP/1.1\r\nHost: x\r\nX-Slow: "
        sign_in_dribbled = raw_http.head("POST", "/console/sign-in", [
            ("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "4000")])
        hook_dribbled = raw_http.head("POST", edge.hook_path, [
            ("Content-Type", "application/json"), ("Content-Length", "4000")])
        unread_dribbled = raw_http.head("POST", "/healthz", [("Content-Length", "4000")])
        # 100 slow clients, as in the report: headers dribbled; bodies dribbled to the sign-in
        # form and a webhook (whose handlers wait for them); a body nobody reads.
        kinds = ["headers"] * 40 + ["sign-in"] * 30 + ["hook"] * 25 + ["unread"] * 5
        first = {"headers": headers_dribbled, "sign-in": sign_in_dribbled,
                 "hook": hook_dribbled, "unread": unread_dribbled}
        slow = [asyncio.ensure_future(dribble(edge.port, first[kind], every=0.4,
                                              give_up=give_up)) for kind in kinds]

        served = 0
        while not all(task.done() for task in slow):
            async with edge.session.get("/healthz") as response:
                assert response.status == 200
            body = json_body(100)
            response = await edge.hook(body, [("X-Signature", signature(body))], segments=1)
            assert response.status == 200 and response.json()["signed"] is True
            served += 1
            await asyncio.sleep(0.1)
        results = [task.result() for task in slow]

    assert served >= 3
    for kind, result in zip(kinds, results, strict=True):
        took = result.closed - result.opened
        deadline = HEADER_DEADLINE if kind == "headers" else BODY_DEADLINE
        assert deadline - 0.2 <= took < give_up, (kind, took, result.received[:300])
        if kind == "headers":
            assert result.received == b""  # cut: there was no request to answer
        elif kind == "unread":
            # answered at once (405), then its body's clock closed the connection
            assert raw_http.parse_response(result.received).status == 405
        else:
            # the body reader answered 408 at the deadline, then the connection was closed
            response = raw_http.parse_response(result.received)
            assert response.status == 408, response.text
            if kind == "hook":
                assert response.json()["error"] == "request_timeout"


STALL_DEADLINE = 2.0


async def test_a_client_that_reads_none_of_its_responses_is_cut_off(tmp_path: Path) -> None:
    """A client asking for large answers (the API reference, anonymously, 40 times on one
    connection) that reads none of them held its connection, the handler waiting to write
    and megabytes of buffers for ever, and the connection budget never sheds a connection
    serving a request: enough of them and no one else could connect. Others are served while
    it waits; once it has taken nothing for `response_stall_seconds` it is cut off, and what
    it then reads ends short of the 40 answers."""
    async with edge_service(tmp_path, response_stall_seconds=STALL_DEADLINE) as edge:
        loop = asyncio.get_running_loop()
        async with edge.session.get("/api/v1/docs") as response:
            one = len(await response.read())
        with socket.socket() as unread:
            unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            unread.setblocking(False)
            await loop.sock_connect(unread, ("127.0.0.1", edge.port))
            await loop.sock_sendall(
                unread, raw_http.head("GET", "/api/v1/docs", [("Connection", "keep-alive")]) * 40)
            waited = loop.time() + STALL_DEADLINE + 2
            while loop.time() < waited:
                async with edge.session.get("/healthz") as response:
                    assert response.status == 200
                await asyncio.sleep(0.25)
            received, ended = 0, False
            try:
                while chunk := await asyncio.wait_for(loop.sock_recv(unread, 65536), 10):
                    received += len(chunk)
                ended = True  # closed
            except ConnectionError:
                ended = True  # reset
            except TimeoutError:
                pass  # still open, every answer sent: nothing was cut
    assert ended and received < 40 * one, (ended, received, 40 * one)


async def test_a_slow_but_steady_body_is_within_its_own_deadline(tmp_path: Path) -> None:
    """The header clock stops at the headers: a body may take longer than the headers were
    allowed, up to its own deadline; an idle keep-alive connection is not a slow header."""
    async with edge_service(tmp_path, header_timeout_seconds=HEADER_DEADLINE,
                            body_timeout_seconds=BODY_DEADLINE) as edge:
        body = json_body(2000)
        response = await edge.hook(body, [("X-Signature", signature(body))],
                                   segments=10, pause=0.2)  # about 2 s, past the header deadline
        assert response.status == 200, response.text
        assert response.json()["signed"] is True

        reader, writer = await raw_http.connect(edge.port)
        try:
            for _ in range(2):
                writer.write(raw_http.head("GET", "/healthz", [("Connection", "keep-alive")]))
                await writer.drain()
                status = await asyncio.wait_for(reader.readline(), 10)
                assert status.startswith(b"HTTP/1.1 200")
                length = 0
                while (line := await asyncio.wait_for(reader.readline(), 10)) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                await asyncio.sleep(HEADER_DEADLINE + 1)  # idle, not slow
        finally:
            writer.close()


# --- 4. every byte value reaches a script as valid Unicode -------------------------------------

# Bytes HTTP does not allow in a header value (controls but HTAB): aiohttp answers 400.
FORBIDDEN_IN_HEADERS = {*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F}


def as_script_sees(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def test_every_byte_in_header_values_reaches_the_script_as_valid_text(
        edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    allowed = [b for b in range(256) if b not in FORBIDDEN_IN_HEADERS]
    for batch in (allowed[:100], allowed[100:200], allowed[200:]):  # aiohttp allows 128 headers
        headers: list[tuple[str, str | bytes]] = [
            (f"X-B-{b:02x}", b"a" + bytes([b]) + b"b") for b in batch]
        response = await asyncio.wait_for(edge.hook(b"{}", headers, segments=1), 30)
        assert response.status == 200, response.text
        seen = response.json()["headers"]
        for b in batch:
            assert seen[f"x-b-{b:02x}"] == as_script_sees(b"a" + bytes([b]) + b"b"), hex(b)
    every_high = b"<" + bytes(range(0x80, 0x100)) + b">"
    response = await edge.hook(b"{}", [("X-All", every_high)], segments=1)
    assert response.json()["headers"]["x-all"] == as_script_sees(every_high)
    # a valid UTF-8 sequence stays what it is
    response = await edge.hook(b"{}", [("X-Name", "Ёжик".encode())], segments=1)
    assert response.json()["headers"]["x-name"] == "Ёжик"

    for b in sorted(FORBIDDEN_IN_HEADERS):
        response = await asyncio.wait_for(
            edge.hook(b"{}", [("X-B", b"a" + bytes([b]) + b"b")], segments=1), 30)
        assert response.status == 400, (hex(b), response.text)
    # a malformed request is the client's: one warning line each, no traceback
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert all(r.exc_info is None for r in caplog.records if r.name == "aiohttp.server")


async def test_every_byte_percent_encoded_in_the_path_and_query(edge: Edge) -> None:
    every = bytes(range(256))
    encoded = "".join(f"%{b:02X}" for b in every)
    target = f"{edge.hook_path}/{encoded}?q={encoded}&plain=1"
    response = await asyncio.wait_for(edge.hook(b"{}", target=target, segments=1), 30)
    assert response.status == 200, response.text
    seen = response.json()
    assert seen["query"]["q"] == as_script_sees(every)
    assert seen["query"]["plain"] == "1"
    assert seen["url"].endswith("?" + target.split("?", 1)[1])


async def test_every_raw_byte_in_the_path_and_query_is_answered(edge: Edge) -> None:
    """A raw byte in the request target is the HTTP parser's to allow; whatever it lets
    through reaches the script as valid text, and nothing stalls."""
    # A few at a time: the tenant may run 6 executions at once.
    at_once = asyncio.Semaphore(4)

    async def one(b: int, target: bytes) -> None:
        async with at_once:
            response = await asyncio.wait_for(edge.hook(b"{}", target=target, segments=1), 30)
        assert response.status in (200, 400), (hex(b), target, response.text)
        if response.status == 200 and b >= 0x80:
            seen = response.json()
            assert "\ufffd" in seen["url"] or f"%{b:02X}" in seen["url"].upper(), hex(b)

    path = edge.hook_path.encode()
    await asyncio.gather(*(one(b, target) for b in range(256) for target in (
        path + b"/a" + bytes([b]) + b"b", path + b"?q=a" + bytes([b]) + b"b")))


async def test_a_dry_run_request_with_lone_surrogates_is_run_as_valid_text(edge: Edge) -> None:
    escaped = [chr(0xDC00 + b) for b in range(256)]  # what surrogateescape makes of a byte
    query = "&".join(f"s{b:02x}=a{escaped[b]}b" for b in range(256))
    high = as_script_sees(bytes(range(0x80, 0x100)))
    # Every byte in a header twice (escaped, and as the character), in runs of 63 bytes: a
    # composed request carries at most 128 headers, as a webhook may.
    for first in range(0, 256, 63):
        chunk = range(first, min(first + 63, 256))
        headers = {f"X-S-{b:02x}": f"a{escaped[b]}b" for b in chunk}
        headers.update({f"X-C-{b:02x}": f"a{chr(b)}b" for b in chunk})
        headers["X-High"] = "\ud800x\udfff"
        payload = {"request": {"method": "POST",
                               "url": f"http://127.0.0.1/hooks/x/\udcff?{query}",
                               "headers": headers, "body": "".join(escaped)}}
        body = json.dumps(payload).encode("ascii")  # lone surrogates as \\udcXX escapes
        head = raw_http.head("POST", f"/api/v1/modules/{edge.seed.module['id']}/dry-run", [
            ("Authorization", f"Bearer {edge.seed.api.secret}"),
            ("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        response = await asyncio.wait_for(
            raw_http.send(edge.port, head, body, segments=6, pause=0.02), 30)
        assert response.status == 200, response.text
        report = response.json()
        assert report["outcome"] == "ok", report
        seen = json.loads(report["reply"]["body"])
        for b in chunk:
            assert seen["headers"][f"x-s-{b:02x}"] == "a\ufffdb", hex(b)
            assert seen["headers"][f"x-c-{b:02x}"] == f"a{chr(b)}b", hex(b)
        for b in range(256):
            assert seen["query"][f"s{b:02x}"] == "a\ufffdb", hex(b)
        assert seen["headers"]["x-high"] == "\ufffdx\ufffd"
        assert seen["body"] == "\ufffd" * 128 + high
        assert "/hooks/x/\ufffd?" in seen["url"]
        assert report["request"]["headers"]  # what the report shows is the same valid text
        assert "\\ud" not in response.text.lower()


# --- 3. bad input is a 4xx -----------------------------------------------------------------------

BAD_LINKS = ["https://evil.example\\@127.0.0.1/x", "https://evil.example\\@127.0.0.1"]


async def record_a_call(edge: Edge, link: str) -> str:
    await edge.seed.api.ok("PATCH", f"/api/v1/modules/{edge.seed.module['id']}",
                           {"settings": {"secret": SECRET, "link": link}, "secrets": []})
    script = ECHO_SCRIPT.replace(
        '    return {"response": HttpResponse().content(seen)}',
        '    return {"callRecord": {"call": {"id": "r1"}, "direction": "in",\n'
        '            "disposition": "answered", "srcPhone": "+79161234567",\n'
        '            "dstPhone": "101", "duration": 5}}')
    await upload(edge.seed.api, edge.seed.module["id"], script)
    response = await edge.hook(b"{}")
    assert response.status == 200, response.text
    calls = await edge.seed.api.ok("GET", "/api/v1/calls")
    return str(calls["calls"][0]["id"])


@pytest.mark.parametrize("link", BAD_LINKS)
async def test_a_recording_link_aiohttp_cannot_use_is_502_not_500(
        edge: Edge, caplog: pytest.LogCaptureFixture, link: str) -> None:
    call_id = await record_a_call(edge, link)
    user = edge.seed.user_token
    for path in (f"/api/v1/calls/{call_id}/recording?token={user}",
                 f"/api/v1/calls/{call_id}/recording?format=json&token={user}"):
        async with edge.session.get(path, allow_redirects=False) as response:
            body = await response.json()
            assert response.status == 502, body
            assert body["error"] == "script_failed"
            # Refused by the result's validation, so the execution log says why too.
            assert "is not a URL a browser can be sent to" in body["message"]
            assert body["details"]["execution_id"]

    from tests.console.conftest import Browser  # the console's own sign-in, as a browser does
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        browser = Browser(session, f"http://127.0.0.1:{edge.port}")
        await browser.sign_in(user)
        response = await browser.get(f"/console/calls/{call_id}/recording",
                                     allow_redirects=False)
        assert response.status == 502, await response.text()
    no_errors_logged(caplog, warnings=3)


async def test_a_usable_recording_link_still_redirects(edge: Edge) -> None:
    call_id = await record_a_call(edge, "https://records.example.com/rec/1?sig=a%20b")
    async with edge.session.get(
            f"/api/v1/calls/{call_id}/recording?token={edge.seed.user_token}",
            allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "https://records.example.com/rec/1?sig=a%20b"


BAD_INPUT: list[tuple[int, str, str, str, dict[str, str], bytes]] = [
    # (status, credential, method, path, extra headers, body); {module}: the seed module's id
    (400, "operator", "POST", "/api/v1/tenants", {}, b"[" * 30_000 + b"]" * 30_000),  # too deep
    (422, "operator", "POST", "/api/v1/tenants", {}, b'{"name": "a\\udcffb"}'),
    (422, "operator", "POST", "/api/v1/tenants", {}, b'{"name": 5}'),
    (422, "operator", "POST", "/api/v1/tenants", {}, b'["name"]'),
    (400, "operator", "POST", "/api/v1/tenants", {}, b'{"name": "x"} trailing'),
    (400, "operator", "POST", "/api/v1/tenants", {}, b"\xff\xfe{}"),
    (400, "operator", "POST", "/api/v1/tenants", {}, b'{"name": ' + b"9" * 5000 + b"}"),
    (400, "operator", "POST", "/api/v1/tenants", {}, b'{"name": NaN}'),
    (400, "tenant", "PATCH", "/api/v1/modules/{module}", {}, b'{"settings": {"x": NaN}}'),
    (400, "tenant", "PATCH", "/api/v1/modules/{module}", {}, b'{"settings": {"x": -Infinity}}'),
    (400, "tenant", "PATCH", "/api/v1/modules/{module}", {}, b'{"settings": {"x": 1e999}}'),
    (401, "operator", "POST", "/api/v1/tenants", {"Authorization": "Bearer op_\xff\xfe"},
     b'{"name": "x"}'),
    (201, "operator", "POST", "/api/v1/tenants",
     {"Content-Type": "application/json; charset=\xff"}, b'{"name": "x"}'),
    (415, "operator", "POST", "/api/v1/tenants", {"Content-Type": "text/plain; charset=\xff"},
     b'{"name": "x"}'),
    (422, "tenant", "POST", "/api/v1/contacts", {},
     b'{"name": "\\udcff", "phones": ["+79161234567"]}'),
    (422, "tenant", "POST", "/api/v1/users", {}, b'{"name": "\\ud800"}'),
    (422, "tenant", "PATCH", "/api/v1/modules/{module}", {},
     b'{"settings": {"secret": "\\udcff", "link": "x"}}'),
    (422, "tenant", "PATCH", "/api/v1/modules/{module}", {}, b'{"description": "\\udcff"}'),
    (422, "tenant", "POST", "/api/v1/modules/{module}/versions", {},
     b'{"source": "x = 1  # \\udcff\\n", "activate": false}'),
    (422, "tenant", "POST", "/api/v1/modules/{module}/dry-run", {},
     b'{"source": "def VoipParseWebhookRequest(r):\\n    return None  # \\udcff\\n"}'),
    (422, "tenant", "PUT", "/api/v1/modules/{module}/bindings", {},
     b'{"bindings": {"\\udcff": "x"}}'),
    (404, "tenant", "GET", "/api/v1/calls/%ff%zz/recording", {}, b""),
    (400, "tenant", "GET", "/api/v1/calls?limit=%ff", {}, b""),
    (400, "tenant", "GET", "/api/v1/contacts?phone=%ff%00", {}, b""),
    (404, "tenant", "GET", "/api/v1/executions?since=%ff&module_id=%00", {}, b""),
    (404, "tenant", "GET", "/api/v1/modules/%ff%00", {}, b""),
    (404, "user", "GET", "/api/v1/calls/%ff/recording", {}, b""),
    # a Content-Type aiohttp cannot parse reads as none: the form is read (and is stale)
    (403, "none", "POST", "/console/sign-in", {"Content-Type": ";;;=\xff"}, b"a=1"),
    (415, "none", "POST", "/console/sign-in", {"Content-Type": "multipart/form-data"}, b"a=1"),
    (422, "operator", "POST", "/api/v1/tenants", {"Content-Type": "application/json; x=\"\xff"},
     b"{}"),
    (404, "none", "GET", "/console/static/js/%00.js?v=%ff", {}, b""),
    (404, "none", "GET", "/console/static/" + "x" * 3000 + ".js", {}, b""),
    (401, "none", "GET", "/console/calls/%ff/recording", {"Cookie": "vr_console=%ff\xff"}, b""),
    (200, "none", "GET", "/console/sign-in?next=%ff%00", {"Cookie": "vr_console_pre=\xff"}, b""),
    (302, "none", "GET", "/console/modules", {"Cookie": "vr_console=\xff\xfe"}, b""),
]


@pytest.mark.parametrize("status,who,method,path,headers,body", BAD_INPUT)
async def test_malformed_input_is_answered_4xx_without_an_error_in_the_log(
        edge: Edge, caplog: pytest.LogCaptureFixture, status: int, who: str, method: str,
        path: str, headers: dict[str, str], body: bytes) -> None:
    """Each is answered as it should be (a 4xx with a JSON error; a fresh form or a sign-in
    redirect where a console cookie is garbage; the API does not read Content-Type's charset),
    never with a 500, and leaves no error in the log."""
    secret = {"operator": OPERATOR_TOKEN, "tenant": edge.seed.api.secret,
              "user": edge.seed.user_token, "none": None}[who]
    given: list[tuple[str, str | bytes]] = [("Content-Type", "application/json")]
    if secret:
        given.append(("Authorization", f"Bearer {secret}"))
    given = [(k, v) for k, v in given if k not in headers]
    given += [(k, v.encode("latin-1")) for k, v in headers.items()]
    if body:
        given.append(("Content-Length", str(len(body))))
    target = path.replace("{module}", edge.seed.module["id"])
    response = await raw_http.send(edge.port, raw_http.head(method, target, given), body,
                                   segments=2, pause=0.01)
    assert response.status == status, (response.status, response.text)
    if 400 <= status < 500 and path.startswith("/api/"):
        assert set(response.json()) >= {"error", "message"}
    no_errors_logged(caplog)


async def test_oversized_headers_are_a_431_with_one_warning(
        edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    huge = [("X-Huge", "x" * 20_000)]
    response = await edge.hook(b"{}", huge, segments=1)  # type: ignore[arg-type]
    assert response.status == 431
    many = [(f"X-Many-{i}", "x") for i in range(500)]
    response = await edge.hook(b"{}", many, segments=1)  # type: ignore[arg-type]
    assert response.status == 431
    no_errors_logged(caplog, warnings=2)


async def test_a_flood_of_malformed_requests_is_a_few_warnings_then_a_count(
        edge: Edge, caplog: pytest.LogCaptureFixture) -> None:
    # Anyone can send them as fast as they like: the log must not grow at that rate.
    for _ in range(30):
        response = await edge.hook(b"{}", [("X-Huge", "x" * 20_000)], segments=1)
        assert response.status == 431
    warned = [r for r in caplog.records
              if r.levelno == logging.WARNING and r.name == "aiohttp.server"]
    assert 1 <= len(warned) <= 10, [r.getMessage() for r in warned]
    no_errors_logged(caplog, warnings=10)


async def test_a_flood_of_slow_clients_is_a_few_lines_then_a_count(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with edge_service(tmp_path, header_timeout_seconds=0.3,
                            body_timeout_seconds=BODY_DEADLINE) as edge:
        with caplog.at_level(logging.INFO, logger="runtime.http.deadlines"):
            slow = [asyncio.ensure_future(dribble(
                edge.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", every=0.1,
                give_up=30)) for _ in range(30)]
            results = await asyncio.gather(*slow)
    assert all(result.received == b"" for result in results)  # every one was cut
    cut = [r for r in caplog.records if r.name == "runtime.http.deadlines"]
    assert 1 <= len(cut) <= 10, [r.getMessage() for r in cut]


def test_voip_runtime_serve_cuts_slow_clients_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The command itself (uvloop, its own listening socket): the same deadlines."""
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"operator_token: {OPERATOR_TOKEN}\nlog_format: text\n"
                      f"sandbox:\n  workers: 1\n"
                      f"http:\n  header_timeout_seconds: {HEADER_DEADLINE}\n"
                      f"  body_timeout_seconds: {BODY_DEADLINE}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIP_RUNTIME_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime", "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        read_until(process.stderr, "Get started:")

        async def check() -> list[Slow]:
            give_up = BODY_DEADLINE + 30
            slow = [asyncio.ensure_future(dribble(port, first, every=0.4, give_up=give_up))
                    for first in [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "] * 10
                    + [raw_http.head("POST", "/console/sign-in", [
                        ("Content-Type", "application/x-www-form-urlencoded"),
                        ("Content-Length", "4000")])] * 5]
            async with ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
                while not all(task.done() for task in slow):
                    async with session.get("/healthz") as response:
                        assert response.status == 200
                    await asyncio.sleep(0.2)
            return [task.result() for task in slow]

        results = asyncio.run(check())
        for index, result in enumerate(results):
            deadline = HEADER_DEADLINE if index < 10 else BODY_DEADLINE
            assert deadline - 0.2 <= result.closed - result.opened < BODY_DEADLINE + 30
            if index >= 10:
                assert raw_http.parse_response(result.received).status == 408
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


async def test_408_and_415_conform(tmp_path: Path) -> None:
    """The API documents both for every operation with a body; each answer matches."""
    from tests.e2e.test_openapi import assert_conforms

    async with edge_service(tmp_path, header_timeout_seconds=HEADER_DEADLINE,
                            body_timeout_seconds=BODY_DEADLINE) as edge:
        doc = await edge.seed.api.ok("GET", "/api/v1/openapi.json")
        path = f"/api/v1/modules/{edge.seed.module['id']}"
        headers = {"Authorization": f"Bearer {edge.seed.api.secret}",
                   "Content-Type": "application/json"}
        async with edge.session.patch(path, data=b"{}", headers={
                **headers, "Content-Encoding": "br"}) as response:
            body = await assert_conforms(doc, response)
            assert response.status == 415 and body and body["error"] == "unsupported_encoding"

        async def late_body() -> AsyncIterator[bytes]:
            yield b'{"description": '
            await asyncio.sleep(BODY_DEADLINE + 5)
            yield b'"late"}'

        async with edge.session.patch(path, data=late_body(), headers=headers) as response:
            body = await assert_conforms(doc, response)
            assert response.status == 408 and body and body["error"] == "request_timeout"


async def test_a_websocket_outlives_both_deadlines(tmp_path: Path) -> None:
    """A live socket is a request that lasts: neither clock may cut it."""
    async with edge_service(tmp_path, header_timeout_seconds=0.5,
                            body_timeout_seconds=0.5) as edge:
        socket = await edge.session.ws_connect(f"/api/v1/live?token={edge.seed.user_token}")
        try:
            hello = await asyncio.wait_for(socket.receive_json(), 10)
            assert hello["type"] == "hello"
            await asyncio.sleep(3)  # several times both deadlines, and their grace
            await socket.ping()
            with pytest.raises(TimeoutError):  # messages, perhaps, but no close and no error
                while True:
                    message = await asyncio.wait_for(socket.receive(), 1)
                    assert message.type == WSMsgType.TEXT, f"the socket ended: {message}"
            assert not socket.closed
        finally:
            await socket.close()


@pytest.mark.parametrize("target", ["hook", "/healthz", "/api/v1/tenants"])
@pytest.mark.parametrize("later", [False, True])
async def test_broken_chunked_framing_is_answered_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, target: str, later: bool) -> None:
    """Broken framing is the HTTP parser's to find. In the request's first segment it is
    answered before the app sees the request (400 bad_request); in a later one the body's
    reader is told (400 bad_body, runtime/edge_protocol.py); a body nobody reads is dropped. Never
    a 500 or a traceback."""
    async with edge_service(tmp_path, header_timeout_seconds=HEADER_DEADLINE,
                            body_timeout_seconds=BODY_DEADLINE) as edge:
        await broken_framing(edge, caplog, target, later)


async def broken_framing(edge: Edge, caplog: pytest.LogCaptureFixture, target: str,
                         later: bool) -> None:
    path = edge.hook_path if target == "hook" else target
    method = "GET" if target == "/healthz" else "POST"
    head = raw_http.head(method, path, [
        ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked")])
    reader, writer = await raw_http.connect(edge.port)
    try:
        writer.write(head + b'5\r\n{"a":\r\n')
        if later:
            await writer.drain()
            await asyncio.sleep(0.3)
        writer.write(b"zz-not-a-size\r\n\r\n")
        await writer.drain()
        received = await asyncio.wait_for(read_until_closed(reader), 30)
    finally:
        writer.close()
    response = raw_http.parse_response(received)
    if not later:
        assert response.status == 400, response.text
        assert response.json()["error"] == "bad_request"
        assert "chunk size" in response.json()["message"]
    elif target == "/healthz":
        assert response.status == 200  # answered before its body was read; the body is dropped
    else:
        assert response.status == 400, response.text
        assert response.json()["error"] == "bad_body"
        assert "chunk size" in response.json()["message"]
    no_errors_logged(caplog)


@pytest.mark.parametrize("host", ["[::1", "evil.example\\@127.0.0.1", "a b", "x:99999",
                                  "\xff\xfe", "", "h/../x", "h?#"])
async def test_a_webhook_with_a_strange_host_header_runs_or_is_refused_as_4xx(
        edge: Edge, caplog: pytest.LogCaptureFixture, host: str) -> None:
    head = raw_http.head("POST", edge.hook_path, [("Content-Type", "application/json"),
                                                   ("Content-Length", "2")],
                         host=host)
    response = await raw_http.send(edge.port, head, b"{}")
    assert response.status in (200, 400), (response.status, response.text)
    if response.status == 200:
        assert response.json()["url"].endswith(edge.hook_path)
    no_errors_logged(caplog)


GARBAGE = ["%ff%00", "-1", "99999999999999999999", "x" * 3000, "%zz", "1e999", "%00",
           "..%2F..", "2026-13-45T99:99"]
CONSOLE_PAGES = [
    "/console/modules/{module}/editor?version={g}&execution={g}",
    "/console/executions?outcome={g}&function={g}&since={g}&until={g}&version_id={g}"
    "&module_id={g}&limit={g}&offset={g}",
    "/console/calls?state={g}", "/console/modules/{module}/versions/diff?a={g}&b={g}",
    "/console/modules/{module}?saved={g}", "/console/contacts/{g}?created={g}",
    "/console/modules/{g}", "/console/executions/{g}", "/console/static/{g}?v={g}",
    "/console/modules/{module}/versions?done={g}", "/console/calls/{g}/recording",
    "/console/modules/{module}/diff?a={g}&b={g}&full={g}", "/console/completion.json?v={g}",
]


def filled(template: str, garbage: str, module_id: str = "") -> str:
    value = garbage if "%" in garbage else quote(garbage, safe="")
    return template.replace("{module}", module_id).replace("{g}", value)


async def test_garbage_in_every_query_parameter_and_id_is_never_a_500(edge: Edge) -> None:
    """Every documented GET operation, and the console's pages, with nonsense in each query
    parameter and path id, as a tenant and as a user."""
    doc = await edge.seed.api.ok("GET", "/api/v1/openapi.json")
    failures: list[tuple[str, int, str]] = []
    asked: list[str] = []
    secrets = [edge.seed.api.secret, edge.seed.user_token]
    for path, operations in doc["paths"].items():
        if "get" not in operations:
            continue
        names = [p["name"] for p in operations["get"].get("parameters", [])
                 if p.get("in") == "query"]
        for garbage in GARBAGE:
            template = re.sub(r"\{[^}]+\}", "{g}", path)
            query = "&".join(f"{name}={{g}}" for name in names)
            url = filled(template + (f"?{query}" if query else ""), garbage)
            for secret in secrets:
                async with edge.session.get(url, allow_redirects=False, headers={
                        "Authorization": f"Bearer {secret}"}) as response:
                    if response.status >= 500:
                        failures.append((url[:100], response.status, await response.text()))
                    asked.append(url)
    from tests.console.conftest import Browser

    for secret in secrets:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            browser = Browser(session, f"http://127.0.0.1:{edge.port}")
            await browser.sign_in(str(secret))
            for template in CONSOLE_PAGES:
                for garbage in GARBAGE:
                    url = filled(template, garbage, edge.seed.module["id"])
                    response = await browser.get(url, allow_redirects=False)
                    if response.status >= 500:
                        failures.append((url[:100], response.status, await response.text()))
                    asked.append(url)
    assert len(asked) >= 400, len(asked)
    assert not failures, failures


async def test_the_console_test_panel_runs_a_composed_request_as_valid_text(edge: Edge) -> None:
    from tests.console.conftest import Browser

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        browser = Browser(session, f"http://127.0.0.1:{edge.port}")
        await browser.sign_in(str(edge.seed.api.secret))
        await browser.page(f"/console/modules/{edge.seed.module['id']}/editor")
        response = await browser.post_json(
            f"/console/modules/{edge.seed.module['id']}/dry-run",
            {"request": {"method": "POST", "url": "http://127.0.0.1/hooks/x?q=\udcc3\udca9\udcff",
                         "headers": {"X-T": "a\udcffb"}, "body": "\ud800{}"}})
        report = await response.json()
        assert response.status == 200, report
        seen = json.loads(report["reply"]["body"])
        assert seen["headers"]["x-t"] == "a\ufffdb"
        assert seen["query"]["q"] == "é\ufffd"
        assert seen["body"] == "\ufffd{}"


async def test_expect_100_continue_then_the_body_in_pieces(edge: Edge) -> None:
    """As curl sends a body over 1 KiB: the headers, a wait for `100 Continue`, the body."""
    body = json_body(3000)
    reader, writer = await raw_http.connect(edge.port)
    try:
        writer.write(raw_http.head("POST", edge.hook_path, [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("Expect", "100-continue"), ("X-Signature", signature(body))]))
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        for piece in raw_http.pieces(body, 5):
            await asyncio.sleep(0.05)
            writer.write(piece)
            await writer.drain()
        response = raw_http.parse_response(await asyncio.wait_for(read_until_closed(reader), 30))
    finally:
        writer.close()
    assert response.status == 200, response.text
    assert response.json()["signed"] is True


@pytest.mark.parametrize("target", ["hook", "/api/v1/tenants", "/console/sign-in"])
async def test_a_client_that_leaves_mid_body_leaves_no_error_in_the_log(
        edge: Edge, caplog: pytest.LogCaptureFixture, target: str) -> None:
    path = edge.hook_path if target == "hook" else target
    for _ in range(3):
        _, writer = await raw_http.connect(edge.port)
        writer.write(raw_http.head("POST", path, [
            ("Authorization", f"Bearer {OPERATOR_TOKEN}"), ("Content-Type", "application/json"),
            ("Content-Length", "1000")]) + b'{"name": ')
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
    await asyncio.sleep(0.5)  # the handlers see the end of their bodies
    async with edge.session.get("/healthz") as response:
        assert response.status == 200
    no_errors_logged(caplog, warnings=0)
