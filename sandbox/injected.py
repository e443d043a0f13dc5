"""Objects injected into a script's namespace (contract §3), written for the sandbox.

None of them holds a path to the host: read-only plain data, a response builder, and small
capability objects whose only way out is `HostBridge.request` with plain JSON. Each call gets
fresh instances (`make_injected`), so nothing a script keeps can reach the next call; what every
call shares (`SHARED_INJECTED`: classes, enums, a factory function) cannot be changed by a script.

Whatever a script hands to `storage` and `fetch()` is first copied by the exact-types rule
(sandbox/convert.py), so host code never serialises, holds or calls a script's object (a dict
subclass's own `items()`, a str subclass's own `isalpha()`). `print` and `log` format with
`str()`, in the script's own context: under the guards' rules and the CPU limit, never inside a
host exchange. All of them refuse to go on once the call is stopped (sandbox/stopping.py).
"""

from __future__ import annotations

import datetime
import difflib
import enum
import json
import re
import sys
import urllib.parse
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from types import MappingProxyType
from typing import Any, Final, NoReturn

from sandbox import script_types, stopping
from sandbox.call import HostBridge, RequestData
from sandbox.convert import ResultError, Special, Target, TooLarge, to_plain_json
from sandbox.jsontext import loads

STORAGE_KEY_MAX_CHARS: Final = 200
STORAGE_VALUE_MAX_BYTES: Final = 64 * 1024
FETCH_BODY_MAX_BYTES: Final = 1024 * 1024
# Nesting a storage value or a JSON fetch body may have (results have their own limit).
PLAIN_JSON_MAX_DEPTH: Final = 64


class FetchError(Exception):
    """A fetch() the host refused or that failed; the message says which."""


class StorageError(Exception):
    """A storage operation the host refused (a limit, a bad key or value)."""


# An argument left out (where None is a value a script may give).
_NOT_GIVEN: Final = object()


@script_types.shown_as("EnumType")
class _ContractEnumType(enum.EnumType):
    """The contract's enums' own metaclass. `VoipCallDisposition("busy")` (a provider's value
    turned into a member, as scripts do on every webhook) finds an exact str among the
    members' values at once; any other call goes the enum machinery's own way, with its
    errors. (Also what tells the guards a class is one of these enums: no other class has it.)
    """

    def __call__(cls, value: Any = _NOT_GIVEN, *args: Any, **kwargs: Any) -> Any:
        if type(value) is str and not args and not kwargs:
            by_value = _MEMBERS_BY_VALUE.get(cls)
            if by_value is not None:
                member = by_value.get(value)
                if member is not None:
                    return member
                raise ValueError(_not_a_value(cls, value))  # type: ignore[arg-type]
        if cls in _MEMBERS_BY_VALUE and (value is _NOT_GIVEN or args or kwargs):
            # Said as the script wrote it: Python's own words named this metaclass
            # ("_ContractEnumType.__call__() missing 1 required positional argument"), or
            # the enum machinery's functional API ("<enum 'a'> cannot extend ...").
            given = len(args) + len(kwargs) + (value is not _NOT_GIVEN)
            raise TypeError(f"{cls.__name__}() takes one value, as {cls.__name__}('...') "
                            f"({given} arguments given)")
        return super().__call__(value, *args, **kwargs)

    def __contains__(cls, value: Any) -> bool:
        # `if status in VoipCallDisposition:` with a provider's string: True when it is a
        # member's value, as Python 3.12 and later answer (3.11's enum raised TypeError, so a
        # module that worked on the builder's own Python failed here).
        by_value = _MEMBERS_BY_VALUE.get(cls)
        if by_value is None:
            return super().__contains__(value)
        if isinstance(value, cls):
            return True
        # Only an exact str is looked up (no script object's hash or equality runs here);
        # anything else is no member's value.
        return type(value) is str and value in by_value

    def __getitem__(cls, name: Any) -> Any:
        try:
            return super().__getitem__(name)
        except KeyError:
            if cls not in _MEMBERS_BY_VALUE or type(name) is not str:
                raise
            # TypeScript's `VoipCallDirection[name]`, ported as written: a KeyError still,
            # saying which enum and the member meant, as `VoipCallDirection.Inbound` does.
            raise MemberKeyError(_not_a_member(cls, name)) from None  # type: ignore[arg-type]

    def __getattr__(cls, name: str) -> Any:
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name.startswith("_") or cls not in _MEMBERS_BY_VALUE:
                raise
            # Python 3.11 says only "NoAnwser": say which enum, and the member meant.
            raise AttributeError(_not_a_member(cls, name)) from None  # type: ignore[arg-type]


