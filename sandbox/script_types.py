"""The injected type names of contract §3, defined once for the sandbox and the published stubs.

`FetchRequest` and `HttpResponse` are the request's and the builder's types; the other five
(`VoipWebhookParseResult`, `VoipWebhookRequest`, `VoipCallRecord`, `VoipTestConnectionResult`,
`VoipMember`) are like `TypedDict`s: called with keyword arguments, they return a plain dict
with those keys, so a script can write the platform's
`VoipWebhookParseResult(callRecord=VoipCallRecord(srcPhone=..., ...))`.

The sandbox injects exactly what `RESULT_TYPES` and `TYPE_NAMES` define here, and
sandbox/stubs.py writes the `.pyi` from the same rows: a key added here is in both at once.
The keys are the documented camelCase ones; a constructor also takes each key's snake_case
spelling (`VoipCallRecord(src_phone=...)`, `VoipTestConnectionResult(fail_reason=...)`), since
the result validation accepts it (contract §2, §4) and refusing in the constructor what the
result accepts would turn a Python developer's natural spelling into a TypeError. The dict keeps
the key as the script spelled it; the published stub declares both spellings.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeVar

from sandbox import stopping


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a result type: its name, its type as the stub writes it, required or not."""

    name: str
    stub_type: str
    required: bool
    doc: str

    @property
    def snake_name(self) -> str:
        """The snake_case spelling the result validation accepts too (`srcPhoneExt` ->
        `src_phone_ext`)."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name)


_C = TypeVar("_C", bound=type)


def shown_as(name: str) -> Callable[[_C], _C]:
    """Python's own messages name a value's class ("unsupported operand type(s) for +: 'X' and
    'int'", "'X' object is not callable", "Object of type X is not JSON serializable"): the
    class behind an injected name takes the name a script knows it by, never one of ours."""
    def rename(cls: _C) -> _C:
        cls.__name__ = cls.__qualname__ = name
        return cls
    return rename


def not_a_class(check: str, name: str, why: str) -> NoReturn:
    """isinstance()/issubclass() against an injected type name would otherwise fail with
    Python's "arg 2 must be a type", which names nothing; as for a TypedDict, the error says
    what to do instead."""
    raise TypeError(f"{check}() cannot check against {name}: {why}")


@shown_as("TypedDict")
class ResultType:
    """A `TypedDict`-like constructor a script calls: keyword arguments in, a plain dict out."""

    __slots__ = ("_doc", "_key_names", "_keys", "_name")
    _name: str
    _keys: Mapping[str, Key]
    _key_names: frozenset[str]
    _doc: str

    def __init__(self, name: str, doc: str, keys: tuple[Key, ...]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_doc", doc)
        object.__setattr__(self, "_keys", MappingProxyType({key.name: key for key in keys}))
        object.__setattr__(self, "_key_names", frozenset(
            spelling for key in keys for spelling in (key.name, key.snake_name)))

    def __call__(self, *args: Any, **values: Any) -> dict[str, Any]:
        if stopping.STOPPED is not None:
            raise stopping.refusal()
        if args:
            raise TypeError(
                f"{self._name}() takes keyword arguments only, such as "
                f"{self._name}({next(iter(self._keys))}=...)"
            )
        if self._key_names.issuperset(values):  # every key known: one C call
            # The keyword arguments' dict is the call's own, new for it: the plain dict itself.
            return values
        for name in values:
            if name not in self._key_names:
                close = difflib.get_close_matches(name, list(self._keys), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(self._keys)
                raise TypeError(
                    f"{self._name}() got an unknown key {name!r}{hint} (its keys: {known})"
                )
        return dict(values)

    def __getattr__(self, name: str) -> NoReturn:
        # Only reached for a name the object lacks (`VoipCallRecord.srcPhone`); Python's own
        # probes (`__deepcopy__`, a slot not yet set) get its plain error.
        if name.startswith("_"):
            raise AttributeError(name)
        first = next(iter(self._keys))
        raise AttributeError(f"{self._name} has no attribute {name!r}: it builds plain dicts, "
                             f"as {self._name}({first if name not in self._keys else name}=...)")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise TypeError(f"{self._name} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise TypeError(f"{self._name} is read-only")

    def __repr__(self) -> str:
        return f"<result type {self._name}>"

    def __instancecheck__(self, instance: Any) -> NoReturn:
        not_a_class("isinstance", self._name, "it builds plain dicts (check isinstance(x, dict))")

    def __subclasscheck__(self, subclass: Any) -> NoReturn:
        not_a_class("issubclass", self._name, "it builds plain dicts")


@shown_as("type")
class TypeName:
    """A type a script names in annotations but never builds: the runtime makes its objects."""

    __slots__ = ("_doc", "_name")
    _name: str
    _doc: str

    def __init__(self, name: str, doc: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_doc", doc)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{self._name} is made by the runtime, not by a script")

    def __getattr__(self, name: str) -> NoReturn:
        # Only reached for a name the object lacks (`FetchRequest.method`).
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self._name} has no attribute {name!r}: it names a type for annotations only")

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise TypeError(f"{self._name} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise TypeError(f"{self._name} is read-only")

    def __repr__(self) -> str:
        return f"<type {self._name}>"

    def __instancecheck__(self, instance: Any) -> NoReturn:
        not_a_class("isinstance", self._name, "it names a type for annotations only")

    def __subclasscheck__(self, subclass: Any) -> NoReturn:
        not_a_class("issubclass", self._name, "it names a type for annotations only")


def key_names(result_type: ResultType) -> tuple[Key, ...]:
    return tuple(result_type._keys.values())


def type_name(value: ResultType | TypeName) -> str:
    return value._name


def type_doc(value: ResultType | TypeName) -> str:
    return value._doc


_DIRECTION = Key("direction", "VoipCallDirectionValue", True, "the call's direction")
_DISPOSITION = Key(
    "disposition", "VoipCallDispositionValue", True, "outcome so far; Unknown while ringing"
)
_SRC = Key(
    "srcPhone",
    "str",
    True,
    "incoming: the client's number; outgoing and internal: the operator's internal number",
)
_DST = Key(
    "dstPhone",
    "str",
    True,
    "incoming and internal: the operator's internal number; outgoing: the client's number",
)
_CALL_ID = Key("callId", "str | None", False, "the provider's call id (at most 128 characters)")
_SRC_EXT = Key("srcPhoneExt", "str | None", False, "extension of the client's number, incoming")
_DST_EXT = Key("dstPhoneExt", "str | None", False, "extension of the client's number, outgoing")

VOIP_WEBHOOK_REQUEST: Final = ResultType(
    "VoipWebhookRequest",
    "A telephony event: the parse result's `event`.",
    (
        Key("event", "VoipWebhookEventValue", True, "what happened"),
        _DIRECTION,
        _DISPOSITION,
        _SRC,
        _DST,
        _CALL_ID,
        _SRC_EXT,
        _DST_EXT,
    ),
)

VOIP_CALL_RECORD: Final = ResultType(
    "VoipCallRecord",
    "A finished call and its recording: the parse result's `callRecord`.",
    (
        Key(
            "call",
            "Any",
            False,
            "what VoipGetCallLink needs to find the recording (JSON, at most 16 KiB)",
        ),
        _DIRECTION,
        _DISPOSITION,
        _SRC,
        _DST,
        Key("duration", "int | float", True, "seconds of conversation; 0 when not answered"),
        _CALL_ID,
        _SRC_EXT,
        _DST_EXT,
    ),
)

VOIP_WEBHOOK_PARSE_RESULT: Final = ResultType(
    "VoipWebhookParseResult",
    "What VoipParseWebhookRequest returns; every key is optional.",
    (
        Key("event", "VoipWebhookRequest | None", False, "a telephony event"),
        Key("callRecord", "VoipCallRecord | None", False, "a finished call and its recording"),
        Key(
            "response",
            "HttpResponse | HttpReply | None",
            False,
            "the reply sent to the webhook's caller",
        ),
    ),
)

VOIP_TEST_CONNECTION_RESULT: Final = ResultType(
    "VoipTestConnectionResult",
    "What VoipTestConnection returns.",
    (
        Key("success", "bool", True, "whether the provider answered as expected"),
        Key("failReason", "str | None", False, "why not, shown to the tenant"),
    ),
)

VOIP_MEMBER: Final = ResultType(
    "VoipMember",
    "One telephony account, as VoipGetMembers lists it.",
    (
        Key("id", "str", True, "the account's id (extension / internal number)"),
        Key("name", "str | None", False, "a name to show"),
    ),
)

# The parse result's `response` as a dict (contract §4), for a script that does not use the
# builder. Not one of the contract's five, but the published stub names it, so it is here too:
# a stub name the sandbox lacked passed `mypy --strict` and failed as a NameError.
HTTP_REPLY: Final = ResultType(
    "HttpReply",
    "A reply as a dict, instead of the HttpResponse builder.",
    (
        Key("status", "int", True, "the HTTP status, 200 to 599"),
        Key("headers", "dict[str, str]", False, "Content-Type, Cache-Control, Retry-After, X-..."),
        Key("body", "str", False, "the body as text (at most 1 MiB)"),
    ),
)

RESULT_TYPES: Final[tuple[ResultType, ...]] = (
    VOIP_WEBHOOK_PARSE_RESULT,
    VOIP_WEBHOOK_REQUEST,
    VOIP_CALL_RECORD,
    VOIP_TEST_CONNECTION_RESULT,
    VOIP_MEMBER,
    HTTP_REPLY,
)

FETCH_REQUEST_TYPE: Final = TypeName(
    "FetchRequest", "The webhook's HTTP request, read-only: the parse function's argument."
)
# The types of what fetch() returns and of `storage`, which the stub declares as classes:
# named here too, so a script the stub type-checks never meets a NameError for them.
FETCH_RESPONSE_TYPE: Final = TypeName("FetchResponse", "What fetch() returns.")
STORAGE_TYPE: Final = TypeName("Storage", "The type of `storage`.")

# The injected type names, by the name a script uses. (`HttpResponse` is injected by injected.py:
# it is the builder's factory, and names the builder's type in annotations.)
TYPE_NAMES: Final[Mapping[str, ResultType | TypeName]] = MappingProxyType(
    {
        "FetchRequest": FETCH_REQUEST_TYPE,
        "FetchResponse": FETCH_RESPONSE_TYPE,
        "Storage": STORAGE_TYPE,
        **{type_name(result_type): result_type for result_type in RESULT_TYPES},
    }
)
