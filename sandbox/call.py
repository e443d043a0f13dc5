"""What the pool is asked to run, and how a worker talks back to its host.

A `Call` is plain data: it crosses the process boundary as JSON. The worker turns `request`
into the script's read-only `FetchRequest` and passes it as the function's first argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.outcome import JSONValue

# The contract's functions (contract §2): name -> how many positional arguments it is called with.
SCRIPT_FUNCTIONS: Mapping[str, int] = {
    "VoipParseWebhookRequest": 1,
    "VoipGetCallLink": 1,
    "VoipTestConnection": 0,
    "VoipGetMembers": 0,
    "VoipGenerateCall": 2,
}
REQUIRED_FUNCTIONS: tuple[str, ...] = ("VoipParseWebhookRequest",)
PARSE_FUNCTION = "VoipParseWebhookRequest"

SettingValue = str | int | float | bool
DEFAULT_REQUEST_URL = "http://localhost/hooks/test"


@dataclass(frozen=True, slots=True)
class RequestData:
    """The HTTP request a webhook delivered, as plain data (never a server object)."""

    method: str = "POST"
    url: str = DEFAULT_REQUEST_URL
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestData:
        raw_headers = data.get("headers") or ()
        # A list (as to_json writes them) first: it is no Mapping, and asking costs an ABC check.
        if type(raw_headers) is not list and isinstance(raw_headers, Mapping):
            pairs = tuple((str(k), str(v)) for k, v in raw_headers.items())
        else:
            pairs = tuple([(str(k), str(v)) for k, v in raw_headers])  # (no generator frame)
        body = data.get("body")
        # Every field set here, through its slot (see _slot_setter), not through __init__.
        request = object.__new__(cls)
        _set_method(request, str(data.get("method") or "POST").upper())
        _set_url(request, str(data.get("url") or DEFAULT_REQUEST_URL))
        _set_headers(request, pairs)
        _set_body(request, None if body is None else str(body))
        return request


@dataclass(frozen=True, slots=True)
class Call:
    """One function of one script to run. `function=None` compiles and checks only."""

    source: str
    function: str | None
    args: tuple[JSONValue, ...] = ()
    request: RequestData | None = None
    settings: Mapping[str, SettingValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "function": self.function,
            "args": list(self.args),
            "request": self.request.to_json() if self.request else None,
            "settings": dict(self.settings),
        }

    def wire_json(self, source_sha256: str) -> dict[str, Any]:
        """What the pool sends a worker: `to_json` with the source named by its hash (the text
        travels apart, and only to a worker that lacks it). It encodes to the same JSON text
        as `to_json` would (tuples are arrays as lists are), without copying into lists."""
        request = self.request
        return {
            "function": self.function,
            "args": self.args,
            "request": None if request is None else {
                "method": request.method, "url": request.url, "headers": request.headers,
                "body": request.body,
            },
            "settings": dict(self.settings),
            "source_sha256": source_sha256,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        request = data.get("request")
        call = object.__new__(cls)  # every field set here, as in RequestData.from_json
        _set_source(call, str(data["source"]))
        _set_function(call, data.get("function"))
        _set_args(call, tuple(data.get("args") or ()))
        _set_request(call, RequestData.from_json(request) if request is not None else None)
        _set_settings(call, dict(data.get("settings") or {}))
        return call


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """How from_json sets a field of a frozen slots dataclass: its slot's own setter, made once.
    The generated __init__ sets each field through object.__setattr__ (frozen), which costs
    about half again as much per field; a call crosses the pipe once per call."""
    setter: Callable[[Any, Any], None] = cls.__dict__[name].__set__
    return setter


_set_method, _set_url, _set_headers, _set_body = (
    _slot_setter(RequestData, name) for name in ("method", "url", "headers", "body"))
_set_source, _set_function, _set_args, _set_request, _set_settings = (
    _slot_setter(Call, name) for name in ("source", "function", "args", "request", "settings"))


class HostBridge(Protocol):
    """The worker's line to its host, for `fetch()` and `storage`.

    `request` sends one capability request (plain JSON, e.g. {"op": "storage.get", "key": "k"})
    and blocks until the host answers with plain JSON: {"ok": true, ...} or
    {"ok": false, "error": "message"}.
    """

    def request(self, payload: dict[str, JSONValue]) -> dict[str, JSONValue]: ...
