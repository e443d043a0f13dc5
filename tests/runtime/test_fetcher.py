"""fetch() on the host side (runtime.fetcher): real aiohttp servers on 127.0.0.1.

The policy allows 127.0.0.0/8 explicitly where a test must reach its server, as the operator's
configuration would; the SSRF tests leave it out (or point elsewhere) so that the address check,
not the allowlist, is what refuses.
"""

from __future__ import annotations

import asyncio
import codecs
import encodings
import functools
import gzip
import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import time
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from runtime.charsets import text_codec
from runtime.fetch_body import MAX_GZIP_MEMBERS
from runtime.fetcher import (
    DECODE_PIECE,
    FetchPolicy,
    FetchSession,
    address_refusal,
    classify_address,
    normalize_host,
    own_host_ports,
)
from runtime.fetcher import _decode as fetcher_decode
from runtime.intake import HOP_HEADER

LOOPBACK = ("127.0.0.0/8",)
MiB = 1024 * 1024


# --- servers --------------------------------------------------------------------------------

class Seen:
    """What the test server received, so a test can assert what was (not) sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def methods(self, path: str) -> list[str]:
        return [r["method"] for r in self.requests if r["path"] == path]


@functools.cache
def gzip_bomb() -> bytes:
    # 50 MiB of zeros compresses to ~50 KiB: the shape of a decompression bomb.
    return gzip.compress(b"\0" * (50 * MiB), compresslevel=9)


CODED_TEXT = "Звонок принят: " + "запись разговора " * 200


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def make_app(seen: Seen) -> web.Application:
    async def record(request: web.Request) -> dict[str, Any]:
        entry = {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": await request.text(),
        }
        seen.requests.append(entry)
        return entry

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response(await record(request))

    async def text(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.Response(text="hello")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        return response

    async def charset(request: web.Request) -> web.StreamResponse:
        name = request.query["name"]
        raw = "привет".encode(name) if name in ("windows-1251", "koi8-r") else b"plain"
        return web.Response(body=raw, headers={"Content-Type": f"text/plain; charset={name}"})

    async def bad_utf8(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"ok\xff", headers={"Content-Type": "text/plain"})

    async def redirect(request: web.Request) -> web.StreamResponse:
        await record(request)
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def loop(request: web.Request) -> web.StreamResponse:
        await record(request)
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"/loop/{n + 1}")

    async def big(request: web.Request) -> web.StreamResponse:
        size = int(request.query["size"])
        if request.query.get("chunked"):
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(size // 65536):
                await response.write(b"x" * 65536)
            await response.write_eof()
            return response
        return web.Response(body=b"x" * size)

    async def bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=gzip_bomb(),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"},
        )

    async def coded(request: web.Request) -> web.StreamResponse:
        # The body of a server that compresses as asked: `coding` names the wire form.
        plain = CODED_TEXT.encode("utf-8")
        coding = request.query["coding"]
        body, header = {
            "gzip": (gzip.compress(plain), "gzip"),
            "gzip-members": (gzip.compress(plain[:7]) + gzip.compress(plain[7:]), "gzip"),
            "zlib": (zlib.compress(plain), "deflate"),
            "raw-deflate": (_raw_deflate(plain), "deflate"),
            "br": (b"\x1b\x05\x00", "br"),
            "truncated": (gzip.compress(plain)[:-12], "gzip"),
            "garbage": (b"not gzip at all", "gzip"),
            "many-members": (b"".join(gzip.compress(plain[at:at + 8])
                                      for at in range(0, len(plain), 8)), "gzip"),
            # A megabyte of empty members (20 bytes each).
            "member-flood": (gzip.compress(b"", mtime=0) * (MiB // 20), "gzip"),
        }[coding]
        return web.Response(body=body, headers={
            "Content-Encoding": header, "Content-Type": "text/plain; charset=utf-8"})

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(100):
                await response.write(b"x")
                await asyncio.sleep(0.2)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/text", text)
    app.router.add_get("/charset", charset)
    app.router.add_get("/bad-utf8", bad_utf8)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/big", big)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/coded", coded)
    app.router.add_get("/drip", drip)
    return app


@asynccontextmanager
async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


class Server:
    def __init__(self, port: int, seen: Seen) -> None:
        self.port = port
        self.seen = seen
        self.base = f"http://127.0.0.1:{port}"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    seen = Seen()
    async with serve(make_app(seen)) as port:
        yield Server(port, seen)


def policy(**overrides: Any) -> FetchPolicy:
    settings: dict[str, Any] = {
        "allowlist": ("127.0.0.1",),
        "allow_networks": LOOPBACK,
        "timeout_seconds": 5.0,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)


async def fetch(session: FetchSession, url: str, **fields: Any) -> dict[str, Any]:
    return await session.handle({"op": "fetch", "url": url, **fields})


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: Callable[[str, int], list[str] | None]
) -> list[str]:
    """Replace the running loop's getaddrinfo for names `answers` knows; returns the queries."""
    loop = asyncio.get_running_loop()
    real: Callable[..., Awaitable[Any]] = loop.getaddrinfo
    queries: list[str] = []

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            return await real(host, port, *args, **kwargs)  # numeric parsing: the real one
        addresses = answers(host, len(queries))
        if addresses is None:
            return await real(host, port, *args, **kwargs)
        queries.append(host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return queries


# --- the address classifier -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("address", "label"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),  # IPv4-mapped public
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback (embedded in IPv6)"),
        ("::ffff:10.1.2.3", "private (embedded in IPv6)"),
        ("::ffff:169.254.169.254", "link-local (embedded in IPv6)"),
        ("::ffff:0:127.0.0.1", "loopback (embedded in IPv6)"),  # SIIT
        ("2002:7f00:1::1", "loopback (embedded in IPv6)"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "link-local (embedded in IPv6)"),  # 6to4 of 169.254.169.254
        ("64:ff9b::a00:1", "private (embedded in IPv6)"),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::1", "private"),  # local-use NAT64
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
    ],
)
def test_classify_address(address: str, label: str | None) -> None:
    assert classify_address(ipaddress.ip_address(address)) == label