class MemberKeyError(KeyError):
    """`VoipCallDirection["Inbound"]`: a KeyError, whose message is shown as it is written
    (a KeyError's is shown as the repr of the missing key)."""

    def __str__(self) -> str:
        return str(self.args[0])


MemberKeyError.__name__ = MemberKeyError.__qualname__ = "KeyError"


def _not_a_member(kind: type[enum.StrEnum], name: str) -> str:
    message = f"{kind.__name__} has no member {name!r}"
    for member in kind:
        # A provider's spelling looked up by name: "NOANSWER", "NO_ANSWER", "no_answer".
        if _plain(name) in (_plain(member.name), _plain(member.value)):
            return f"{message}; did you mean {kind.__name__}.{member.name}?"
    close = difflib.get_close_matches(name, [m.name for m in kind], n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {kind.__name__}.{close[0]}?"
    return f"{message}; its members: {', '.join(m.name for m in kind)}"


def _plain(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _not_a_value(kind: type[enum.StrEnum], value: str) -> str:
    """Python's "'no answer' is not a valid VoipCallDisposition", with the member meant when
    the text spells one in another way (a provider's "no answer", "NO_ANSWER", the member's
    name "NoAnswer"), as the result validation says it; else the values there are."""
    message = f"{value!r} is not a valid {kind.__name__}"
    for member in kind:
        if _plain(value) in (_plain(member.name), _plain(member.value)):
            return f"{message}; did you mean {kind.__name__}.{member.name} ({member.value!r})?"
    values = ", ".join(repr(m.value) for m in kind)
    return f"{message}; its values: {values}"


class VoipCallDirection(enum.StrEnum, metaclass=_ContractEnumType):
    In = "in"
    Out = "out"
    Internal = "internal"


class VoipCallDisposition(enum.StrEnum, metaclass=_ContractEnumType):
    Answered = "answered"
    Busy = "busy"
    Cancel = "cancel"
    NoAnswer = "no_answer"
    Failed = "failed"
    NoMoney = "no_money"
    UnallocatedNumber = "unallocated_number"
    NoLimit = "no_limit"
    NoDayLimit = "no_day_limit"
    LineLimit = "line_limit"
    NoMoneyNoLimit = "no_money_no_limit"
    Unknown = "unknown"


class VoipWebhookEvent(enum.StrEnum, metaclass=_ContractEnumType):
    NotifyStart = "notify_start"
    NotifyInternal = "notify_internal"
    NotifyAnswer = "notify_answer"
    NotifyEnd = "notify_end"
    NotifyOutStart = "notify_out_start"
    NotifyOutEnd = "notify_out_end"


CONTRACT_ENUMS: Final[tuple[type[enum.StrEnum], ...]] = (
    VoipCallDirection,
    VoipCallDisposition,
    VoipWebhookEvent,
)
# Each contract enum's members by their value, for `_ContractEnumType.__call__` (a plain dict:
# reading the class's own map goes through the enum metaclass's slow attribute lookup).
_MEMBERS_BY_VALUE: Final[dict[type, dict[str, enum.Enum]]] = {
    kind: {member.value: member for member in kind} for kind in CONTRACT_ENUMS
}
# The contract's enum members cross to the host as their plain string values.
ENUM_CONVERSIONS: Final[Special] = {kind: str.__str__ for kind in CONTRACT_ENUMS}


class _Frozen:
    """Base for injected objects: attributes are set once in __init__, never by a script."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only")

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            _set(self, name, value)


# How our own code sets a _Frozen object's attributes (once, in __init__, or a lazy part).
_set: Final = object.__setattr__


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """`_set` for one slot of `cls`, made once: the slot's own setter, without the attribute
    lookup `object.__setattr__` makes each time (for the objects made on every call)."""
    setter: Callable[[Any, Any], None] = cls.__dict__[name].__set__
    return setter


def _no_attribute(noun: str, name: str, offers: str,
                  hints: Mapping[str, str]) -> AttributeError:
    """An injected object's AttributeError in a builder's words: what the name they reached
    for is called here (`status_code`: `status`), and what the object has. "'ResponseBuilder'
    object has no attribute 'body'" named a class no script sees and said neither. Names
    starting with "_" get Python's plain error: the compiler refuses them in a script."""
    if name.startswith("_"):
        return AttributeError(name)
    hint = hints.get(name)
    said = f"{noun} has no attribute {name!r}"
    return AttributeError(f"{said}: {hint} ({noun} has {offers})" if hint
                          else f"{said} ({noun} has {offers})")


class ReadOnlyMapping(_Frozen, Mapping[str, Any]):
    """A mapping a script can read (`[k]`, get, in, keys, items, len, dict(m)) but not change."""

    __slots__ = ("_data", "_label")
    _data: dict[str, Any]
    _label: str

    def __init__(self, data: Mapping[str, Any], label: str) -> None:
        _set_mapping_data(self, dict(data))
        _set_mapping_label(self, label)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{self._label}({self._data!r})"

    # get/keys/items/values are Mapping's, but with Python's own argument errors they said
    # "Mapping.get() missing 1 required positional argument: 'key'": named here as the script
    # calls them (`settings.get()`).
    def get(self, key: Any = _NOT_GIVEN, default: Any = None, *extra: Any) -> Any:
        if key is _NOT_GIVEN or extra:
            noun = self._noun()
            raise TypeError(f"{noun}.get() missing 1 required positional argument: 'key'"
                            if key is _NOT_GIVEN else
                            f"{noun}.get() takes a key and a default ({2 + len(extra)} "
                            "arguments given)")
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self, *extra: Any) -> KeysView[str]:
        if extra:
            raise self._takes_no_arguments("keys", extra)
        return KeysView(self)

    def items(self, *extra: Any) -> ItemsView[str, Any]:
        if extra:
            raise self._takes_no_arguments("items", extra)
        return ItemsView(self)

    def values(self, *extra: Any) -> ValuesView[Any]:
        if extra:
            raise self._takes_no_arguments("values", extra)
        return ValuesView(self)

    # A dict's copy and merge, as a script writes them for a dict (`settings.copy()`,
    # `defaults | settings`): each a new plain dict the script may change.
    def copy(self, *extra: Any) -> dict[str, Any]:
        if extra:
            raise self._takes_no_arguments("copy", extra)
        return dict(self.items())

    def __or__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**dict(self.items()), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **dict(self.items())}

    def _takes_no_arguments(self, method: str, extra: tuple[Any, ...]) -> TypeError:
        return TypeError(f"{self._noun()}.{method}() takes no arguments ({len(extra)} given)")

    def _noun(self) -> str:
        """How a script names this mapping."""
        return _MAPPING_NOUNS.get(object.__getattribute__(self, "_label"), "this mapping")

    def __getattr__(self, name: str) -> NoReturn:
        # Reached only when no attribute has the name: the platform's scripts read settings
        # as attributes (`Namespace.params.data.apiKey`), so say how to read one here.
        if name.startswith("_"):
            raise AttributeError(name)
        noun = self._noun()
        if name in _DICT_CHANGES:
            raise AttributeError(f"{noun} is read-only, so it has no {name}(): {noun}.copy() "
                                 f"or dict({noun}) gives a dict to change")
        raise AttributeError(f"{noun} has no attribute {name!r}: read a value as "
                             f"{noun}[{name!r}] or {noun}.get({name!r})")


