"""The HTTP edge's small parts on their own: valid text, body decoding, the deadline settings,
and `voip-runtime run --request` with a request that carries lone surrogates."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from runtime.bodies import ZlibDecoder
from runtime.config import ConfigError, load_config
from runtime.connection_budget import ConnectionBudget, connections_for
from runtime.deadlines import BODY_GRACE_SECONDS, Deadlines, WatchedConnection
from runtime.errors import ApiError
from runtime.text import NUL_PROBLEM, UNICODE_PROBLEM, first_invalid_text, valid_strings, valid_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("given,expected", [
    ("plain", "plain"),
    ("", ""),
    ("Ёжик", "Ёжик"),
    ("a\udcffb", "a\ufffdb"),  # a raw 0xFF, as aiohttp's surrogateescape hands it over
    ("\udcc3\udca9", "é"),  # two escaped bytes that are UTF-8 together
    ("\udce2\udc82", "\ufffd"),  # a cut 3-byte sequence: one U+FFFD, as bytes.decode gives
    ("\ud800x\udfff", "\ufffdx\ufffd"),  # surrogates that stand for no byte
    ("\udc41", "\ufffd"),  # U+DC41 is not an escaped byte (those are U+DC80-U+DCFF)
    ("\ud83d\ude00", "\ufffd\ufffd"),  # a surrogate pair in a str is two lone surrogates
    ("😀\x00\n", "😀\x00\n"),
])
def test_valid_text(given: str, expected: str) -> None:
    assert valid_text(given) == expected
    valid_text(given).encode("utf-8")


def test_valid_text_returns_valid_text_itself() -> None:
    text = "already valid " * 10
    assert valid_text(text) is text


def test_every_escaped_byte_decodes_as_the_bytes_would() -> None:
    every = bytes(range(256))
    escaped = every.decode("utf-8", "surrogateescape")
    assert valid_text(escaped) == every.decode("utf-8", "replace")


def test_valid_strings_and_first_invalid_text() -> None:
    value = {"a\udcff": ["x", {"k": "\ud800"}], "n": 5}
    assert valid_strings(value) == {"a\ufffd": ["x", {"k": "\ufffd"}], "n": 5}
    assert first_invalid_text(value, "body") == ("body.[key]", UNICODE_PROBLEM)
    assert first_invalid_text({"a": ["x", {"k": "\ud800"}]}, "body") == ("body.a.1.k",
                                                                        UNICODE_PROBLEM)
    assert first_invalid_text({"a": ["x", "y\x00"]}, "body") == ("body.a.1", NUL_PROBLEM)
    assert first_invalid_text({"a": ["x"]}, "body") is None
    deep: object = "\udcff"
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    assert first_invalid_text(deep, "b") is not None
    copied: Any = valid_strings(deep)
    for _ in range(5000):
        copied = copied[0]
    assert copied == "\ufffd"


def test_first_invalid_text_costs_memory_by_depth_not_by_items() -> None:
    # 300 levels, then 100,000 items: a path of some 600 characters was made for every item.
    wide: Any = [0] * 100_000 + ["\udcff"]
    for _ in range(300):
        wide = [wide]
    tracemalloc.start()
    try:
        where = first_invalid_text(wide, "body")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert where == ("body" + ".0" * 300 + ".100000", UNICODE_PROBLEM)
    assert peak < 1024 * 1024  # it was over 60 MiB


def decode(coding: str, data: bytes, room: int = 1 << 20, pieces: int = 1) -> bytes:
    decoder = ZlibDecoder(coding)
    out = b""
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        out += decoder.feed(data[start:start + step], room - len(out))
    decoder.finish()
    return out


@pytest.mark.parametrize("pieces", [1, 3, 1000])
def test_gzip_and_deflate_decode_in_any_pieces(pieces: int) -> None:
    body = b"hello webhook " * 500
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode("gzip", gzip.compress(body), pieces=pieces) == body
    assert decode("gzip", gzip.compress(body[:7]) + gzip.compress(body[7:]),
                  pieces=pieces) == body
    assert decode("deflate", zlib.compress(body), pieces=pieces) == body
    assert decode("deflate", raw.compress(body) + raw.flush(), pieces=pieces) == body


def test_decoding_stops_one_byte_past_the_room() -> None:
    decoder = ZlibDecoder("gzip")
    out = decoder.feed(gzip.compress(b"0" * 10_000_000), 1000)
    assert len(out) == 1001


# Named ids: pytest's ids made of these bytes held the gzip header's time (a different name
# each second) and a "]", and such a test could not be run by the name it was collected by.
# mtime=0 keeps the bytes the same in every run too.
@pytest.mark.parametrize("coding,data", [
    ("gzip", b"not gzip"),
    ("gzip", gzip.compress(b"x" * 100, mtime=0)[:-4]),
    ("gzip", gzip.compress(b"x", mtime=0) + b"junk"),
    ("deflate", zlib.compress(b"x" * 100)[:-3]),
    ("deflate", zlib.compress(b"x") + b"\x1f\x8b"),  # only gzip may have another member
], ids=["gzip-not-gzip", "gzip-cut-short", "gzip-junk-after", "deflate-cut-short",
        "deflate-another-member"])
def test_a_body_that_is_not_what_its_coding_says_is_refused(coding: str, data: bytes) -> None:
    with pytest.raises(ApiError) as error:
        decode(coding, data)
    assert error.value.status == 400 and error.value.code == "bad_encoding"


def test_http_deadlines_are_validated(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("http:\n  header_timeout_seconds: 5\n  body_timeout_seconds: 12.5\n"
                      "  keepalive_timeout_seconds: 30\n  max_api_body_kib: 512\n")
    http = load_config(config).http
    assert (http.header_timeout_seconds, http.body_timeout_seconds) == (5, 12.5)
    assert (http.keepalive_timeout_seconds, http.max_api_body_kib) == (30, 512)
    for bad in ("header_timeout_seconds: 0", "body_timeout_seconds: -1",
                "max_api_body_kib: 1", "header_timeout: 3"):
        config.write_text(f"http:\n  {bad}\n")
        with pytest.raises(ConfigError) as error:
            load_config(config)
        assert "http." + bad.split(":")[0] in str(error.value)


def test_run_with_a_request_carrying_lone_surrogates(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "def VoipParseWebhookRequest(request):\n"
        "    return {'response': HttpResponse().content({'h': request.headers.get('X-T'),\n"
        "            'q': request.query.get('q'), 'url': request.url, 'body': request.body})}\n")
    request = tmp_path / "request.json"
    # json.dumps writes lone surrogates as \udcXX escapes, which json.loads gives back
    request.write_text(json.dumps({"method": "POST", "url": "http://h/x/\udcff?q=a\udcc3\udca9",
                                   "headers": {"X-T": "a\udcffb\ud800"},
                                   "body": "\udcc3\udca9t\udcff"}))
    completed = subprocess.run(
        [sys.executable, "-m", "runtime", "run", str(script), "--request", str(request)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(json.loads(completed.stdout)["result"]["response"]["body"])
    assert seen == {"h": "a\ufffdb\ufffd", "q": "aé", "url": "http://h/x/\ufffd?q=aé",
                    "body": "ét\ufffd"}


class _Timer:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Clock:
    """The loop as WatchedConnection uses it (time, call_at), on a clock the test moves: each
    timer fires at the instant it was set for, however late a loaded machine would have run it
    (with the real loop's clock, a test stalled 50 ms past a sleep saw the next deadline pass
    too, and a connection closed that should still have been open)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[_Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(when, callback)
        self._timers.append(timer)
        return timer

    def advance_to(self, moment: float) -> None:
        """Run the timers due by `moment` in the order they are due (re-armed ones too)."""
        while due := [t for t in self._timers if not t.cancelled and t.when <= moment]:
            timer = min(due, key=lambda t: t.when)
            self._timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback()
        self.now = moment


class _Transport:
    """What WatchedConnection asks of a transport, and whether it was closed."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.closed_at: float | None = None

    def is_closing(self) -> bool:
        return self.closed_at is not None

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1)

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed_at = self.clock.time()

    def abort(self) -> None:
        self.close()


class _Content:
    def __init__(self, eof: bool) -> None:
        self.eof = eof

    def is_eof(self) -> bool:
        return self.eof


class _Request:
    def __init__(self, eof: bool) -> None:
        self.content = _Content(eof)


def watched(header_seconds: float, body_seconds: float
            ) -> tuple[WatchedConnection, _Transport, _Clock]:
    connection = WatchedConnection(asyncio.Protocol(), Deadlines(header_seconds, body_seconds))
    clock = _Clock()
    connection._loop = cast(asyncio.AbstractEventLoop, clock)
    transport = _Transport(clock)
    connection.connection_made(cast(asyncio.Transport, transport))
    return connection, transport, clock


async def test_a_restarted_header_clock_cuts_at_its_own_deadline_not_the_first() -> None:
    # One timer serves the clocks: the first request's header deadline passes while the next
    # request's headers are still within theirs, and only those decide.
    connection, transport, clock = watched(header_seconds=0.3, body_seconds=5)
    connection.data_received(b"GET / HTTP/1.1\r\n")
    connection.request_began(cast(web.BaseRequest, _Request(eof=True)))
    connection.request_ended()
    clock.advance_to(0.15)
    connection.data_received(b"GET /next HTTP/1.1\r\n")  # and no more: too slow
    clock.advance_to(0.4)  # past the first deadline, within the second
    assert transport.closed_at is None
    clock.advance_to(0.8)
    assert transport.closed_at == pytest.approx(0.15 + 0.3)
    connection.connection_lost(None)


async def test_a_body_clock_sooner_than_the_header_clock_is_kept() -> None:
    # The timer waits for the header deadline; a body deadline before it re-makes the timer.
    connection, transport, clock = watched(header_seconds=5, body_seconds=0.1)
    connection.data_received(b"POST / HTTP/1.1\r\n")
    connection.request_began(cast(web.BaseRequest, _Request(eof=False)))
    connection.request_ended()  # answered before the body came: its clock keeps running
    clock.advance_to(0.1 + BODY_GRACE_SECONDS + 0.5)
    assert transport.closed_at == pytest.approx(0.1 + BODY_GRACE_SECONDS)
    connection.connection_lost(None)


async def test_stopped_clocks_cut_nothing() -> None:
    connection, transport, clock = watched(header_seconds=0.1, body_seconds=0.05)
    connection.data_received(b"GET / HTTP/1.1\r\n")
    connection.request_began(cast(web.BaseRequest, _Request(eof=True)))
    connection.request_ended()
    clock.advance_to(0.1 + BODY_GRACE_SECONDS + 0.3)
    assert transport.closed_at is None
    connection.connection_lost(None)


@pytest.mark.parametrize("host,target", [
    ("example.com", "/hooks/abc"),
    ("Example.COM:80", "/hooks/abc?x=1&y=%20z"),
    ("example.com:8443", "/hooks/abc/../other/./x?q"),
    ("xn--e1afmkfd.xn--p1ai", "/hooks/%D1%82%D0%B5%D1%81%D1%82"),
    ("пример.рф", "/hooks/abc#frag"),
    ("[::1]:8080", "/hooks/a%2Fb"),
    ("127.0.0.1", "//hooks//abc"),
])
def test_url_text_is_the_requests_url(host: str, target: str) -> None:
    """The edge keeps a URL's text by scheme, Host, method and target: the text it gives (the
    first time, and from the table after) is `str(request.url)` of the very request."""
    from aiohttp.test_utils import make_mocked_request

    from runtime.edge import url_text

    for _ in range(2):
        request = make_mocked_request("POST", target, headers={"Host": host})
        assert url_text(request) == str(request.url)


def test_url_text_refuses_a_host_that_makes_no_url_every_time() -> None:
    from aiohttp.test_utils import make_mocked_request

    from runtime.edge import url_text

    for _ in range(2):
        request = make_mocked_request("POST", "/hooks/abc", headers={"Host": "x:99999"})
        with pytest.raises(ValueError):
            url_text(request)


def test_url_texts_are_bounded() -> None:
    from aiohttp.test_utils import make_mocked_request

    from runtime import edge

    for n in range(edge.MAX_URL_TEXTS + 10):
        request = make_mocked_request("GET", f"/hooks/abc?n={n}", headers={"Host": "a.example"})
        assert edge.url_text(request) == f"http://a.example/hooks/abc?n={n}"
    assert len(edge._url_texts) <= edge.MAX_URL_TEXTS


class _Connection:
    """A connection as the budget sees it: in a request or not; shed or not."""

    def __init__(self, in_request: bool = False) -> None:
        self.busy = in_request
        self.was_shed = False

    def in_request(self) -> bool:
        return self.busy

    def shed(self) -> None:
        self.was_shed = True


def test_the_connection_budget_makes_room_from_the_oldest_connection_without_a_request() -> None:
    budget = ConnectionBudget(3)
    serving, idle, sending_headers = _Connection(True), _Connection(), _Connection()
    assert all(budget.admit(c) for c in (serving, idle, sending_headers))
    newest = _Connection()
    assert budget.admit(newest)
    assert (serving.was_shed, idle.was_shed, sending_headers.was_shed) == (False, True, False)
    assert len(budget) == 3
    budget.release(idle)  # its connection_lost, after the shed: counted once
    assert len(budget) == 3


def test_the_connection_budget_refuses_a_connection_when_every_one_is_serving_a_request(
) -> None:
    budget = ConnectionBudget(2)
    serving = [_Connection(True), _Connection(True)]
    assert all(budget.admit(c) for c in serving)
    assert not budget.admit(_Connection())
    assert not any(c.was_shed for c in serving)
    budget.release(serving[0])
    assert budget.admit(_Connection())


def test_the_connection_budget_leaves_descriptors_for_the_service_and_its_workers() -> None:
    assert connections_for(1024, 66) == 1024 - 64 - 4 * 67
    assert connections_for(100, 66) == 16  # never none at all