def test_allow_networks_cover_the_ipv4_mapped_form() -> None:
    allowed = (ipaddress.ip_network("127.0.0.0/8"),)
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), allowed) == "private"
    assert address_refusal(ipaddress.ip_address("::1"), allowed) == "loopback"


# --- the allowlist --------------------------------------------------------------------------

def test_allowlist_matching() -> None:
    p = FetchPolicy(allowlist=("API.Example.com", "*.corp.example", "bücher.de", "[::1]"))
    allowed = p.host_allowed
    assert allowed("api.example.com")
    assert not allowed("example.com")
    assert not allowed("evilapi.example.com")
    assert allowed("a.corp.example") and allowed("a.b.corp.example")
    assert not allowed("corp.example")  # the wildcard is for subdomains only
    assert not allowed("evilcorp.example")
    assert allowed("xn--bcher-kva.de")  # IDNA: the name as it is resolved
    assert allowed("::1")


def test_allowlist_entries_are_normalised_like_urls() -> None:
    assert normalize_host("ＥＸＡＭＰＬＥ.com.") == "example.com"
    assert normalize_host("１２７.０.０.１") == "127.0.0.1"  # full-width digits mean these
    assert normalize_host("*.Bücher.de") == "*.xn--bcher-kva.de"
    for bad in ("", "ex ample.com", "a/b", "*.127.0.0.1", "%31.com"):
        with pytest.raises(ValueError):
            normalize_host(bad)


@pytest.mark.parametrize(
    ("host", "seen_as"),
    [
        ("１２７.０.０.１", "127.0.0.1"),
        # Arabic-Indic digits are not ASCII after NFKC: to the URL parser and to getaddrinfo
        # alike they are a (punycode) name, never an address, so they match no address entry.
        ("١٢٧.٠.٠.١", "xn--9hbcp.xn--8hb.xn--8hb.xn--9hb"),
    ],
)
async def test_unicode_digits_cannot_slip_past_the_allowlist(
    server: Server, host: str, seen_as: str
) -> None:
    session = FetchSession(policy(allowlist=("example.com", "127.0.0.2")))
    reply = await fetch(session, f"http://{host}:{server.port}/text")
    assert reply == {
        "ok": False, "error": f"host not allowed: {seen_as} is not on the module's fetch allowlist"
    }
    assert server.seen.requests == []