_set_mapping_data = _slot_setter(ReadOnlyMapping, "_data")
_set_mapping_label = _slot_setter(ReadOnlyMapping, "_label")

# A dict's methods that change it, which a read-only mapping lacks.
_DICT_CHANGES: Final = frozenset({"update", "pop", "popitem", "setdefault", "clear"})

# How a script names each of our mappings, for messages.
_MAPPING_NOUNS: Final = {"Settings": "settings", "Query": "request.query", "Headers": "headers"}


@script_types.shown_as("ReadOnlyMapping")  # as the published stub types request.headers
class CaseInsensitiveMapping(ReadOnlyMapping):
    """Headers: lookup ignores case; iteration gives the names as they were sent."""

    __slots__ = ("_names",)
    _names: dict[str, str]

    def __init__(self, pairs: Iterable[tuple[str, str]], label: str = "Headers") -> None:
        joined: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            # A repeated header is one value joined by ", ", as HTTP defines it.
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
            names.setdefault(key, name)
        super().__init__(joined, label)
        self._init(_names=names)

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str):
            raise KeyError(key)
        # str's own lower(): the key may be a script's str subclass with a `lower` of its own.
        return self._data[str.lower(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._names.values()))

    def __repr__(self) -> str:
        return f"{self._label}({dict(self.items())!r})"


def parse_pairs(text: str) -> dict[str, str]:
    """Query strings and form bodies: `+` is a space, blank is "", a repeated key keeps its last."""
    try:
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    except ValueError:
        return {}


