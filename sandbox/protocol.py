"""The wire between the pool and a worker: one JSON object per line, nothing else.

Never pickle: a tenant object could carry `__reduce__`. The parent reads every worker message
as untrusted bytes and parses it strictly into plain types (`outcome_from_json`).

Parent → worker: {"type": "call", "id", "call", "limits"}; {"type": "capability_reply", "id",
"reply"}. Worker → parent: {"type": "ready", "hardening"} (or, from a worker that could not
harden itself and exits, {"type": "unhardened", "error"}); {"type": "capability", "id",
"request"}; {"type": "outcome", "id", "outcome"}. An outcome with `"retire": true` is the
worker's last: it exits after sending it, and the pool replaces it. An outcome's fields at
their defaults (`OUTCOME_DEFAULTS`) are left out.

A call is encoded completely (`EncodedCall`) before it is queued for any worker, so an input
that cannot be encoded fails that call alone and never leaves a worker waiting.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from sandbox.jsontext import dumper
from sandbox.jsontext import loads_strict as _loads
from sandbox.jsontext import lone_surrogate_in as _lone_surrogate_in
from sandbox.jsontext import only_whitespace_from as _only_whitespace_from
from sandbox.jsontext import strict_scan_once as _scan_once
from sandbox.outcome import LIMIT_NAMES, CompileProblem, LimitName, Outcome, ScriptError

if TYPE_CHECKING:
    from sandbox.call import Call

# Largest single message either side accepts; results, logs and errors are capped far below.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_ERROR_TEXT = 4000
MAX_TRACEBACK_LINES = 50
# How deeply a capability request may nest: around a storage value or fetch() body of up to 64
# levels. (An outcome's result is held to the call's `result_depth`.) Deeper, the service's own
# code handling it (the host's json, validation) could recurse until it fails.
MAX_REQUEST_DEPTH = 100
# Scripts a worker keeps by hash, so a known script crosses the pipe as its hash alone. The
# pool mirrors this LRU per worker; when they disagree the worker says "source_missing".
SOURCE_CACHE_SIZE = 512


@functools.lru_cache(maxsize=1024)
def source_facts(source: str) -> tuple[str, int]:
    """(sha256, size in UTF-8 bytes) of a script, remembered for the scripts in use."""
    encoded = source.encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest(), len(encoded)


class ProtocolError(Exception):
    """A worker sent something that is not a well-formed message."""


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The pool encodes a message for every call: without the encoder's Python frames.
_dumps = dumper(_ENCODER)
# For an outcome's result and error: plain data the executor built (the result is the
# converter's copy, which refuses cycles), so without the cycle markers.
_dumps_built = dumper(_ENCODER, acyclic=True)


def encode(message: dict[str, Any]) -> bytes:
    return _dumps(message).encode() + b"\n"


# An outcome's keys in the order the executor builds them (Outcome.to_json), and the text
# between its values.
_OUTCOME_KEYS = ("ok", "result", "error", "limit", "logs", "logs_truncated", "duration_ms",
                 "cpu_ms", "retire")
_encode_text: Callable[[str], str] = json.encoder.encode_basestring
_finite = math.isfinite
_float_text = float.__repr__


def encode_outcome(call_id: int, outcome: dict[str, Any]) -> bytes:
    """`encode({"type": "outcome", "id": call_id, "outcome": compact_outcome(outcome)})`, the
    same bytes, with the fixed text written out: the encoder is called for the result and the
    error only.

    A worker sends one outcome per call, and encoding the outcome's own keys and flags was as
    much work as encoding a typical result. An outcome of another shape or with values of other
    types goes through `encode`. Only for outcomes the executor built: their result and error
    are encoded without cycle markers (the result converter refuses cycles).
    """
    if type(call_id) is int and tuple(outcome) == _OUTCOME_KEYS:
        ok, result, error, limit, logs, truncated, duration, cpu, retire = outcome.values()
        if (type(ok) is bool and type(truncated) is bool and type(retire) is bool
                and type(logs) is str and (limit is None or type(limit) is str)
                and type(duration) is float and type(cpu) is float
                and _finite(duration) and _finite(cpu)):
            # The fields at their defaults (OUTCOME_DEFAULTS) left out, as compact_outcome does.
            return "".join((
                '{"type":"outcome","id":', int.__repr__(call_id),
                ',"outcome":{"ok":', "true" if ok else "false",
                ',"result":', _dumps_built(result),
                "" if error is None else ',"error":' + _dumps_built(error),
                "" if limit is None else ',"limit":' + _encode_text(limit),
                ',"logs":' + _encode_text(logs) if logs else "",
                ',"logs_truncated":true' if truncated else "",
                ',"duration_ms":', _float_text(duration),
                ',"cpu_ms":', _float_text(cpu),
                ',"retire":true' if retire else "",
                "}}\n",
            )).encode()
    return encode({"type": "outcome", "id": call_id, "outcome": compact_outcome(outcome)})


def encode_outcome_to_send(call_id: int, outcome: dict[str, Any]) -> bytes:
    """`encode_outcome`, made to fit the pool's MAX_MESSAGE_BYTES (`_fitted`) when it would not.

    The result converter counts a string's UTF-8 bytes, not its JSON text: a control character
    is six bytes there, so a result within its limit (and logs within theirs) can still make a
    line the pool refuses, which reported a protocol error and replaced the worker.
    """
    line = encode_outcome(call_id, outcome)
    if len(line) <= MAX_MESSAGE_BYTES:
        return line
    return encode_outcome(call_id, _fitted(outcome))


def _fitted(outcome: dict[str, Any]) -> dict[str, Any]:
    """An outcome too long to send, fitted: a result over half the message is refused as too
    large (an InvalidResult, the result limit), and logs over a quarter of it are cut."""
    fitted = dict(outcome)
    result = outcome.get("result")
    result_size = len(_dumps_built(result)) if result is not None else 0
    if result_size > MAX_MESSAGE_BYTES // 2:
        fitted.update(ok=False, result=None, limit="result", error={
            "type": "InvalidResult", "line": None,
            "message": f"the result is {result_size} bytes as JSON text (its strings escaped), "
                       f"more than the {MAX_MESSAGE_BYTES // 2} a worker can send"})
    logs = fitted.get("logs")
    room = MAX_MESSAGE_BYTES // 4 // 6  # characters: each is at most six bytes as JSON text
    if isinstance(logs, str) and len(logs) > room:
        fitted["logs"], fitted["logs_truncated"] = logs[:room], True
    return fitted


class UnsendableCall(Exception):
    """A call that cannot be encoded for a worker (e.g. a lone surrogate in a header)."""


def encode_strict(value: Any) -> bytes:
    """JSON as strict UTF-8; raises UnsendableCall for anything that is not."""
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnsendableCall(
            f"text that is not valid Unicode (an unpaired surrogate at position {error.start})"
        ) from None
    except (TypeError, ValueError, RecursionError) as error:
        raise UnsendableCall(f"a value that is not JSON ({str(error)[:200]})") from None


def encode_capability_reply(call_id: int, reply: dict[str, Any]) -> bytes:
    """A capability reply as the line a worker reads (newline included).

    A reply the worker could not take becomes `{"ok": false, "error": why}`, which the script
    sees as its FetchError or StorageError: one that is not JSON, or one longer than a worker
    accepts (MAX_MESSAGE_BYTES). A fetch() body within its byte limit can grow past that as
    JSON text (undecodable bytes become U+FFFD, three bytes each; a control character becomes
    six), and a line the worker refuses would reach the script as the channel's own error,
    leaving the channel unreadable.

    Such a body is measured before it is written: writing 5 MB of control characters as
    JSON text took the service's event loop about 60 ms, every tenant's requests waiting, and
    a script can ask for ten such bodies per call (gzip makes each a few KB on the wire).
    """
    message = {"type": "capability_reply", "id": call_id, "reply": reply}
    body = reply.get("body")
    if isinstance(body, str) and len(body) > MAX_MESSAGE_BYTES // 6:
        size = json_text_size(body)
        if size is not None and size > MAX_MESSAGE_BYTES:
            # The rest of the message as it would be written, the body's place included.
            rest = len(encode_strict({**message, "reply": {**reply, "body": ""}})) - 2
            return _too_large(message, rest + size)
    try:
        data = encode_strict(message)
    except UnsendableCall as error:
        why = f"the host's answer could not be sent: {error}"
    else:
        if len(data) <= MAX_MESSAGE_BYTES:
            return data + b"\n"
        return _too_large(message, len(data))
    message["reply"] = {"ok": False, "error": why}
    return encode_strict(message) + b"\n"


def _too_large(message: dict[str, Any], size: int) -> bytes:
    why = (f"too large: the host's answer is {size} bytes as JSON text, more than the "
           f"{MAX_MESSAGE_BYTES} a script can receive")
    return encode_strict({**message, "reply": {"ok": False, "error": why}}) + b"\n"


# Bytes the encoder writes as a backslash and one letter ("\n"), and the other control
# characters, which it writes as six ("\u0001"). Every other character is its UTF-8.
_TWO_BYTE_ESCAPES: Final = b'"\\\n\r\t\b\f'
_SIX_BYTE_ESCAPES: Final = bytes(c for c in range(0x20) if c not in _TWO_BYTE_ESCAPES)


def json_text_size(text: str) -> int | None:
    """The bytes `text` takes as a JSON string of this protocol (quotes included), counted
    without writing it; None for text that is not valid Unicode. Control characters are
    single bytes in UTF-8 and never part of another character's bytes, so they are counted
    in the UTF-8 (in C, a pass each)."""
    try:
        utf8 = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    two = len(utf8) - len(utf8.translate(None, _TWO_BYTE_ESCAPES))
    six = len(utf8) - len(utf8.translate(None, _SIX_BYTE_ESCAPES))
    return 2 + len(utf8) + two + 5 * six


_string: Callable[[str], str] = json.encoder.encode_basestring
# Texts up to this long are kept as JSON strings when they recur (`_json_string`).
RECURRING_TEXT_CHARS = 128


@functools.lru_cache(maxsize=4096)
def _recurring_string(text: str) -> str:
    return _string(text)


@functools.lru_cache(maxsize=4096)
def _recurring_pair(name: str, value: str) -> str:
    """A header as the encoder writes it (`[name,value]`), kept as `_json_string` keeps."""
    return f"[{_string(name)},{_string(value)}]"


def _json_string(text: str) -> str:
    """`text` as the encoder writes it, kept for short texts: most of a webhook call's recur
    from call to call (the function's name, the module's webhook URL, the provider's header
    names and values, the script's hash), and the library escapes them character by
    character, every time. At most 4096 of them (and 4096 headers), each of at most 128
    characters (6 each when escaped): a few megabytes at worst, whatever callers send."""
    return _recurring_string(text) if len(text) <= RECURRING_TEXT_CHARS else _string(text)


def encode_call(call: Call, source_sha256: str) -> bytes:
    """`encode_strict(call.wire_json(source_sha256))`: the same bytes, or the same
    UnsendableCall. A webhook's call (a request, no arguments, text where text belongs) is
    written from its parts, its recurring texts kept (`_json_string`); any other call goes
    through the encoder."""
    request = call.request
    function = call.function
    if request is None or call.args or type(function) is not str:
        return encode_strict(call.wire_json(source_sha256))
    method, url, body = request.method, request.url, request.body
    if type(method) is not str or type(url) is not str or type(source_sha256) is not str or (
            body is not None and type(body) is not str):
        return encode_strict(call.wire_json(source_sha256))
    settings = call.settings
    if settings:
        try:
            settings_text = _dumps(dict(settings))
        except (TypeError, ValueError, RecursionError):
            return encode_strict(call.wire_json(source_sha256))  # (raises as it would)
    else:
        settings_text = "{}"
    pairs: list[str] = []
    for pair in request.headers:
        if type(pair) is not tuple or len(pair) != 2:
            return encode_strict(call.wire_json(source_sha256))
        name, value = pair
        if type(name) is not str:
            # aiohttp's header names are multidict's `istr`, a subclass: the same text as
            # a plain str (which the table of kept texts is keyed by, compared as written).
            if not isinstance(name, str):
                return encode_strict(call.wire_json(source_sha256))
            name = str.__str__(name)
        if type(value) is not str:
            if not isinstance(value, str):
                return encode_strict(call.wire_json(source_sha256))
            value = str.__str__(value)
        pairs.append(_recurring_pair(name, value)
                     if len(name) + len(value) <= RECURRING_TEXT_CHARS
                     else f"[{_string(name)},{_string(value)}]")
    text = _json_string
    parts = ('{"function":', text(function), ',"args":[],"request":{"method":', text(method),
             ',"url":', text(url), ',"headers":[', ",".join(pairs), '],"body":',
             "null" if body is None else _string(body), '},"settings":', settings_text,
             ',"source_sha256":', text(source_sha256), "}")
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnsendableCall(
            f"text that is not valid Unicode (an unpaired surrogate at position {error.start})"
        ) from None


@functools.lru_cache(maxsize=256)
def encoded_source(source: str) -> bytes:
    """A script's text as a JSON string, remembered for the scripts in use."""
    return encode_strict(source)


@dataclass(frozen=True, slots=True)
class EncodedCall:
    """A call encoded completely before it goes near a worker: nothing can fail later.

    `message(id, with_source)` splices the parts; the source travels only to a worker that
    does not hold it yet.
    """

    call: bytes  # the call object without its source, source_sha256 included
    source: bytes
    limits: bytes

    @classmethod
    def of(cls, call: dict[str, Any], source: str, limits: bytes) -> EncodedCall:
        return cls.of_encoded(encode_strict(call), source, limits)

    @classmethod
    def of_call(cls, call: Call, source_sha256: str, limits: bytes) -> EncodedCall:
        """`of(call.wire_json(source_sha256), call.source, limits)`, encoded by `encode_call`."""
        return cls.of_encoded(encode_call(call, source_sha256), call.source, limits)

    @classmethod
    def of_encoded(cls, call: bytes, source: str, limits: bytes) -> EncodedCall:
        encoded = cls(call, encoded_source(source), limits)
        size = len(encoded.call) + len(encoded.source) + len(encoded.limits) + 64
        if size > MAX_MESSAGE_BYTES:
            raise UnsendableCall(f"the call is {size} bytes as JSON; the protocol allows "
                                 f"{MAX_MESSAGE_BYTES}")
        return encoded

    def message(self, call_id: int, with_source: bool) -> bytes:
        call = self.call[:-1] + b',"source":' + self.source + b"}" if with_source else self.call
        return b"".join((b'{"type":"call","id":', str(call_id).encode(), b',"limits":',
                         self.limits, b',"call":', call, b"}\n"))


def decode(line: bytes) -> dict[str, Any]:
    """A message as strict UTF-8 JSON. Decoded here rather than by json.loads, which guesses
    the encoding of bytes (UTF-16 and -32 too) in Python code and lets UTF-8-encoded lone
    surrogates through: a message is UTF-8 (`encode`), and anything else is a violation."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"not JSON: {error}") from None
    try:
        return _decoded(text)
    except RecursionError:  # deeper than the parser follows: the depth checks come after
        raise ProtocolError("a message nested deeper than the protocol allows") from None


def too_deep(line: bytes, value: Any, levels: int) -> bool:
    """Whether `value`, decoded from `line`, nests lists and objects more than `levels` deep.

    A level needs an opening bracket: a line with no more of them than `levels` (nearly every
    one) is not walked. (Counting them in C costs less than walking a typical result.)"""
    return (line.count(b"[") + line.count(b"{") > levels
            and nested_deeper_than(value, levels))


def nested_deeper_than(value: Any, levels: int) -> bool:
    """Whether decoded JSON nests lists and objects more than `levels` deep. Recursive, but
    never deeper than `levels` (a limit of ours), whatever the value."""
    kind = type(value)
    if kind is dict:
        children: Any = value.values()
    elif kind is list:
        children = value
    else:
        return False
    if levels <= 0:
        return True
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and nested_deeper_than(child, levels - 1):
            return True
    return False


def _decoded(text: str) -> dict[str, Any]:
    try:
        message = _loads(text)
    except ValueError as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message must be an object with a 'type'")
    return message


_CALL_HEAD = '{"type":"call","id":'
_LIMITS_KEY = ',"limits":'
_CALL_KEY = ',"call":'


class CallLines:
    """The worker's reading of the pool's lines: `decode`, except that the limits of a call
    are parsed only when their text differs from the last call's.

    The pool sends the same limits call after call, and parsing their eight numbers was the
    largest part of parsing a call message. A call message laid out as `EncodedCall.message`
    lays it out is read piece by piece with the same scanner (`{"type":"call","id":` ID
    `,"limits":` LIMITS `,"call":` CALL `}`, nothing but JSON whitespace after); when its
    LIMITS is the same text as the last call's, the limits are the object parsed then (the
    worker only reads them). Any other line, or one that does not follow the layout exactly,
    is parsed by `decode`: what is accepted, and what it parses to, is the same either way.
    """

    __slots__ = ("_limits", "_limits_text")

    def __init__(self) -> None:
        self._limits_text: str | None = None
        self._limits: Any = None

    def decode(self, line: bytes) -> dict[str, Any]:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError(f"not JSON: {error}") from None
        if text.startswith(_CALL_HEAD):
            try:
                message = self._call(text)
            except (ValueError, StopIteration):  # not the layout: decode says what is wrong
                message = None
            if message is not None:
                return message
        return _decoded(text)

    def _call(self, text: str) -> dict[str, Any] | None:
        call_id, end = _scan_once(text, len(_CALL_HEAD))
        if not text.startswith(_LIMITS_KEY, end):
            return None
        start = end + len(_LIMITS_KEY)
        known = self._limits_text
        if known is not None and text.startswith(known, start):
            # The same text followed by `,"call":` is the same JSON value (a value's text ends
            # where the value ends).
            limits, end = self._limits, start + len(known)
        else:
            limits, end = _scan_once(text, start)
        if not text.startswith(_CALL_KEY, end):
            return None
        call, close = _scan_once(text, end + len(_CALL_KEY))
        if not text.startswith("}", close) or not _only_whitespace_from(text, close + 1):
            return None
        message = {"type": "call", "id": call_id, "limits": limits, "call": call}
        if _lone_surrogate_in(text, message):
            return None  # decode refuses it, saying why
        if limits is not self._limits:
            self._limits_text, self._limits = text[start:end], limits
        return message


def _text(value: Any, limit: int = MAX_ERROR_TEXT) -> str:
    if not isinstance(value, str):
        raise ProtocolError("expected a string")
    return value[:limit]


def _optional_line(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("a line number must be an integer")
    return value


def _error_from_json(data: Any) -> ScriptError | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ProtocolError("error must be an object")
    traceback = data.get("traceback") or []
    problems = data.get("problems") or []
    if not isinstance(traceback, list) or not isinstance(problems, list):
        raise ProtocolError("traceback and problems must be lists")
    return ScriptError(
        type=_text(data.get("type"), 200),
        message=_text(data.get("message")),
        line=_optional_line(data.get("line")),
        traceback=tuple(_text(item, 500) for item in traceback[:MAX_TRACEBACK_LINES]),
        problems=tuple(
            CompileProblem(
                line=_optional_line(p.get("line")) if isinstance(p, dict) else None,
                message=_text(p.get("message") if isinstance(p, dict) else None),
            )
            for p in problems[:200]
        ),
    )


# An outcome's fields that `outcome_from_json` reads as these when they are absent: the worker
# leaves them out at these values (`compact_outcome`), so the parent parses fewer keys for
# nearly every call (a successful one has no error, no limit, often no logs).
OUTCOME_DEFAULTS: dict[str, Any] = {
    "error": None, "limit": None, "logs": "", "logs_truncated": False, "retire": False,
}


def compact_outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome as sent: without the fields at their defaults (the same value of the same
    type: a 0 is not a False), which the parent reads back as they were."""
    defaults = OUTCOME_DEFAULTS
    return {
        key: value for key, value in outcome.items()
        if key not in defaults or type(value) is not type(defaults[key])
        or value != defaults[key]
    }