async def test_host_off_the_allowlist_is_refused_before_dns(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = fake_dns(monkeypatch, lambda host, n: ["127.0.0.1"])
    session = FetchSession(policy(allowlist=("api.example.com",)))
    for url in (f"{server.base}/text", "http://other.example.com/", "http://api.example.com.evil/"):
        reply = await fetch(session, url)
        assert reply["ok"] is False
        assert reply["error"].startswith("host not allowed"), reply
    assert queries == []
    assert server.seen.requests == []


# --- success --------------------------------------------------------------------------------

async def test_get_text(server: Server) -> None:
    session = FetchSession(policy())
    reply = await fetch(session, f"{server.base}/text", method="GET")
    assert reply["ok"] is True
    assert reply["status"] == 200
    assert reply["body"] == "hello"
    assert reply["url"] == f"{server.base}/text"
    assert ["Set-Cookie", "a=1"] in reply["headers"] and ["Set-Cookie", "b=2"] in reply["headers"]
    assert session.log[0].status == 200 and session.log[0].error is None


async def test_post_json_and_text(server: Server) -> None:
    session = FetchSession(policy())
    reply = await fetch(session, f"{server.base}/echo", method="POST", json={"a": [1, "я"]})
    seen = server.seen.requests[-1]
    assert reply["ok"] and seen["method"] == "POST"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["body"] == '{"a":[1,"я"]}'

    await fetch(session, f"{server.base}/echo", method="post", body="hi there")
    seen = server.seen.requests[-1]
    assert seen["method"] == "POST" and seen["body"] == "hi there"
    assert seen["headers"]["Content-Type"] == "text/plain; charset=utf-8"

    await fetch(session, f"{server.base}/echo", method="PUT", body="<a/>",
                headers={"content-type": "application/xml", "X-Api-Key": "k"})
    seen = server.seen.requests[-1]
    assert seen["headers"]["Content-Type"] == "application/xml"  # the script's own wins
    assert seen["headers"]["X-Api-Key"] == "k"


@pytest.mark.parametrize("charset", ["windows-1251", "koi8-r", "utf-16"])
async def test_a_text_body_goes_in_the_charset_its_content_type_names(
        server: Server, charset: str) -> None:
    """It went as UTF-8 whatever the script's Content-Type said: a server reading the form
    by its `charset=windows-1251` got "Р·РІРѕРЅРѕРє" for "звонок"."""
    session = FetchSession(policy())
    for body, given in (("name=звонок", {"body": "name=звонок"}),
                        ('{"name":"звонок"}', {"json": {"name": "звонок"}})):
        content_type = f"application/x-www-form-urlencoded; charset={charset}"
        reply = await fetch(session, f"{server.base}/echo", method="POST",
                            headers={"Content-Type": content_type}, **given)
        assert reply["ok"], reply
        seen = server.seen.requests[-1]
        assert seen["headers"]["Content-Type"] == content_type
        assert seen["body"] == body  # aiohttp decoded it by the charset it names


@pytest.mark.parametrize(("charset", "error"), [
    ("latin-1", "bad request: the body holds 'з' (U+0437, character 6), which charset "
                "latin-1 (its Content-Type's) cannot carry"),
    ("x-no-such-charset", "bad request: the Content-Type names charset 'x-no-such-charset', "
                          "which is no text encoding the service knows"),
])
async def test_a_body_its_charset_cannot_carry_is_not_sent(
        server: Server, charset: str, error: str) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/echo", method="POST",
                        body="name=звонок",
                        headers={"Content-Type": f"text/plain; charset={charset}"})
    assert reply["ok"] is False
    assert reply["error"].startswith(error), reply
    assert server.seen.requests == []
    assert "x-no-such-charset" not in str(getattr(encodings, "_cache", {}))


async def test_hop_header_is_on_every_request(server: Server) -> None:
    session = FetchSession(policy())
    to = "/echo"
    await fetch(session, f"{server.base}/redirect?to={to}", method="GET")
    assert [r["path"] for r in server.seen.requests] == ["/redirect", "/echo"]
    for seen in server.seen.requests:
        assert seen["headers"][HOP_HEADER] == "1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("windows-1251", "привет"), ("koi8-r", "привет"), ("punycode", "plain")],
)
async def test_body_decoded_by_declared_charset(server: Server, name: str, expected: str) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/charset?name={name}")
    assert reply["body"] == expected