def _parse_json_text(text: str | None, what: str) -> Any:
    # A body's UTF-8 byte order mark (some senders write one) is the encoding's marker, not
    # JSON: json.loads skips it in bytes, as RFC 8259 allows; the body reaches us as text.
    if text is not None and text.startswith("\ufeff"):
        text = text[1:]
    if text is None or not text.strip():
        raise ValueError(f"{what} is empty, not JSON")
    try:
        return loads(text)  # json.loads for a str, without its Python frames
    except ValueError as error:
        raise ValueError(f"{what} is not JSON: {error}") from None
    except RecursionError:
        # Valid JSON nested deeper than the call's stack allows: still a ValueError, as the
        # contract says, so the script's `except ValueError` answers such a sender too.
        raise ValueError(f"{what} is JSON nested too deeply to read") from None


class FetchRequest(_Frozen):
    """The webhook's HTTP request, read-only (contract §3 `request`).

    `headers` and `query` are built the first time the script reads them (most scripts read
    only the body) and then stay the same objects for the call.
    """

    __slots__ = ("_data", "_headers", "_query")
    # The request as the host gave it: a frozen RequestData of plain str and tuples, which no
    # script can reach (its name starts with "_"). Held whole: one field to set, not four.
    _data: RequestData
    _headers: CaseInsensitiveMapping | None
    _query: ReadOnlyMapping | None

    def __init__(self, data: RequestData) -> None:
        _set_request_data(self, data)
        _set_request_headers(self, None)
        _set_request_query(self, None)

    @property
    def method(self) -> str:
        return self._data.method

    @property
    def url(self) -> str:
        return self._data.url

    @property
    def headers(self) -> CaseInsensitiveMapping:
        headers = self._headers
        if headers is None:
            headers = CaseInsensitiveMapping(self._data.headers)
            _set(self, "_headers", headers)
        return headers

    @property
    def body(self) -> str | None:
        return self._data.body

    @property
    def query(self) -> ReadOnlyMapping:
        query = self._query
        if query is None:
            split = urllib.parse.urlsplit(self._data.url)
            query = ReadOnlyMapping(parse_pairs(split.query), "Query")
            _set(self, "_query", query)
        return query

    def json(self) -> Any:
        """The parsed body, a new object each call; ValueError when empty or not JSON."""
        return _parse_json_text(self._data.body, "the request body")

    def form(self) -> dict[str, str]:
        """The urlencoded body as a new plain dict; never raises."""
        body = self._data.body or ""
        # A byte order mark is the encoding's marker, not the first field's name (as in json()).
        return parse_pairs(body[1:] if body.startswith("\ufeff") else body)

    def __repr__(self) -> str:
        return f"FetchRequest(method={self._data.method!r}, url={self._data.url!r})"

    def __getattr__(self, name: str) -> NoReturn:
        raise _no_attribute("request", name, "method, url, headers, body, query, json() and "
                            "form()", _REQUEST_HINTS)


_BODY_HINT = "the body is request.body (text), request.json() or request.form()"
_QUERY_HINT = "the query string is request.query (a mapping)"
_REQUEST_HINTS: Final = {
    "data": _BODY_HINT, "text": _BODY_HINT, "content": _BODY_HINT, "get_data": _BODY_HINT,
    "get_json": "use request.json()", "POST": "use request.form()",
    "args": _QUERY_HINT, "params": _QUERY_HINT, "GET": _QUERY_HINT,
    "query_params": _QUERY_HINT, "query_string": _QUERY_HINT,
    "path": "request.url is the full URL: urllib.parse.urlsplit(request.url).path",
    "cookies": "read request.headers.get('Cookie')",
}


_set_request_data, _set_request_headers, _set_request_query = (
    _slot_setter(FetchRequest, name) for name in ("_data", "_headers", "_query"))


def _header_text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"a header {what} must be a string, not {type(value).__name__}")
    text = str.__str__(value) if isinstance(value, str) else str(value)
    _valid_unicode(text, f"a header {what}")
    if _HEADER_CONTROL.search(text):
        raise ValueError(
            f"a header {what} may not contain line breaks or control characters (TAB is allowed)")
    return text


# What HTTP forbids in a field value (RFC 9110 §5.5): control characters other than TAB, and
# DEL. The server refuses to write such a header, and only after the webhook's effects are
# stored, so the script is told when it sets one.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