def outcome_from_json(data: Any) -> Outcome:
    """Parse a worker's outcome; anything malformed raises ProtocolError."""
    if not isinstance(data, dict):
        raise ProtocolError("outcome must be an object")
    ok = data.get("ok")
    if not isinstance(ok, bool):
        raise ProtocolError("outcome.ok must be a boolean")
    limit = data.get("limit")
    # A name first: an object or a list is unhashable, and looking one up among the names
    # raised TypeError out of the pool's reader (the call hung until its wall clock).
    if limit is not None and (type(limit) is not str or limit not in LIMIT_NAMES):
        raise ProtocolError(f"unknown limit {str(limit)[:100]!r}")
    duration = data.get("duration_ms", 0.0)
    # Bounded before float() reads it: an integer of hundreds of digits raised OverflowError
    # out of the pool's reader, and the call hung until its wall clock.
    if (isinstance(duration, bool) or not isinstance(duration, int | float)
            or not 0 <= duration < 1e9):
        raise ProtocolError("duration_ms must be a number of milliseconds")
    cpu = data.get("cpu_ms", 0.0)
    if isinstance(cpu, bool) or not isinstance(cpu, int | float) or not 0 <= cpu < 1e9:
        raise ProtocolError("cpu_ms must be a number of milliseconds")
    logs = data.get("logs", "")
    retire = data.get("retire", False)
    if not isinstance(retire, bool):
        raise ProtocolError("outcome.retire must be a boolean")
    limit_name = cast("LimitName | None", limit)  # one of LIMIT_NAMES, or None
    error = data.get("error")
    # Positional, in the fields' order (ok, result, error, limit, logs, logs_truncated,
    # duration_ms, cpu_ms, retire): one outcome per call. No error and no logs (nearly every
    # call) skip their readers.
    return Outcome(
        ok,
        data.get("result"),
        None if error is None else _error_from_json(error),
        limit_name,
        "" if logs == "" and type(logs) is str else _text(logs, 1024 * 1024),
        bool(data.get("logs_truncated", False)),
        float(duration),
        float(cpu),
        retire,
    )