async def test_a_charset_name_python_does_not_know_is_never_remembered(server: Server) -> None:
    # The codec registry remembers every unknown name it is asked for, for the life of the
    # process: a fetched server naming a new charset in each response grew the service's memory.
    token = uuid.uuid4().hex
    reply = await fetch(FetchSession(policy()), f"{server.base}/charset?name=x-{token}")
    assert reply["body"] == "plain"  # read as UTF-8, as for a response that names no charset
    remembered = getattr(encodings, "_cache", {})
    assert not [key for key in remembered if token in key]


class RecordingDecoder:
    """A codec's own incremental decoder, recording the size of each piece it is given."""

    def __init__(self, inner: codecs.IncrementalDecoder, sizes: list[int]) -> None:
        self.inner = inner
        self.sizes = sizes

    def decode(self, data: bytes, final: bool = False) -> str:
        self.sizes.append(len(data))
        return self.inner.decode(data, final)


@pytest.mark.parametrize("charset", ["utf-7", "utf-8", "utf-16", "iso2022_jp_2", "gb18030"])
def test_a_large_body_is_decoded_a_piece_at_a_time_as_one_decoding_would(
        monkeypatch: pytest.MonkeyPatch, charset: str) -> None:
    # One bytes.decode holds the interpreter, and with it the event loop, until it returns:
    # a server a script fetched, naming charset=utf-7 for 5 MiB of bytes it must replace,
    # held the service for about two seconds a fetch (ten fetches a call). Decoded in pieces,
    # the loop has its turns between them; the text is what one decoding gives, whatever
    # the pieces cut (a multi-byte character, a shift sequence, a byte order mark).
    sample = "звонок 電話 +79161234567 \x01~{}".encode(charset, errors="replace")
    body = (codecs.BOM_UTF16 if charset == "utf-16" else b"") + sample * 5000 + b"\xff\xfe\x80"
    sizes: list[int] = []
    real = codecs.getincrementaldecoder

    def recording(name: str) -> Callable[..., RecordingDecoder]:
        return lambda *args, **kwargs: RecordingDecoder(real(name)(*args, **kwargs), sizes)

    monkeypatch.setattr(codecs, "getincrementaldecoder", recording)
    text = fetcher_decode(body, charset)
    assert text == body.decode(text_codec(charset) or "utf-8", errors="replace")
    assert sum(sizes) == len(body)
    assert max(sizes) <= DECODE_PIECE < len(body)


async def test_undecodable_bytes_are_replaced(server: Server) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/bad-utf8")
    assert reply["body"] == "ok\ufffd"


# --- SSRF: addresses ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("host", "allow_as"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("127.1", "127.1"),
        ("2130706433", "2130706433"),
        ("0x7f.1", "0x7f.1"),
        ("0177.0.0.1", "0177.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),  # connects to this host on Linux
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("１２７.０.０.１", "127.0.0.1"),  # full-width digits: NFKC makes them ASCII
        ("𝟏𝟐𝟕.𝟎.𝟎.𝟏", "127.0.0.1"),  # mathematical bold digits
        ("①②⑦.⓪.⓪.①", "127.0.0.1"),  # circled digits
        ("127。0。0。1", "127.0.0.1"),  # ideographic full stops
    ],
)
async def test_loopback_in_every_spelling_is_refused(
    server: Server, host: str, allow_as: str
) -> None:
    # On the allowlist, so the address check is what refuses; the server is really there.
    session = FetchSession(policy(allowlist=(allow_as,), allow_networks=()))
    reply = await fetch(session, f"http://{host}:{server.port}/text")
    assert reply["ok"] is False
    assert reply["error"].startswith("private address"), reply
    assert server.seen.requests == []


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "１２７.０.０.１"]
)
async def test_numeric_spellings_reach_what_they_mean_when_allowed(
    server: Server, host: str
) -> None:
    allow_as = normalize_host(host.strip("[]"))
    reply = await fetch(FetchSession(policy(allowlist=(allow_as,))),
                        f"http://{host}:{server.port}/text")
    assert reply["ok"] is True, reply
    assert reply["body"] == "hello"