@script_types.shown_as("HttpResponse")
class ResponseBuilder(_Frozen):
    """`HttpResponse()`: each method changes the builder and returns it (contract §3).

    A Content-Type set with `.header()` is the script's choice and stays, before or after
    `.content()`; `.content()` only supplies the type that goes with its value until then.
    """

    __slots__ = ("_body", "_headers", "_status", "_type_chosen")
    _status: int
    _headers: dict[str, tuple[str, str]]
    _body: str
    _type_chosen: bool

    def __init__(self) -> None:
        self._init(_status=200, _headers={}, _body="", _type_chosen=False)

    def status(self, code: int) -> ResponseBuilder:
        if type(code) is not int:
            raise TypeError(f"status must be an int, not {type(code).__name__}")
        if not 100 <= code <= 999:
            raise ValueError(f"status {code} is not an HTTP status")
        object.__setattr__(self, "_status", code)
        return self

    def content(self, value: str | dict[str, Any] | list[Any] | None) -> ResponseBuilder:
        if value is None:
            body = ""
        elif isinstance(value, str):
            body = str.__str__(value)
            self._default_type("text/plain; charset=utf-8")
        elif isinstance(value, dict | list):
            # A plain copy first (the exact-types rule): the host's json never calls a script's
            # own dict or list subclass (its items(), __iter__ ...).
            plain, _ = _plain_json(value, REPLY_CONTENT, REPLY_CONTENT_MAX_BYTES, ValueError)
            body = json.dumps(plain, ensure_ascii=False, allow_nan=False)
            self._default_type("application/json")
        else:
            raise TypeError(f"content() takes a str, dict or list, not {type(value).__name__}")
        object.__setattr__(self, "_body", body)
        return self

    def header(self, name: str, value: str) -> ResponseBuilder:
        name, value = _header_text(name, "name"), _header_text(value, "value")
        self._set_header(name, value)
        if name.lower() == "content-type":
            object.__setattr__(self, "_type_chosen", True)
        return self

    def _default_type(self, value: str) -> None:
        if not self._type_chosen:
            self._set_header("Content-Type", value)

    def _set_header(self, name: str, value: str) -> None:
        if not name:
            raise ValueError("a header name may not be empty")
        self._headers[name.lower()] = (name, value)

    def __repr__(self) -> str:
        return f"HttpResponse(status={self._status})"

    def __getattr__(self, name: str) -> NoReturn:
        raise _no_attribute("HttpResponse()", name, "status(code), header(name, value) and "
                            "content(value)", _RESPONSE_HINTS)


_CONTENT_HINT = "use content(value): a str, or a dict or list sent as JSON"
_RESPONSE_HINTS: Final = {
    "body": _CONTENT_HINT, "json": _CONTENT_HINT, "text": _CONTENT_HINT, "data": _CONTENT_HINT,
    "set_body": _CONTENT_HINT, "set_content": _CONTENT_HINT,
    "headers": "use header(name, value)", "set_header": "use header(name, value)",
    "status_code": "use status(code)", "code": "use status(code)", "set_status": "use status(code)",
}


def response_result(builder: ResponseBuilder) -> dict[str, Any]:
    """The builder as the plain data the worker sends: {"status", "headers", "body"}."""
    return {
        "status": builder._status,
        "headers": dict(builder._headers.values()),
        "body": builder._body,
    }


# Our own objects a result may hold (sandbox/convert.py's `special`).
RESULT_CONVERSIONS: Final[Special] = {**ENUM_CONVERSIONS, ResponseBuilder: response_result}


def HttpResponse() -> ResponseBuilder:
    """A new response builder; a factory function, so there is no class to subclass."""
    return ResponseBuilder()


class OutputLog:
    """The call's captured output, capped at `limit` UTF-8 bytes; beyond it, output is dropped."""

    __slots__ = ("_limit", "_parts", "_used", "truncated")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._used = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.truncated

    def write(self, text: str) -> None:
        if self.truncated or not text:
            return
        # A lone surrogate a script made must not break the JSON the worker sends.
        data = text.encode("utf-8", "backslashreplace")
        room = self._limit - self._used
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self._parts.append(data.decode("utf-8", "ignore"))
        self._used += len(data)

    def text(self) -> str:
        return "".join(self._parts)


def _print_text(objects: tuple[Any, ...], sep: Any, end: Any) -> str:
    sep = " " if sep is None else sep
    end = "\n" if end is None else end
    if not isinstance(sep, str) or not isinstance(end, str):
        raise TypeError("sep and end must be strings")
    # str's own join and concatenation: `sep` may be a script's str subclass with its own join.
    return str.join(sep, [str(obj) for obj in objects]) + end


class PrintCollector:
    """What `print` compiles to (RestrictedPython's `_print._call_print`), writing to the log."""

    __slots__ = ("_log",)

    def __init__(self, log: OutputLog) -> None:
        self._log = log

    def _call_print(
        self, *objects: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: Any = False
    ) -> None:
        if stopping.STOPPED is not None:
            raise stopping.refusal()
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox")
        if not self._log.full:  # past the limit, skip even the formatting
            self._log.write(_print_text(objects, sep, end))


