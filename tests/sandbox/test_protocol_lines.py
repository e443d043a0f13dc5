"""The parent's reading of a worker's pipe: lines cut where they lie, messages strict UTF-8 JSON."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from sandbox.protocol import (
    MAX_MESSAGE_BYTES,
    OUTCOME_DEFAULTS,
    CallLines,
    EncodedCall,
    ProtocolError,
    UnsendableCall,
    compact_outcome,
    decode,
    encode,
    encode_capability_reply,
    encode_outcome,
    encode_outcome_to_send,
    encode_strict,
    json_text_size,
    outcome_from_json,
)
from sandbox.workers import Worker, WorkerReader


def test_a_message_is_strict_utf8_json() -> None:
    assert decode('{"type":"outcome","text":"привет"}'.encode()) == {
        "type": "outcome", "text": "привет"}
    for line in (
        b'{"type":"outcome","text":"\xff"}',  # not UTF-8
        b'{"type":"outcome","text":"\xed\xa0\x80"}',  # a lone surrogate, UTF-8-encoded
        '{"type":"outcome"}'.encode("utf-16"),  # JSON, but not the protocol's encoding
        b'["type"]',
    ):
        with pytest.raises(ProtocolError):
            decode(line)


@pytest.mark.parametrize("text", [
    ' {"type":"x","n":[1,2.5,null,true]}\t\r ', '{"type":"x"}', '{"type":"x"} {}',
    '{"type":"x"} x', "\ufeff{\"type\":\"x\"}", '{"type":"x"', "", "   ",
])
def test_a_message_parses_as_json_loads_would(text: str) -> None:
    """Scanned without json.loads's frames, a message still parses (or fails) as with it."""
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ProtocolError):
            decode(text.encode())
        return
    assert decode(text.encode()) == expected


@pytest.mark.parametrize("text", [
    '{"type":"x","v":-Infinity}', '{"type":"x","v":Infinity}', '{"type":"x","v":[NaN]}',
    '{"type":"x","v":1e400}', '{"type":"x","v":{"a":-1e309}}',
])
def test_numbers_json_cannot_carry_are_a_violation(text: str) -> None:
    # json.loads takes them; JSON and the service's store (which refuses them when it writes)
    # do not, and no worker of ours sends them: a breached one's are refused at the pipe.
    with pytest.raises(ProtocolError):
        decode(text.encode())


@pytest.mark.parametrize("text", [
    r'{"type":"x","v":"\ud800"}', r'{"type":"x","v":["ok","a\uDFFFb"]}',
    r'{"type":"x","\udc00":1}', r'{"type":"x","v":"\ude00\ud83d"}',
])
def test_a_lone_surrogate_spelled_as_an_escape_is_a_violation(text: str) -> None:
    # Strict UTF-8 refuses a lone surrogate's bytes; JSON can still spell one as an escape,
    # which json.loads takes. No text holding one can be stored or sent (the store's write of
    # an execution's logs raised UnicodeEncodeError, a storage key the capability handler),
    # and no worker of ours sends one (the sandbox refuses it in what a script hands over).
    with pytest.raises(ProtocolError, match="lone surrogate"):
        decode(text.encode())


@pytest.mark.parametrize(("text", "value"), [
    (r'{"type":"x","v":"\ud83d\ude00"}', "\U0001f600"),  # a pair: one character
    (r'{"type":"x","v":"\\ud800"}', "\\ud800"),  # a backslash, then "ud800"
    ('{"type":"x","v":"\U0001f600 \u0436"}', "\U0001f600 \u0436"),
])
def test_text_that_only_looks_like_a_surrogate_escape_still_parses(text: str, value: str
                                                                   ) -> None:
    assert decode(text.encode()) == {"type": "x", "v": value}


def test_ordinary_numbers_still_parse_exactly() -> None:
    text = '{"type":"x","v":[0.1,-2.5e-3,1e308,-0.0,5e-324,12345678901234567890]}'
    assert decode(text.encode()) == json.loads(text)