@pytest.mark.parametrize(
    "host", ["10.0.0.1", "169.254.169.254", "100.64.0.1", "[fd00::1]", "[::ffff:169.254.169.254]"]
)
async def test_private_and_metadata_addresses_are_refused(host: str) -> None:
    session = FetchSession(policy(allowlist=(normalize_host(host.strip("[]")),)))
    reply = await fetch(session, f"http://{host}/latest/meta-data/")
    assert reply["ok"] is False
    assert reply["error"].startswith("private address"), reply


async def test_every_resolved_address_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, lambda host, n: ["93.184.216.34", "10.0.0.1"] if host == "mixed.test"
             else None)
    reply = await fetch(FetchSession(policy(allowlist=("mixed.test",))), "http://mixed.test/")
    assert reply == {"ok": False, "error": "private address: mixed.test is 10.0.0.1 (private)"}


async def test_connects_to_the_vetted_address_without_asking_dns_again(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the first answer is allowed, any later one is private. Only one query may
    # happen per fetch, and the connection must go to the first answer.
    queries = fake_dns(
        monkeypatch,
        lambda host, n: (["127.0.0.1"] if n == 0 else ["10.0.0.1"]) if host == "api.test" else None,
    )
    session = FetchSession(policy(allowlist=("api.test",)))
    reply = await fetch(session, f"http://api.test:{server.port}/echo")
    assert reply["ok"] is True, reply
    assert queries == ["api.test"]
    assert server.seen.requests[0]["headers"]["Host"] == f"api.test:{server.port}"
    again = await fetch(session, f"http://api.test:{server.port}/echo")
    assert again["error"] == "private address: api.test is 10.0.0.1 (private)"


async def test_tls_uses_the_name_while_connecting_to_the_vetted_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=api.test",
         "-addext", "subjectAltName=DNS:api.test"],
        check=True, capture_output=True,
    )
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    client_ssl = ssl.create_default_context(cafile=str(cert))
    fake_dns(monkeypatch, lambda host, n: ["127.0.0.1"] if host.endswith(".test") else None)
    session = FetchSession(policy(allowlist=("api.test", "other.test")), ssl_context=client_ssl)
    async with serve(make_app(Seen()), server_ssl) as port:
        reply = await fetch(session, f"https://api.test:{port}/text")
        assert reply["ok"] is True, reply
        mismatch = await fetch(session, f"https://other.test:{port}/text")
        assert mismatch["ok"] is False
        assert mismatch["error"].startswith("connection failed"), mismatch


async def test_own_address_is_refused(server: Server) -> None:
    by_name = FetchSession(policy(refused_hosts=(("127.0.0.1", server.port),)))
    reply = await fetch(by_name, f"{server.base}/text")
    assert reply["error"] == f"own address: 127.0.0.1:{server.port} is this service"
    by_address = FetchSession(
        policy(allowlist=("127.1",), refused_hosts=(("127.0.0.1", server.port),))
    )
    reply = await fetch(by_address, f"http://127.1:{server.port}/text")
    assert reply["error"] == f"own address: 127.0.0.1:{server.port} is this service"
    assert server.seen.requests == []


# --- redirects ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private address"),
        ("http://10.0.0.1/", "private address"),
        ("http://[::1]/", "private address"),
        ("http://not-allowed.example/", "host not allowed"),
        ("file:///etc/passwd", "scheme not allowed"),
    ],
)
async def test_redirect_hops_are_checked_like_the_first(
    server: Server, target: str, error: str
) -> None:
    session = FetchSession(policy(allowlist=("127.0.0.1", "169.254.169.254", "10.0.0.1", "::1")))
    reply = await fetch(session, f"{server.base}/redirect?to={target}")
    assert reply["ok"] is False
    assert reply["error"].startswith(error), reply


async def test_too_many_redirects(server: Server) -> None:
    session = FetchSession(policy(max_redirects=3))
    reply = await fetch(session, f"{server.base}/loop/0")
    assert reply == {"ok": False, "error": "too many redirects: more than 3"}
    assert len(server.seen.requests) == 4  # the first request and three redirects