def _named_as_scripts_call(owner: type, prefix: str, *methods: str) -> None:
    """Python's own TypeErrors name a method by its __qualname__ ("ResponseBuilder.status()
    missing 1 required positional argument"): give each the name a script calls it by."""
    for method in methods:
        function = owner.__dict__[method]
        function.__qualname__ = f"{prefix}.{method}" if prefix else method


_named_as_scripts_call(ResponseBuilder, "HttpResponse()", "status", "content", "header")
_named_as_scripts_call(FetchRequest, "request", "json", "form")
PrintCollector._call_print.__qualname__ = "print"


def make_log(output: OutputLog) -> Callable[..., None]:
    def log(*objects: Any, sep: Any = " ", end: Any = "\n", file: Any = None,
            flush: Any = False) -> None:
        """Write to the call's log, like print(): its arguments too (contract §3), `flush`
        meaning nothing, as for print here, and `file` refused alike."""
        if stopping.STOPPED is not None:
            raise stopping.refusal()
        if file is not None:
            raise TypeError("log(file=...) is not available in the sandbox")
        if not output.full:
            output.write(_print_text(objects, sep, end))

    # Python's own TypeErrors name the function by it ("log() got an unexpected keyword
    # argument"), not as "make_log.<locals>.log()", a name no script sees.
    log.__qualname__ = "log"
    return log


def _reply_error(reply: Any) -> str:
    error = reply.get("error") if isinstance(reply, dict) else None
    return str(error)[:2000] if error else "the host gave no reason"


STORAGE_VALUE: Final = Target(
    "the storage value", "value",
    "store dicts, lists, strings, numbers, booleans or None", None,
)
REPLY_CONTENT: Final = Target(
    "the content() value", "content",
    "give content() a str, or dicts, lists, strings, numbers, booleans or None", None,
)
# The reply's body limit (contract §4); the result's validation checks it again.
REPLY_CONTENT_MAX_BYTES: Final = 1024 * 1024
FETCH_BODY: Final = Target(
    "the fetch() body", "body",
    "send a str, or dicts, lists, strings, numbers, booleans or None", None,
)


def _plain_json(
    value: Any, target: Target, max_bytes: int, too_large: type[Exception]
) -> tuple[Any, int]:
    """A plain copy of `value` by the exact-types rule, and its size as compact JSON.

    TypeError names what is not plain JSON; `too_large` is raised beyond max_bytes.
    """
    try:
        # The converter's own count only bounds the work; the exact size is measured below.
        plain = to_plain_json(value, target, max_bytes=2 * max_bytes + 1024,
                              max_depth=PLAIN_JSON_MAX_DEPTH, special=ENUM_CONVERSIONS)
    except TooLarge as refused:
        raise too_large(str(refused)) from None
    except ResultError as refused:
        raise TypeError(str(refused)) from None
    # Exact builtin types only: the host's json runs none of the script's code here.
    text = json.dumps(plain, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise too_large(f"{target.noun} is {size} bytes as JSON; the limit is {max_bytes}")
    return plain, size


def _plain_text(value: Any, what: str) -> str:
    """A str argument as an exact str (a script's str subclass never reaches host code)."""
    if not isinstance(value, str):
        # A provider's numeric call id used as a key, as TypeScript's template keys allowed.
        hint = ": convert it with str()" if type(value) in (int, float) else ""
        raise TypeError(f"{what} must be a string, not {type(value).__name__}{hint}")
    return _valid_unicode(str.__str__(value), what)


def _valid_unicode(text: str, what: str) -> str:
    """`text`, which goes to the host as UTF-8: a lone surrogate is refused here, naming what
    held it, rather than failing as the host's message is encoded."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(f"{what} is not valid Unicode (a lone surrogate at position "
                             f"{error.start})") from None
    return text


def _plain_headers(headers: Any) -> dict[str, str]:
    """fetch()'s headers: a dict (or a mapping of ours, e.g. request.headers) of strings."""
    if type(headers) is dict:
        pairs = list(dict.items(headers))
    elif type(headers) in (ReadOnlyMapping, CaseInsensitiveMapping):
        pairs = list(headers.items())  # our own mapping: our own methods
    else:
        raise TypeError(f"fetch() headers must be a dict, not {type(headers).__name__}")
    return {_header_text(name, "name"): _header_text(value, "value") for name, value in pairs}


def _positive_seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -_FLOAT_MAX < value < _FLOAT_MAX  # an int beyond a float's range too
        or value <= 0
    ):
        raise ValueError(f"{what} must be a positive number of seconds or None"
                         + _seconds_hint(value))
    return float(value)