def _call_line(call_id: int, limits: str, call: str = '{"function":"f","args":[]}',
               tail: str = "}") -> bytes:
    return ('{"type":"call","id":' + str(call_id) + ',"limits":' + limits + ',"call":' + call
            + tail).encode()


LIMITS = '{"cpu_seconds":1.0,"output_bytes":65536}'


def test_the_workers_reading_of_calls_is_decode() -> None:
    """The worker's reader parses a call's limits only when their text changed, and otherwise
    reads every line exactly as `decode` does (or refuses it as decode does)."""
    lines = CallLines()
    cases = [
        _call_line(1, LIMITS),
        _call_line(2, LIMITS),  # the same limits text: the limits parsed for call 1
        _call_line(3, LIMITS, tail="} \t\r\n"),
        _call_line(4, '{"cpu_seconds":2.0,"output_bytes":65536}'),  # changed limits
        _call_line(5, LIMITS),
        _call_line(6, '{"cpu_seconds":1.0,"output_bytes":65536}  '),  # not the layout
        _call_line(7, LIMITS, tail="}x"),
        _call_line(8, LIMITS, tail="},{}"),
        _call_line(9, LIMITS, tail=""),
        _call_line(10, LIMITS + "1"),
        _call_line(11, LIMITS, call='{"function":"f",}'),
        _call_line(12, LIMITS, call=""),
        _call_line(13, "1"),
        _call_line(14, "12"),
        _call_line(15, "1"),
        _call_line(16, "null"),
        _call_line(17, "null"),
        _call_line(-1, LIMITS),
        _call_line(18, LIMITS).replace(b'"id":18', b'"id":"x"'),
        _call_line(19, LIMITS).replace(b'"id":19', b'"id": 19'),
        _call_line(20, LIMITS).replace(b'"id":20', b'"id":020'),
        _call_line(21, LIMITS).replace(b'"id":21', b'"id":'),
        b'{"type":"call","id":22,"limits":' + LIMITS.encode() + b',"call":{},"call":{"a":1}}',
        b'{"type":"call","id":23}',
        b'{"type":"call","id":24,"limits":' + LIMITS.encode() + b'}',
        b'{"type":"capability_reply","id":1,"reply":{"ok":true}}',
        b'{"type":"call","id":25,"limits":' + LIMITS.encode() + b',"call":{"t":"\xff"}}',
        b'{"type":"call","id":26,"limits":' + LIMITS.encode() + b',"call":{"t":"\xed\xa0\x80"}}',
        b'{"type":"call","id":27,"limits":' + LIMITS.encode() + b',"call":{"t":"\\ud800"}}',
        EncodedCall.of({"function": "f", "args": [1, "\u2028"], "source_sha256": "ab"}, "x = 1",
                       encode_strict({"cpu_seconds": 0.5})).message(28, with_source=True),
        EncodedCall.of({"function": "f", "args": [], "source_sha256": "ab"}, "x = 1",
                       encode_strict({"cpu_seconds": 0.5})).message(29, with_source=False),
    ]
    for line in cases:
        try:
            expected = decode(line)
        except ProtocolError:
            with pytest.raises(ProtocolError):
                lines.decode(line)
            continue
        assert lines.decode(line) == expected, line
    first, second = lines.decode(_call_line(30, LIMITS)), lines.decode(_call_line(31, LIMITS))
    assert second["limits"] is first["limits"]
    assert second["call"] is not first["call"]


def _outcome(**changes: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "ok": True, "result": {"event": {"srcPhone": "+7916", "n": [1, 2.5, None]}},
        "error": None, "limit": None, "logs": "line \u2028 é \"q\"\n", "logs_truncated": False,
        "duration_ms": 21.262, "cpu_ms": 10.127, "retire": False,
    }
    outcome.update(changes)
    return outcome