async def test_five_redirects_are_followed(server: Server) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/loop/0?x=1")
    assert reply["error"] == "too many redirects: more than 5"
    chain = f"{server.base}/redirect?to=/redirect%3Fto%3D/echo"
    reply = await fetch(FetchSession(policy()), chain)
    assert reply["ok"] is True and reply["url"] == f"{server.base}/echo"


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(301, "GET", ""), (302, "GET", ""), (303, "GET", ""), (307, "POST", "x=1"),
     (308, "POST", "x=1")],
)
async def test_redirect_methods(server: Server, status: int, method: str, body: str) -> None:
    session = FetchSession(policy())
    reply = await fetch(session, f"{server.base}/redirect?status={status}&to=/echo",
                        method="POST", body="x=1")
    assert reply["ok"] is True, reply
    final = server.seen.requests[-1]
    assert (final["path"], final["method"], final["body"]) == ("/echo", method, body)
    if method == "GET":
        assert "Content-Type" not in final["headers"]


async def test_redirect_not_followed_when_asked(server: Server) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/redirect?to=/echo",
                        follow_redirects=False)
    assert reply["status"] == 302
    assert ["Location", "/echo"] in reply["headers"]
    assert [r["path"] for r in server.seen.requests] == ["/redirect"]


async def test_credentials_dropped_when_a_redirect_leaves_the_origin(server: Server) -> None:
    other_seen = Seen()
    async with serve(make_app(other_seen)) as other_port:
        session = FetchSession(policy())
        to = f"http://127.0.0.1:{other_port}/echo"
        reply = await fetch(session, f"{server.base}/redirect?to={to}",
                            headers={"Authorization": "Bearer s3cret", "X-Trace": "t"})
    assert reply["ok"] is True, reply
    assert server.seen.requests[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in other_seen.requests[0]["headers"]
    assert other_seen.requests[0]["headers"]["X-Trace"] == "t"


# --- limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("chunked", [False, True])
async def test_response_too_large(server: Server, chunked: bool) -> None:
    session = FetchSession(policy(max_response_bytes=MiB))
    suffix = "&chunked=1" if chunked else ""
    reply = await fetch(session, f"{server.base}/big?size={2 * MiB}{suffix}")
    assert reply == {"ok": False, "error": f"response too large: more than {MiB} bytes"}
    exact = await fetch(session, f"{server.base}/big?size={MiB}{suffix}")
    assert exact["ok"] is True and len(exact["body"]) == MiB


async def test_gzip_bomb_is_stopped_at_the_limit_without_inflating_it(server: Server) -> None:
    assert len(gzip_bomb()) < 100 * 1024
    session = FetchSession(policy(max_response_bytes=MiB))
    tracemalloc.start()
    started = time.monotonic()
    try:
        reply = await fetch(session, f"{server.base}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reply == {"ok": False, "error": f"response too large: more than {MiB} bytes"}
    assert time.monotonic() - started < 2.0
    assert peak < 16 * MiB  # far below the 50 MiB it inflates to


@pytest.mark.parametrize("coding", ["gzip", "gzip-members", "many-members", "zlib",
                                    "raw-deflate"])
async def test_compressed_bodies_reach_the_script_as_their_text(
    server: Server, coding: str
) -> None:
    session = FetchSession(policy())
    reply = await fetch(session, f"{server.base}/coded?coding={coding}")
    assert reply["ok"] is True and reply["body"] == CODED_TEXT


@pytest.mark.parametrize(("coding", "error"), [
    ("br", "unsupported content encoding: 'br' (gzip and deflate are read; ask for one of them "
           "with an Accept-Encoding header)"),
    ("truncated", "bad compressed body: it ends before its compressed data does"),
    ("garbage", "bad compressed body: Error -3 while decompressing data: incorrect header check"),
    # Each member a new inflater, and zlib copied the rest of the body past each member's
    # end: minutes of the service's CPU for a 5 MiB response.
    ("member-flood", f"bad compressed body: more than {MAX_GZIP_MEMBERS} gzip members"),
])
async def test_a_body_that_cannot_be_inflated_is_a_fetch_error_saying_why(
    server: Server, coding: str, error: str
) -> None:
    session = FetchSession(policy())
    reply = await fetch(session, f"{server.base}/coded?coding={coding}")
    assert reply == {"ok": False, "error": error}


async def test_requests_accept_what_can_be_inflated_unless_the_script_says(
    server: Server,
) -> None:
    session = FetchSession(policy())
    await fetch(session, f"{server.base}/echo")
    await fetch(session, f"{server.base}/echo", headers={"accept-encoding": "identity"})
    sent = [request["headers"].get("Accept-Encoding") for request in server.seen.requests]
    assert sent == ["gzip, deflate", "identity"]


async def test_slow_drip_is_stopped_by_the_whole_exchange_timeout(server: Server) -> None:
    session = FetchSession(policy(timeout_seconds=1.0))
    started = time.monotonic()
    reply = await fetch(session, f"{server.base}/drip")
    elapsed = time.monotonic() - started
    assert reply == {"ok": False, "error": "timeout: no complete response within 1 s"}
    assert 0.9 < elapsed < 1.6
    # A script's own timeout may be shorter, never longer, than the policy's.
    started = time.monotonic()
    short = await fetch(session, f"{server.base}/drip", timeout=0.3)
    assert short["error"] == "timeout: no complete response within 0.3 s"
    assert time.monotonic() - started < 0.8
    long = await fetch(session, f"{server.base}/drip", timeout=60)
    assert long["error"] == "timeout: no complete response within 1 s"


async def test_a_request_ends_within_what_its_call_has_left(server: Server) -> None:
    # The pool says what is left of the call's wall clock; the exchange keeps a moment of it
    # for the script to act on the FetchError, and one with no time left is not sent.
    session = FetchSession(policy(timeout_seconds=5.0))
    reply = await fetch(session, f"{server.base}/drip", timeout=5, wall_seconds_left=0.55)
    assert reply == {"ok": False, "error": "timeout: no complete response within 0.30 s, "
                                           "what the call's wall-clock limit left"}
    sent = len(server.seen.requests)
    reply = await fetch(session, f"{server.base}/text", wall_seconds_left=0.2)
    assert reply == {"ok": False, "error": "timeout: no complete response within 0.00 s, "
                                           "what the call's wall-clock limit left"}
    assert len(server.seen.requests) == sent
    # Time enough: the policy's own timeout, as before.
    short = await fetch(session, f"{server.base}/drip", timeout=0.3, wall_seconds_left=30)
    assert short["error"] == "timeout: no complete response within 0.3 s"


async def test_too_many_requests(server: Server) -> None:
    session = FetchSession(policy(max_requests=2))
    assert (await fetch(session, f"{server.base}/text"))["ok"] is True
    assert (await fetch(session, "ftp://nowhere/"))["ok"] is False  # a refused one counts too
    for _ in range(3):
        reply = await fetch(session, f"{server.base}/text")
        assert reply == {
            "ok": False, "error": "too many requests: at most 2 fetch() calls per call"
        }
    assert len(server.seen.requests) == 1
    assert len(session.log) == 3  # the over-limit refusal is logged once


# --- dry run --------------------------------------------------------------------------------

async def test_dry_run_sends_reads_and_refuses_the_rest(server: Server) -> None:
    session = FetchSession(policy(dry_run=True))
    assert (await fetch(session, f"{server.base}/echo", method="GET"))["ok"] is True
    head = await fetch(session, f"{server.base}/echo", method="HEAD")
    assert head["ok"] is True and head["body"] == ""
    url = f"{server.base}/echo"
    for method in ("POST", "DELETE"):
        reply = await fetch(session, url, method=method, json={"x": 1})
        assert reply == {"ok": False, "error": f"not sent in a dry run: {method} {url}"}
    assert server.seen.methods("/echo") == ["GET", "HEAD"]
    assert [(e.method, e.url) for e in session.not_sent] == [("POST", url), ("DELETE", url)]
    assert [e.not_sent for e in session.log] == [False, False, True, True]
    # What a real run would refuse is reported as such, not as "not sent".
    off_list = await fetch(session, "http://elsewhere.example/", method="POST")
    assert off_list["error"].startswith("host not allowed")


async def test_dry_run_does_not_let_a_redirect_keep_a_post(server: Server) -> None:
    session = FetchSession(policy(dry_run=True))
    reply = await fetch(session, f"{server.base}/redirect?status=307&to=/echo", method="GET")
    assert reply["ok"] is True and server.seen.methods("/echo") == ["GET"]


# --- arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", "scheme not allowed"),
        ("ftp://127.0.0.1/x", "scheme not allowed"),
        ("gopher://127.0.0.1:70/", "scheme not allowed"),
        ("javascript:alert(1)", "scheme not allowed"),
        ("http:///no-host", "bad URL"),
        ("http://user:pw@127.0.0.1/", "bad URL"),
        ("http://[::1/", "bad URL"),
        ("http://1.2.3.4.5/", "bad URL"),
        ("", "bad URL"),
    ],
)
async def test_bad_urls(url: str, error: str) -> None:
    reply = await fetch(FetchSession(policy(allowlist=("127.0.0.1", "1.2.3.4.5"))), url)
    assert reply["ok"] is False
    assert reply["error"].startswith(error), reply


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"Host": "internal"}, "header not allowed"),
        ({"content-length": "5"}, "header not allowed"),
        ({"Transfer-Encoding": "chunked"}, "header not allowed"),
        ({"Connection": "close"}, "header not allowed"),
        ({HOP_HEADER.lower(): "0"}, "header not allowed"),
        ({"X-A": "a\r\nHost: evil"}, "bad request"),
        # The HTTP client refuses to write any control character but tab: refused as the
        # script's bad request, not a failure logged with a traceback.
        ({"X-A": "a\x0bb"}, "bad request"),
        ({"X-A": "a\x1bb"}, "bad request"),
        ({"X-A": "a\x7fb"}, "bad request"),
        ({"Bad Name": "v"}, "bad request"),
        ({"X-A": 5}, "bad request"),
    ],
)
async def test_script_headers_the_host_owns_are_refused(
    server: Server, headers: dict[str, Any], error: str
) -> None:
    reply = await fetch(FetchSession(policy()), f"{server.base}/echo", headers=headers)
    assert reply["ok"] is False
    assert reply["error"].startswith(error), reply
    assert server.seen.requests == []


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"url": 5},
        {"url": "http://127.0.0.1/", "method": "CONNECT"},
        {"url": "http://127.0.0.1/", "method": None},
        {"url": "http://127.0.0.1/", "headers": ["a"]},
        {"url": "http://127.0.0.1/", "body": "a", "json": {"b": 1}},
        {"url": "http://127.0.0.1/", "body": 5},
        {"url": "http://127.0.0.1/", "timeout": -1},
        {"url": "http://127.0.0.1/", "timeout": True},
        {"url": "http://127.0.0.1/", "json": {"n": float("nan")}},
    ],
)
async def test_malformed_requests_become_errors(request_: dict[str, Any]) -> None:
    reply = await FetchSession(policy()).handle(request_)
    assert reply["ok"] is False and isinstance(reply["error"], str)