def _seconds_hint(value: Any) -> str:
    """What to write instead of a value that is not a positive number: a builder's timedelta
    (`ttl=timedelta(days=1)`) or a setting's text read as seconds. Exact types only: a
    script's own subclass is never asked anything here."""
    kind = type(value)
    if kind is datetime.timedelta:
        return ", not a timedelta: write delta.total_seconds()"
    if kind is str:
        return ", not a str: convert it with float() or int()"
    return ""


_FLOAT_MAX: Final = sys.float_info.max


class FetchResponse(_Frozen):
    """What fetch() returns: status, ok, headers, url, text(), json()."""

    __slots__ = ("_body", "_headers", "_status", "_url")
    _status: int
    _headers: CaseInsensitiveMapping
    _url: str
    _body: str

    def __init__(self, status: int, headers: CaseInsensitiveMapping, url: str, body: str) -> None:
        self._init(_status=status, _headers=headers, _url=url, _body=body)

    @property
    def status(self) -> int:
        return self._status

    @property
    def ok(self) -> bool:
        return 200 <= self._status < 300

    @property
    def headers(self) -> CaseInsensitiveMapping:
        return self._headers

    @property
    def url(self) -> str:
        return self._url

    def text(self) -> str:
        return self._body

    def json(self) -> Any:
        return _parse_json_text(self._body, "the response body")

    def __repr__(self) -> str:
        return f"FetchResponse(status={self._status}, url={self._url!r})"

    def __getattr__(self, name: str) -> NoReturn:
        raise _no_attribute("the response", name, "status, ok, headers, url, text() and json()",
                            _FETCH_RESPONSE_HINTS)


_TEXT_HINT = "the body is text() (or json())"
_FETCH_RESPONSE_HINTS: Final = {
    "status_code": "use status", "code": "use status", "reason": "use status",
    "content": _TEXT_HINT, "body": _TEXT_HINT, "data": _TEXT_HINT,
    "raise_for_status": "check ok (True for a 2xx status) or status yourself",
}


def _fetch_response(reply: dict[str, Any]) -> FetchResponse:
    try:
        status, url, body = reply["status"], reply["url"], reply["body"]
        pairs = [(str(k), str(v)) for k, v in reply.get("headers") or ()]
        if type(status) is not int or not isinstance(url, str) or not isinstance(body, str):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise FetchError("the host gave a malformed fetch reply") from None
    return FetchResponse(status, CaseInsensitiveMapping(pairs), url, body)


def make_fetch(host: HostBridge) -> Callable[..., FetchResponse]:
    def fetch(
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | dict[str, Any] | list[Any] | None = None,
        timeout: float | None = None,
        follow_redirects: bool = True,
        **unknown: Any,
    ) -> FetchResponse:
        """An HTTP request the host makes for the script; FetchError when refused or failed."""
        if unknown:
            name = next(iter(unknown))
            hint = _FETCH_KEYWORD_HINTS.get(name, "")
            raise TypeError(f"fetch() got an unexpected keyword argument {name!r}{hint}")
        stopping.refuse_if_stopped()
        plain_url = _plain_text(url, "fetch() url")
        if urllib.parse.urlsplit(plain_url).scheme.lower() not in ("http", "https"):
            raise ValueError("fetch() url must start with http:// or https://")
        if isinstance(method, dict):
            # JavaScript's fetch(url, {method, headers, body}), ported as it was written.
            raise TypeError(_FETCH_OPTIONS_OBJECT)
        if not isinstance(method, str) or not str.isalpha(method):
            raise ValueError("fetch() method must be a word such as GET or POST")
        plain_headers = {} if headers is None else _plain_headers(headers)
        text_body: str | None = None
        json_body: Any = None
        if isinstance(body, str):
            text_body = _valid_unicode(str.__str__(body), "fetch() body")
        elif isinstance(body, dict | list):
            json_body, _ = _plain_json(body, FETCH_BODY, FETCH_BODY_MAX_BYTES, ValueError)
        elif body is not None:
            raise TypeError("fetch() body must be a str, dict, list or None")
        reply = host.request(
            {
                "op": "fetch",
                "url": plain_url,
                "method": str.upper(method),
                "headers": plain_headers,
                "body": text_body,
                "json": json_body,
                "timeout": _positive_seconds(timeout, "fetch() timeout"),
                "follow_redirects": bool(follow_redirects),
            }
        )
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            raise FetchError(_reply_error(reply))
        return _fetch_response(reply)

    fetch.__qualname__ = "fetch"  # as log's, for Python's own TypeErrors
    return fetch