@pytest.mark.parametrize("outcome", [
    _outcome(),
    _outcome(result=None, ok=False, limit="cpu", retire=True, logs_truncated=True,
             error={"type": "LimitExceeded", "message": "é", "line": 3, "traceback": ["a"]}),
    _outcome(result="text"), _outcome(result=[]), _outcome(result=7), _outcome(logs=""),
    _outcome(duration_ms=0.0, cpu_ms=1e-05), _outcome(cpu_ms=123456789.125),
    _outcome(cpu_ms=3), _outcome(duration_ms=float("nan")), _outcome(cpu_ms=float("inf")),
    _outcome(ok=1), _outcome(retire=None), _outcome(limit=7), _outcome(logs=None),
    {"ok": False, "result": None, "limit": None, "logs": "", "logs_truncated": False,
     "error": {"type": "BadCall", "message": "x", "line": None}, "duration_ms": 0.0,
     "retire": False, "cpu_ms": 0.5},
    {**_outcome(), "extra": 1}, {},
])
def test_an_outcome_encodes_as_encode_would(outcome: dict[str, Any]) -> None:
    for call_id in (0, 7, 12345678901234567890, -1):
        expected = encode({"type": "outcome", "id": call_id, "outcome": compact_outcome(outcome)})
        assert encode_outcome(call_id, outcome) == expected