class LineChannel:
    """Blocking line-delimited JSON over two raw descriptors (the worker's side)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buffer = bytearray()
        self._lines: deque[bytes] = deque()
        self._calls = CallLines()
        self.sending = False

    def send(self, message: dict[str, Any]) -> None:
        self._write(encode(message))

    def send_line(self, line: bytes) -> None:
        """A message already encoded (`encode`), newline included."""
        self._write(line)

    def _write(self, line: bytes) -> None:
        data = memoryview(line)
        self.sending = True
        try:
            while data:
                written = os.write(self.write_fd, data)
                data = data[written:]
        finally:
            self.sending = False

    def send_outcome(self, call_id: int, outcome: dict[str, Any]) -> None:
        self._write(encode_outcome_to_send(call_id, outcome))

    def receive(self) -> dict[str, Any] | None:
        """The next message (waiting for it in a blocking read), or None when the parent closed
        the pipe."""
        while not self._lines:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
            *complete, rest = self._buffer.split(b"\n")
            # The unfinished message is what is bounded: one read may hold the end of a message
            # of the largest size the parent sends and the start of the next.
            if len(rest) > MAX_MESSAGE_BYTES:
                raise ProtocolError("message too large")
            self._lines.extend(bytes(line) for line in complete)
            self._buffer = bytearray(rest)
        return self._calls.decode(self._lines.popleft())