_FETCH_OPTIONS_OBJECT: Final = (
    "fetch() takes its options as keyword arguments, not as a dict: write "
    "fetch(url, method='POST', headers={...}, body=...) where JavaScript has "
    "fetch(url, {method, headers, body})")

# Keywords of the `requests` library a builder writes by habit, and what they are here.
_FETCH_KEYWORD_HINTS: Final = {
    "json": ": give the dict or list as body= (fetch() sends it as JSON)",
    "data": ": give the text as body=",
    "params": ": put the query string in the URL (url + '?' + urllib.parse.urlencode(params))",
    "allow_redirects": ": it is follow_redirects= here",
    "auth": ": set the Authorization header in headers=",
}


def _storage_key(key: Any) -> str:
    plain = _plain_text(key, "a storage key")
    if not plain or len(plain) > STORAGE_KEY_MAX_CHARS:
        # A storage limit (contract §3: "beyond a limit `set` raises StorageError").
        raise StorageError(f"a storage key must have 1 to {STORAGE_KEY_MAX_CHARS} characters")
    return plain


class Storage(_Frozen):
    """The module's key-value store (contract §3 `storage`), kept by the host."""

    __slots__ = ("_host",)
    _host: HostBridge

    def __init__(self, host: HostBridge) -> None:
        _set_storage_host(self, host)

    def _ask(self, payload: dict[str, Any]) -> dict[str, Any]:
        stopping.refuse_if_stopped()
        reply = self._host.request(payload)
        if not isinstance(reply, dict) or reply.get("ok") is not True:
            raise StorageError(_reply_error(reply))
        return reply

    def get(self, key: str, default: Any = None) -> Any:
        reply = self._ask({"op": "storage.get", "key": _storage_key(key)})
        if not reply.get("found"):
            return default
        # A copy, even when the bridge hands us its own object.
        return json.loads(json.dumps(reply.get("value")))

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        plain_key = _storage_key(key)
        plain, _ = _plain_json(value, STORAGE_VALUE, STORAGE_VALUE_MAX_BYTES, StorageError)
        self._ask({"op": "storage.set", "key": plain_key, "value": plain,
                   "ttl": _positive_seconds(ttl, "ttl")})

    def delete(self, key: str) -> None:
        self._ask({"op": "storage.delete", "key": _storage_key(key)})

    def __repr__(self) -> str:
        return "<storage>"

    def __getattr__(self, name: str) -> NoReturn:
        raise _no_attribute("storage", name, "get(key, default), set(key, value, ttl) and "
                            "delete(key)", _STORAGE_HINTS)


_STORAGE_HINTS: Final = {
    "put": "use set(key, value, ttl)", "save": "use set(key, value, ttl)",
    "pop": "use get(key) then delete(key)", "remove": "use delete(key)",
    "keys": "keys cannot be listed: keep a list of them under a key of its own",
    "items": "keys cannot be listed: keep a list of them under a key of its own",
}


_set_storage_host = _slot_setter(Storage, "_host")
_named_as_scripts_call(Storage, "storage", "get", "set", "delete")


# The injected names every call shares: a factory function, exception classes, the contract's
# enums and the result type constructors, none of which a script can change (`_write_` refuses
# them; the enums and type constructors refuse attribute writes themselves).
SHARED_INJECTED: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "HttpResponse": HttpResponse,
        "VoipCallDirection": VoipCallDirection,
        "VoipCallDisposition": VoipCallDisposition,
        "VoipWebhookEvent": VoipWebhookEvent,
        "FetchError": FetchError,
        "StorageError": StorageError,
        **script_types.TYPE_NAMES,
    }
)


def call_injected(
    *, host: HostBridge, settings: Mapping[str, Any], output: OutputLog
) -> dict[str, Any]:
    """The injected names that are the call's own: new objects bound to its host and log."""
    names: dict[str, Any] = {}
    add_call_injected(names, host, settings, output)
    return names


def add_call_injected(
    names: dict[str, Any], host: HostBridge, settings: Mapping[str, Any], output: OutputLog
) -> None:
    """`call_injected`'s names, put into `names` (the executor's namespace, as it is built)."""
    names["settings"] = ReadOnlyMapping(settings, "Settings")
    names["fetch"] = make_fetch(host)
    names["storage"] = Storage(host)
    names["log"] = make_log(output)


def make_injected(
    *, host: HostBridge, settings: Mapping[str, Any], output: OutputLog
) -> dict[str, Any]:
    """The injected names of one call, in a new dict (the shared ones and the call's own)."""
    names = dict(SHARED_INJECTED)
    names.update(call_injected(host=host, settings=settings, output=output))
    return names