def test_an_outcome_too_long_as_json_text_is_fitted_to_the_message_limit() -> None:
    # Control characters are six bytes each as JSON text: limits counted in UTF-8 bytes let a
    # result (or, with a large output limit, logs) make a line longer than the pool reads.
    small = _outcome(result={"a": 1})
    assert encode_outcome_to_send(3, small) == encode_outcome(3, small)
    huge_result = _outcome(result={"body": "\x01" * (MAX_MESSAGE_BYTES // 6 + 1)}, logs="kept")
    huge_logs = _outcome(result={"a": 1}, logs="\x02" * (MAX_MESSAGE_BYTES // 6 + 1))
    for outcome in (huge_result, huge_logs):
        line = encode_outcome_to_send(3, outcome)
        assert len(line) <= MAX_MESSAGE_BYTES
        sent = outcome_from_json(json.loads(line)["outcome"])
        if outcome is huge_result:
            assert (sent.ok, sent.result, sent.limit, sent.logs) == (False, None, "result", "kept")
            assert sent.error is not None and sent.error.type == "InvalidResult"
            assert sent.error.message.startswith("the result is 8388623 bytes as JSON text")
        else:
            assert (sent.ok, sent.result, sent.logs_truncated) == (True, {"a": 1}, True)
            assert sent.logs == "\x02" * (MAX_MESSAGE_BYTES // 4 // 6)


def test_an_outcome_that_is_not_unicode_is_refused_as_encode_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_outcome(1, _outcome(logs="\udcff"))
    with pytest.raises(UnicodeEncodeError):
        encode({"type": "outcome", "id": 1, "outcome": _outcome(logs="\udcff")})


@pytest.mark.parametrize("value", [
    {"type": "call", "text": "é \u2028 \" \\ \x00", "list": [1, 2.5, None, True, {}]},
    {"type": "call", "n": float("inf")},
])
def test_a_message_encodes_as_the_library_encoder_would(value: dict[str, Any]) -> None:
    assert encode_strict(value) == json.dumps(value, ensure_ascii=False,
                                              separators=(",", ":")).encode()


def test_what_is_not_json_or_not_unicode_is_unsendable() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    for value in ({"text": "\udcff"}, {"thing": object()}, circular):
        with pytest.raises(UnsendableCall):
            encode_strict(value)


class Lines:
    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.violations: list[str] = []


async def reader_for(take_out_after: int | None = None) -> tuple[WorkerReader, Lines, Worker]:
    seen = Lines()
    worker = Worker(id=1, pid=0, pidfd=None)

    def on_line(w: Worker, line: bytes) -> None:
        seen.lines.append(line)
        if take_out_after is not None and len(seen.lines) >= take_out_after:
            w.dead = True

    return (WorkerReader(worker, on_line, lambda w, why: seen.violations.append(why),
                         lambda w: None), seen, worker)


async def test_lines_are_delivered_whole_however_the_pipe_cuts_them() -> None:
    reader, seen, _ = await reader_for()
    reader.data_received(b'{"a":1}\n{"b":2}\n{"c"')
    assert seen.lines == [b'{"a":1}', b'{"b":2}']
    reader.data_received(b":3")
    assert seen.lines == [b'{"a":1}', b'{"b":2}']
    reader.data_received(b'}\n{"d":4}\n')
    assert seen.lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'{"d":4}']
    assert not reader.buffer
    reader.data_received(b"\n")
    assert seen.lines[-1] == b""
    assert isinstance(seen.lines[0], bytes) and isinstance(seen.lines[2], bytes)


async def test_no_line_is_handled_after_the_worker_is_taken_out() -> None:
    reader, seen, _ = await reader_for(take_out_after=1)
    reader.data_received(b"one\ntwo\nthree\n")
    assert seen.lines == [b"one"]
    reader.data_received(b"four\n")
    assert seen.lines == [b"one"]


async def test_an_endless_line_is_a_violation() -> None:
    reader, seen, _ = await reader_for()
    reader.data_received(b"x" * (MAX_MESSAGE_BYTES // 2))
    assert not seen.violations
    reader.data_received(b"x" * (MAX_MESSAGE_BYTES // 2 + 1))
    assert seen.violations and not reader.buffer and not seen.lines
    # ...whether or not it started in the buffer.
    reader.data_received(b"ok\n" + b"y" * (MAX_MESSAGE_BYTES + 1))
    assert seen.lines == [b"ok"] and len(seen.violations) == 2



def test_a_call_crosses_the_pipe_unchanged() -> None:
    """Call.from_json builds its dataclasses positionally: every field lands in its own place."""
    from sandbox.call import Call, RequestData

    request = RequestData(method="PUT", url="http://h/x?q=1", headers=(("A", "1"), ("b", "2")),
                          body="{}")
    call = Call(source="x = 1", function="VoipGetCallLink", args=({"k": [1]},),
                request=request, settings={"apiKey": "s", "n": 2})
    assert Call.from_json(json.loads(json.dumps(call.to_json()))) == call
    assert RequestData.from_json({"headers": {"A": 1}, "method": "get"}) == RequestData(
        method="GET", headers=(("A", "1"),))


def test_from_json_sets_every_field() -> None:
    """from_json sets the fields one by one (not through __init__): a field added to Call or
    RequestData must be set there too."""
    import dataclasses

    from sandbox.call import Call

    built = Call.from_json({"source": "", "request": {}})
    for value in (built, built.request):
        for item in dataclasses.fields(value):  # type: ignore[arg-type]
            assert hasattr(value, item.name), f"from_json leaves {item.name} unset"


@pytest.mark.parametrize("outcome", [
    {"ok": True, "result": {"a": 1}, "error": None, "limit": None, "logs": "",
     "logs_truncated": False, "duration_ms": 1.5, "cpu_ms": 0.25, "retire": False},
    {"ok": True, "result": None, "error": None, "limit": None, "logs": "x\n",
     "logs_truncated": True, "duration_ms": 0.0, "cpu_ms": 0.0, "retire": True},
    {"ok": False, "result": None, "limit": "cpu", "logs": "", "logs_truncated": False,
     "error": {"type": "LimitExceeded", "message": "m", "line": 3}, "duration_ms": 2.0,
     "cpu_ms": 1.0, "retire": False},
])
def test_a_compact_outcome_reads_back_as_the_whole(outcome: dict[str, Any]) -> None:
    compact = compact_outcome(outcome)
    assert outcome_from_json(compact) == outcome_from_json(outcome)
    assert outcome_from_json(decode(encode({"type": "o", "outcome": compact}))["outcome"]) \
        == outcome_from_json(outcome)
    # Only fields at their defaults are left out: everything else is sent as it was.
    assert {k: v for k, v in outcome.items() if k not in compact} == {
        k: v for k, v in OUTCOME_DEFAULTS.items() if outcome.get(k, v) == v and k in outcome}


def test_a_compact_outcome_keeps_a_value_of_another_type() -> None:
    """The defaults are left out only as themselves: a malformed value (a 0 for a False, a
    "" for a None) still reaches the parent's checks."""
    outcome = {"ok": True, "retire": 0, "logs_truncated": 0, "error": "", "limit": False}
    assert compact_outcome(outcome) == outcome
    with pytest.raises(ProtocolError):
        outcome_from_json(compact_outcome(outcome))


def test_a_calls_wire_json_encodes_as_its_json_without_the_source() -> None:
    from sandbox import Call, RequestData

    request = RequestData(method="POST", url="http://h/hooks/t?x=1",
                          headers=(("Host", "h"), ("X-A", "ё\u2028")), body='{"a": "\\"q"}')
    for call in (Call(source="def f(): pass", function="VoipParseWebhookRequest",
                      request=request, settings={"k": "v", "n": 1.5}),
                 Call(source="x = 1", function="VoipGetCallLink", args=({"a": [1, 2]},)),
                 Call(source="x = 1", function=None)):
        whole = call.to_json()
        del whole["source"]
        whole["source_sha256"] = "0" * 64
        assert encode_strict(call.wire_json("0" * 64)) == encode_strict(whole)


def _calls() -> list[Any]:
    from sandbox import Call, RequestData

    long_text = "x\"\\\n\u2028é" * 100
    requests = [
        RequestData(method="POST", url="http://h/hooks/t?x=1",
                    headers=(("Host", "h"), ("X-A", "ё\u2028\"\\\x00")), body='{"a": "\\"q"}'),
        RequestData(method="GET", url="http://h/hooks/t/" + long_text, headers=(), body=None),
        RequestData(method="PUT", url="http://h/", headers=(("X-Long", long_text),),
                    body=long_text),
        RequestData(method="POST", url="http://h/", headers=(("Bad", "a\udcffb"),), body="{}"),
        RequestData(method="POST", url="http://h/", headers=(("A", "b"),), body="\ud800"),
    ]
    calls: list[Any] = []
    for request in requests:
        for settings in ({}, {"k": "v", "n": 1.5, "t": True}, {"bad": float("nan")}):
            calls.append(Call(source="def f(r): pass", function="VoipParseWebhookRequest",
                              request=request, settings=settings))
    calls.append(Call(source="x = 1", function="VoipGetCallLink", args=({"a": [1, 2]},)))
    calls.append(Call(source="x = 1", function=None))
    calls.append(Call(source="x = 1", function="VoipParseWebhookRequest",
                      settings={"o": object()}))
    return calls


@pytest.mark.parametrize("call", _calls())
def test_encode_call_gives_the_encoders_bytes_or_its_error(call: Any) -> None:
    from sandbox.protocol import encode_call

    for _ in range(2):  # the second time from the kept texts
        try:
            expected: bytes | str = encode_strict(call.wire_json("ab" * 32))
        except UnsendableCall as error:
            expected = str(error)
        try:
            got: bytes | str = encode_call(call, "ab" * 32)
        except UnsendableCall as error:
            got = str(error)
        assert got == expected


def test_outcome_fields_in_the_order_outcome_from_json_passes_them() -> None:
    from dataclasses import fields

    from sandbox.outcome import Outcome

    assert [f.name for f in fields(Outcome)] == [
        "ok", "result", "error", "limit", "logs", "logs_truncated", "duration_ms", "cpu_ms",
        "retire",
    ]
    outcome = outcome_from_json({"ok": False, "result": [1], "limit": "cpu", "logs": "l",
                                 "logs_truncated": True, "duration_ms": 2, "cpu_ms": 1,
                                 "retire": True, "error": {"type": "T", "message": "m"}})
    assert (outcome.ok, outcome.result, outcome.limit, outcome.logs, outcome.logs_truncated,
            outcome.duration_ms, outcome.cpu_ms, outcome.retire) == (
        False, [1], "cpu", "l", True, 2.0, 1.0, True)
    assert outcome.error is not None and (outcome.error.type, outcome.error.message) == ("T", "m")


def test_encode_call_writes_a_webhooks_call_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's headers (names as multidict's `istr`, a str subclass) take the written path,
    not the encoder's, and come out as the encoder writes them."""
    from multidict import CIMultiDict

    import sandbox.protocol as protocol
    from sandbox import Call, RequestData

    raw = CIMultiDict([("Host", "h:1"), ("content-TYPE", "application/json"), ("X-É", "ё")])
    request = RequestData(method="POST", url="http://h:1/hooks/t", headers=tuple(raw.items()),
                          body='{"a": 1}')
    assert any(type(name) is not str for name, _ in request.headers)
    call = Call(source="x = 1", function="VoipParseWebhookRequest", request=request,
                settings={"k": "v"})
    expected = encode_strict(call.wire_json("ab" * 32))

    def no_encoder(value: Any) -> bytes:
        raise AssertionError("the encoder's path was taken")

    monkeypatch.setattr(protocol, "encode_strict", no_encoder)
    for _ in range(2):
        assert protocol.encode_call(call, "ab" * 32) == expected


# -- a fetch() body too large for a worker is measured, not written ------------------------------


@pytest.mark.parametrize("text", [
    "", "plain", '"quoted" \\ back', "\n\r\t\b\f", "".join(map(chr, range(0x20))),
    "й€😀\x7f\u2028\u2029", bytes(range(256)).decode("latin-1"),
    (b"\xff\xfe" + bytes(range(256)) * 3).decode("utf-8", errors="replace"),
])
def test_the_json_size_of_a_text_is_what_the_encoder_writes(text: str) -> None:
    assert json_text_size(text) == len(encode_strict(text))
    assert json_text_size(text + "\udcff") is None


def _fetch_reply(body: str) -> dict[str, Any]:
    return {"ok": True, "status": 200, "headers": [["Content-Type", "text/plain"]],
            "url": "https://example.com/", "body": body}


def test_a_fetch_reply_too_large_as_json_text_is_refused_without_writing_it() -> None:
    # 5 MB of NUL (what 5 KB of gzip inflate to): 30 MB as JSON text. Writing it out to find
    # that held the service's event loop for ~60 ms and allocated twelve times the body.
    body = "\x00" * (5 * 1000 * 1000)
    written = len(encode_strict({"type": "capability_reply", "id": 7,
                                 "reply": _fetch_reply(body)}))
    tracemalloc.start()
    try:
        line = encode_capability_reply(7, _fetch_reply(body))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert json.loads(line) == {"type": "capability_reply", "id": 7, "reply": {
        "ok": False, "error": f"too large: the host's answer is {written} bytes as JSON text, "
                              f"more than the {MAX_MESSAGE_BYTES} a script can receive"}}
    assert peak < 3 * len(body)


def test_a_fetch_reply_within_the_limit_is_written_whole() -> None:
    body = "\x01" * (MAX_MESSAGE_BYTES // 6 - 1000) + "й" * 1000
    line = encode_capability_reply(7, _fetch_reply(body))
    assert json.loads(line)["reply"] == _fetch_reply(body)
    assert len(line) <= MAX_MESSAGE_BYTES + 1