async def test_a_timeout_no_float_holds_is_the_policys_not_an_internal_error(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    # The sandbox sends a float; a breached worker may send any JSON number. float() of an
    # integer of 400 digits raised OverflowError: "fetch failed: internal error" and a
    # traceback in the service's log for each such request. Like any timeout above the
    # policy's, it is the policy's.
    session = FetchSession(policy(timeout_seconds=0.3))
    reply = await fetch(session, f"{server.base}/drip", timeout=10 ** 400)
    assert reply == {"ok": False, "error": "timeout: no complete response within 0.3 s"}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_connection_failures_are_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = FetchSession(policy(allowlist=("127.0.0.1", "nx.test")))
    reply = await fetch(session, f"http://127.0.0.1:{port}/")
    assert reply["error"].startswith("connection failed"), reply
    fake_dns(monkeypatch, lambda host, n: [] if host == "nx.test" else None)
    reply = await fetch(session, "http://nx.test/")
    assert reply["error"].startswith("connection failed: cannot resolve nx.test"), reply


def test_policy_from_the_operator_configuration() -> None:
    from runtime.config import FetchConfig

    config = FetchConfig(timeout_seconds=3, max_response_kib=64, allow_networks=("10.0.0.0/8",))
    p = FetchPolicy.from_config(config, allowlist=["api.example.com"], max_requests=4,
                                refused_hosts=[("voip.example.com", 443)], dry_run=True)
    assert (p.timeout_seconds, p.max_response_bytes, p.max_redirects, p.max_requests) == (
        3.0, 64 * 1024, 5, 4
    )
    assert p.host_allowed("api.example.com") and p.dry_run
    assert p.is_own_name("voip.example.com", 443)
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), p.networks) is None
    assert own_host_ports(["https://VoIP.example.com/", "http://127.0.0.1:8080"]) == (
        ("voip.example.com", 443), ("127.0.0.1", 8080)
    )
