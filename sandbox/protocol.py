"""The wire between the pool and a worker: one JSON object per line, nothing else.

Never pickle: a tenant object could carry `__reduce__`. The parent reads every worker message
as untrusted bytes and parses it strictly into plain types (`outcome_from_json`).

Parent → worker: {"type": "call", "id", "call", "limits"}; {"type": "capability_reply", "id",
"reply"}. Worker → parent: {"type": "ready", "hardening"}; {"type": "capability", "id",
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
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.jsontext import dumper
from sandbox.outcome import LIMIT_NAMES, CompileProblem, LimitName, Outcome, ScriptError

if TYPE_CHECKING:
    from sandbox.call import Call

# Largest single message either side accepts; results, logs and errors are capped far below.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_ERROR_TEXT = 4000
MAX_TRACEBACK_LINES = 50
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


def encode(message: dict[str, Any]) -> bytes:
    return _dumps(message).encode() + b"\n"


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


# The stdlib decoder's own scanner, and the whitespace json.loads skips around the value
# (json.decoder.WHITESPACE, which always matches, if only the empty string).
_scan_once: Callable[[str, int], tuple[Any, int]] = (
    json.JSONDecoder().scan_once)  # type: ignore[attr-defined]
_whitespace = re.compile(r"[ \t\n\r]*", re.VERBOSE | re.MULTILINE | re.DOTALL).match


def _loads(text: str) -> Any:
    """`json.loads(text)` without its three Python frames (a message per call, and more):
    the same scanner, the same whitespace around the value, the same errors (ValueError)."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        value, end = _scan_once(text, _whitespace(text, 0).end())  # type: ignore[union-attr]
    except StopIteration as stop:
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None
    end = _whitespace(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def decode(line: bytes) -> dict[str, Any]:
    """A message as strict UTF-8 JSON. Decoded here rather than by json.loads, which guesses
    the encoding of bytes (UTF-16 and -32 too) in Python code and lets UTF-8-encoded lone
    surrogates through: a message is UTF-8 (`encode`), and anything else is a violation."""
    try:
        message = _loads(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a message must be an object with a 'type'")
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
    if limit is not None and limit not in LIMIT_NAMES:
        raise ProtocolError(f"unknown limit {limit!r}")
    duration = data.get("duration_ms", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise ProtocolError("duration_ms must be a number")
    cpu = data.get("cpu_ms", 0.0)
    if isinstance(cpu, bool) or not isinstance(cpu, int | float) or not 0 <= cpu < 1e9:
        raise ProtocolError("cpu_ms must be a number of milliseconds")
    logs = data.get("logs", "")
    retire = data.get("retire", False)
    if not isinstance(retire, bool):
        raise ProtocolError("outcome.retire must be a boolean")
    limit_name: LimitName | None = limit
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
        self.sending = False

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview(encode(message))
        self.sending = True
        try:
            while data:
                written = os.write(self.write_fd, data)
                data = data[written:]
        finally:
            self.sending = False

    def receive(self) -> dict[str, Any] | None:
        """The next message (waiting for it in a blocking read), or None when the parent closed
        the pipe."""
        while not self._lines:
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                raise ProtocolError("message too large")
            *complete, rest = self._buffer.split(b"\n")
            self._lines.extend(bytes(line) for line in complete)
            self._buffer = bytearray(rest)
        return decode(self._lines.popleft())
