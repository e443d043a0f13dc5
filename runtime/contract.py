"""What a tenant's script may return (spec/contract.md §2 and §4), as pydantic models.

The sandbox hands back plain JSON; `validate_result(function_name, value)` checks it against the
model for that function and returns the typed result, or raises `ResultInvalid` listing every
problem. Each problem names the key as the script wrote it (`callRecord.srcPhone` or
`call_record.src_phone`) and says why in plain words: pydantic's own wording never reaches a
tenant, because a module builder should not have to learn pydantic to fix their script.

Keys: the documented camelCase spelling and the snake_case one are both accepted (one alias
generator, below); giving both at once, or any other key, is an error that names the key.
Types are strict: `"74"` is not a number and `True` is not one either.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import sys
import types
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import (
    Annotated,
    Any,
    Final,
    Literal,
    TypedDict,
    Union,
    get_args,
    get_origin,
    overload,
)
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails, PydanticCustomError
from yarl import URL

from runtime.reply_policy import (
    ALLOWED_HEADERS,
    body_codec,
    content_type_refusal,
    header_refusal,
)
from runtime.result_bounds import pruned, values_over
from sandbox.injected import VoipCallDirection, VoipCallDisposition, VoipWebhookEvent
from sandbox.jsontext import JSONObject
from sandbox.limits import MEMBERS_RESULT_VALUES, RESULT_VALUES

__all__ = [
    "ALLOWED_HEADERS",
    "BODY_MAX_BYTES",
    "CALL_DATA_MAX_BYTES",
    "CALL_ID_MAX_BYTES",
    "CALL_LINK_MAX_CHARS",
    "HEADERS_MAX_BYTES",
    "MAX_PROBLEMS",
    "PHONE_EXT_MAX_BYTES",
    "PHONE_MAX_CHARS",
    "RESULT_MODELS",
    "SCRIPT_ENUM_NAMES",
    "CallDirection",
    "CallDisposition",
    "CallEvent",
    "CallLink",
    "CallRecord",
    "HttpReply",
    "Member",
    "MemberList",
    "NoResult",
    "ParseResult",
    "Problem",
    "ResultInvalid",
    "TestConnectionResult",
    "ValidatedResult",
    "WebhookEvent",
    "validate_result",
]

JSONValue = Any  # str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]

# ---------------------------------------------------------------------------------------------
# The enums are the very classes scripts use (`VoipCallDirection.In`): the sandbox defines them,
# since it injects them, and the values (ours, contract §3) live only there.

CallDirection = VoipCallDirection
CallDisposition = VoipCallDisposition
WebhookEvent = VoipWebhookEvent


# The names scripts know these enums by (injected into the sandbox under these names).
SCRIPT_ENUM_NAMES: Mapping[type[StrEnum], str] = {
    CallDirection: "VoipCallDirection",
    CallDisposition: "VoipCallDisposition",
    WebhookEvent: "VoipWebhookEvent",
}

# ---------------------------------------------------------------------------------------------
# Limits. The documented ones (§4) and ours (marked) in one place, so they can change.

PHONE_MAX_CHARS = 64
CALL_ID_MAX_BYTES = 128
PHONE_EXT_MAX_BYTES = 32
CALL_DATA_MAX_BYTES = 16 * 1024
BODY_MAX_BYTES = 1024 * 1024
STATUS_MIN, STATUS_MAX = 200, 599
CALL_LINK_MAX_CHARS = 2048  # ours
# Ours: a reply's headers as the script set them, together, each counted as sent ("Name:
# value\r\n", UTF-8). HTTP clients and proxies cap a response's header block (aiohttp 8 KiB a
# line, nginx's proxy buffer one 4 KiB page for all of it) and drop a reply beyond: the
# provider would retry a webhook whose effects were stored. Refused here, it is a named error.
HEADERS_MAX_BYTES = 4096
MAX_PROBLEMS = 20  # ours: a result with thousands of bad keys gets a readable report
# Ours: what the service's event loop checks of one result (runtime/result_bounds.py): the
# worker refuses more already (sandbox/limits.py), a breached one is refused here. The members
# of one module, as many as its bindings table holds (`tenant_limits.max_bindings_per_module`'s
# default), each a list item and at most two keys; the values of any other result.
MAX_MEMBERS = 20_000
MEMBERS_MAX_VALUES = MEMBERS_RESULT_VALUES
RESULT_MAX_VALUES = RESULT_VALUES

# ---------------------------------------------------------------------------------------------
# Plain-words errors. Our own validators raise `contract` errors whose text is final; pydantic's
# built-in errors are translated in `describe_error` below.


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A plain-words error; `key` names an entry inside the value checked (a header's name),
    for a check that needs the whole value (a dict) but should point at one of its keys."""
    # The text goes through ctx, not the template, so braces in a tenant's value stay literal.
    ctx: dict[str, Any] = {"message": message}
    if key is not None:
        ctx["key"] = key
    return PydanticCustomError("contract", "{message}", ctx)


def shown(value: Any) -> str:
    """A value as an error message shows it: its type and a short repr (`str '74'`)."""
    if value is None:
        return "None"
    if isinstance(value, dict | list):
        return type(value).__name__
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def conversion_hint(value: Any, wanted: Literal["str", "number"]) -> str:
    """Tell a tenant how to fix the commonest mistakes: numbers as strings and the reverse."""
    if wanted == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        return "; convert it with str()"
    if wanted == "number" and isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return "; convert it with int()"
        if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
            return "; convert it with float()"
    return ""


def utf8_size(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # json.loads turns "\ud800" into a lone surrogate, which cannot be stored or sent;
        # pydantic refuses it in str fields, this catches it in `call` data.
        raise problem(
            "contains a character that cannot be written in UTF-8 (a lone surrogate)"
        ) from None


def max_bytes(limit: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        size = utf8_size(text)
        if size > limit:
            raise problem(f"is too long: at most {limit} bytes in UTF-8 (got {size})")
        return text

    return check


def non_empty(text: str) -> str:
    if not text:
        raise problem("must not be empty")
    return text


_call_id_size = max_bytes(CALL_ID_MAX_BYTES)


def check_call_id(text: str) -> str:
    """Not empty, then not too long: the two checks in one validator (each validator is a call
    from pydantic into Python, and a call id comes with nearly every webhook)."""
    return _call_id_size(non_empty(text))


def enum_message(enum: type[StrEnum], value: Any) -> str:
    """What a script is told when `value` is none of `enum`'s members or values: the list of
    what is allowed, and the member it probably meant."""
    script_name = SCRIPT_ENUM_NAMES[enum]
    allowed = ", ".join(f"{m.name} ('{m.value}')" for m in enum)
    message = f"must be a {script_name}: {allowed} (got {shown(value)})"
    if isinstance(value, str):
        # Providers write "no answer" or "NoAnswer"; point at the member they meant.
        spelled = {m.value: m for m in enum} | {m.name.lower(): m for m in enum}
        key = re.sub(r"[\s,-]+", "_", value.strip().lower())
        close = difflib.get_close_matches(key, list(spelled), n=1, cutoff=0.75)
        if close:
            member = spelled[close[0]]
            message += f"; did you mean {script_name}.{member.name}?"
    return message


FLOAT_MAX: Final = sys.float_info.max


def read_duration(value: Any) -> int | float:
    # int or float, never bool (bool is an int in Python), never a string.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem(f"must be a number (got {shown(value)}){conversion_hint(value, 'number')}")
    if type(value) is int and not -FLOAT_MAX < value < FLOAT_MAX:
        # Stored as a float: an int beyond a float's range would raise OverflowError there.
        raise problem(f"must be a finite number (got an integer of {len(str(abs(value)))} digits)")
    if not math.isfinite(value):
        raise problem(f"must be a finite number (got {value!r})")
    if value < 0:
        raise problem(f"must be 0 or more (got {value!r})")
    if value == 0:
        return type(value)(0)  # -0.0 is 0 (PostgreSQL would keep and show the sign)
    return value


def check_call_data(value: Any) -> Any:
    try:
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise problem(f"must be plain JSON data (dicts, lists, strings, numbers): {exc}") from None
    size = utf8_size(compact)
    if size > CALL_DATA_MAX_BYTES:
        raise problem(
            f"is too large: at most {CALL_DATA_MAX_BYTES} bytes as compact JSON (got {size}); "
            "keep only what VoipGetCallLink needs, such as the recording's id"
        )
    return value


def check_status(value: int) -> int:
    if not STATUS_MIN <= value <= STATUS_MAX:
        raise problem(f"must be an HTTP status from {STATUS_MIN} to {STATUS_MAX} (got {value})")
    return value


# RFC 9110 token characters: a header name with anything else cannot be sent.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header_name(name: str) -> str:
    if not HEADER_NAME.fullmatch(name):
        raise problem("is not a valid header name")
    refusal = header_refusal(name)  # the allowlist lives in runtime.reply_policy
    if refusal is not None:
        raise problem(refusal)
    return name


# Control characters other than TAB, and DEL: HTTP forbids them in a field value (RFC 9110
# §5.5), and the server would refuse to write the reply after the webhook's effects were stored.
HEADER_VALUE_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def check_header_value(value: str) -> str:
    if HEADER_VALUE_CONTROL.search(value):
        raise problem("must not contain line breaks or control characters (TAB is allowed)")
    return value


def check_reply_headers(headers: dict[str, str]) -> dict[str, str]:
    """What needs the header's name and value together, or all the headers at once."""
    seen: dict[str, str] = {}
    size = 0
    for name, value in headers.items():
        size += len(name.encode("utf-8")) + len(value.encode("utf-8")) + 4  # ": ", CRLF
        lowered = name.lower()
        if lowered in seen:
            # A dict may hold `Content-Type` and `content-type`: both would be sent, and a
            # browser joins them and reads the last type.
            raise problem(f"is the same header as {seen[lowered]}; give it once", key=name)
        seen[lowered] = name
        if lowered == "content-type":
            refusal = content_type_refusal(value)
            if refusal is not None:
                raise problem(refusal, key=name)
    if size > HEADERS_MAX_BYTES:
        raise problem(f"are too large: at most {HEADERS_MAX_BYTES} bytes together as sent "
                      f"(got {size}); an HTTP client or a proxy may refuse a reply with more")
    return headers


def body_must_be_text(value: Any) -> Any:
    if isinstance(value, dict | list):
        raise problem(
            f"must be a string (got {shown(value)}); to send JSON use "
            "HttpResponse().content(obj), or json.dumps(obj) as the body"
        )
    return value


def check_body(body: str) -> str:
    size = utf8_size(body)
    if size > BODY_MAX_BYTES:
        raise problem(f"is too large: at most {BODY_MAX_BYTES} bytes in UTF-8 (got {size})")
    return body


def unencoded_link_hint(url: str) -> str:
    """What to do about a link with spaces, control or non-ASCII characters. quote() of the
    whole link breaks its `://` and cannot write a host: an international domain name has an
    ASCII form of its own (IDNA)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if not host.isascii():
        return ("must not contain non-ASCII characters; write the host in its ASCII form "
                "(host.encode(\"idna\").decode() gives xn--...) and percent-encode the path with "
                "urllib.parse.quote()")
    return ("must not contain spaces, control or non-ASCII characters; percent-encode the path "
            "and query with urllib.parse.quote() (not the whole link: it would encode its "
            "\"://\")")


def check_call_link(url: str) -> str:
    if len(url) > CALL_LINK_MAX_CHARS:
        raise problem(f"is too long: at most {CALL_LINK_MAX_CHARS} characters (got {len(url)})")
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise problem(unencoded_link_hint(url))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise problem(f"is not a valid URL (got {shown(url)})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise problem(f"must be an http or https URL (got {shown(url)})")
    if not parts.hostname:
        raise problem(f"must be an absolute URL with a host (got {shown(url)})")
    # The redirect that plays it is built by aiohttp, which reads the link with yarl; the two
    # parsers disagree on some links (a backslash in the authority), so yarl must take it too.
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise problem(f"is not a URL a browser can be sent to (got {shown(url)})") from None
    if parsed.scheme not in ("http", "https") or not parsed.is_absolute() or not parsed.host:
        raise problem(f"is not a URL a browser can be sent to (got {shown(url)})")
    return url


# ---------------------------------------------------------------------------------------------
# Field types.

# pydantic's str already refuses lone surrogates ("string_unicode"), so only sizes are ours.
Phone = Annotated[str, Field(min_length=1, max_length=PHONE_MAX_CHARS)]
# An empty call id would join unrelated calls (events are matched by it), so it is refused.
CallId = Annotated[str, AfterValidator(check_call_id)]
PhoneExt = Annotated[str, AfterValidator(max_bytes(PHONE_EXT_MAX_BYTES))]
# A member, or the string of its value, read by pydantic itself: lax for these fields alone,
# as strict takes only a member; no call into Python for each (three every webhook). (Lax
# would also read bytes as text; a result is JSON from the worker, which holds none.) When
# neither matches, describe_error writes what is allowed (enum_message).
Direction = Annotated[CallDirection, Strict(False)]
Disposition = Annotated[CallDisposition, Strict(False)]
Event = Annotated[WebhookEvent, Strict(False)]
Duration = Annotated[int | float, PlainValidator(read_duration)]
CallData = Annotated[JSONValue, AfterValidator(check_call_data)]
Status = Annotated[int, AfterValidator(check_status)]
HeaderName = Annotated[str, AfterValidator(check_header_name)]
HeaderValue = Annotated[str, AfterValidator(check_header_value)]
ReplyHeaders = Annotated[dict[HeaderName, HeaderValue], AfterValidator(check_reply_headers)]
Body = Annotated[str, BeforeValidator(body_must_be_text), AfterValidator(check_body)]
MemberId = Annotated[str, AfterValidator(non_empty)]
Link = Annotated[str, AfterValidator(check_call_link)]


# ---------------------------------------------------------------------------------------------
# Models.


class ContractModel(BaseModel):
    """A JSON object a script returns: camelCase or snake_case keys, strict types, no extras."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        # camelCase first: it is the documented spelling, used when a required key is missing.
        alias_generator=AliasGenerator(
            validation_alias=lambda name: AliasChoices(to_camel(name), name),
            serialization_alias=to_camel,
        ),
    )

    def to_json(self) -> dict[str, JSONValue]:
        """The documented camelCase JSON, absent keys left out (for storing and showing).

        The same dict on every call (the model is frozen): read it, do not change it. A
        webhook's event is dumped for the call history and again inside its result for the
        execution log: the second is this dict again, not a second pass through pydantic."""
        # Kept in the instance's __dict__ as functools.cached_property did, whose first read
        # took a lock in Python 3.11 (two a webhook). The entry is no field: it takes no part
        # in pydantic's equality, hashing or dumps. A second thread racing to fill it would
        # build an equal dict; these models are read on the event loop.
        data = self.__dict__.get("_json")
        if data is None:
            data = self.__dict__["_json"] = self._dump_json()
        return data

    def _dump_json(self) -> dict[str, JSONValue]:
        # A JSONObject: the store encodes it once however many columns hold it.
        return JSONObject(self.__pydantic_serializer__.to_python(
            self, mode="json", by_alias=True, exclude_none=True))


@functools.cache
def optional_spellings(model: type[BaseModel]) -> frozenset[str]:
    """Both spellings of a model's optional keys (computed once: this is the webhook hot path)."""
    return frozenset(
        spelling
        for name, field in model.model_fields.items()
        if not field.is_required()
        for spelling in (name, to_camel(name))
    )


class CallEvent(ContractModel):
    """`event`: a telephony event (the platform's VoipWebhookRequest)."""

    event: Event
    direction: Direction
    disposition: Disposition
    src_phone: Phone
    dst_phone: Phone
    call_id: CallId | None = None
    src_phone_ext: PhoneExt | None = None
    dst_phone_ext: PhoneExt | None = None

    def _dump_json(self) -> dict[str, JSONValue]:
        # Written out, not through the serializer (every webhook's event is dumped, for its
        # call's history; the serializer read each enum's value through 3.11's Python
        # property): the same keys in the same order (the fields'), absent ones left out.
        # test_contract compares the two over every member and every optional key. The fields
        # are read from the instance's __dict__, where pydantic keeps them: a read through the
        # model's attributes goes through pydantic's __getattr__ hook, some 370 instructions.
        fields = self.__dict__
        data = JSONObject(event=fields["event"]._value_, direction=fields["direction"]._value_,
                          disposition=fields["disposition"]._value_,
                          srcPhone=fields["src_phone"], dstPhone=fields["dst_phone"])
        call_id, src_ext, dst_ext = (fields["call_id"], fields["src_phone_ext"],
                                     fields["dst_phone_ext"])
        if call_id is not None:
            data["callId"] = call_id
        if src_ext is not None:
            data["srcPhoneExt"] = src_ext
        if dst_ext is not None:
            data["dstPhoneExt"] = dst_ext
        return data


class CallRecord(ContractModel):
    """`callRecord`: a finished call and its recording (the platform's VoipCallRecord)."""

    # None: the call has no recording, and no player is shown.
    call: CallData = None
    direction: Direction
    disposition: Disposition
    src_phone: Phone
    dst_phone: Phone
    duration: Duration
    call_id: CallId | None = None
    src_phone_ext: PhoneExt | None = None
    dst_phone_ext: PhoneExt | None = None


class NoneIsAbsent(ContractModel):
    """A contract model with an optional key that does not take None (its default is another
    value): such a key given None is left out before validation, so it reads as absent
    (contract §4). Every other model's optional keys take None and default to None, which is
    the same without the validator, a call from pydantic into Python for every result (a
    webhook's result and its event: test_contract checks that each model is one or the
    other)."""

    @model_validator(mode="before")
    @classmethod
    def none_is_absent(cls, data: Any) -> Any:
        """An optional key whose value is None counts as absent (contract §4)."""
        if not isinstance(data, dict):
            return data
        optional = optional_spellings(cls)
        for key, value in data.items():
            if value is None and key in optional:
                return {k: v for k, v in data.items() if not (v is None and k in optional)}
        # Nothing to leave out (most results): the dict itself, not a copy (pydantic does
        # not change its input).
        return data


class HttpReply(NoneIsAbsent):
    """`response`: the HttpResponse builder as the sandbox hands it over, or a script's dict."""

    status: Status
    headers: ReplyHeaders = Field(default_factory=dict)
    body: Body = ""

    @model_validator(mode="after")
    def body_fits_its_charset(self) -> HttpReply:
        """The body is sent in the charset its Content-Type names (`encoded_body`), so text
        that charset cannot hold makes the result invalid, as a too large body does."""
        codec = self.codec
        if codec != "utf-8" and self.body:
            try:
                self.body.encode(codec)
            except UnicodeEncodeError as error:
                bad = error.object[error.start]
                raise problem(
                    f"holds {bad!r} (U+{ord(bad):04X}, character {error.start + 1}), which "
                    f"its Content-Type's charset cannot carry ({self.content_type!r}); name "
                    "charset=utf-8, or leave out what it cannot carry", key="body") from None
        return self

    @property
    def content_type(self) -> str | None:
        return next((value for name, value in self.headers.items()
                     if name.lower() == "content-type"), None)

    @property
    def codec(self) -> str:
        """Python's codec for the body: its Content-Type's charset, else UTF-8."""
        return body_codec(self.content_type)

    def encoded_body(self) -> bytes:
        return self.body.encode(self.codec)


class ParseResult(ContractModel):
    """What VoipParseWebhookRequest returns; empty (`{}` or None) means nothing to do."""

    event: CallEvent | None = None
    call_record: CallRecord | None = None
    response: HttpReply | None = None

    def _dump_json(self) -> dict[str, JSONValue]:
        # Made of its parts' own dumps (what `model_dump` gives, the parts' dicts shared):
        # acting dumped the event or record already, for the call history, and the store
        # writes their texts again in this one's (sandbox/jsontext.py JSONObject).
        # (Its fields from its __dict__: see CallEvent._dump_json.)
        fields = self.__dict__
        event, call_record, response = (fields["event"], fields["call_record"],
                                        fields["response"])
        data = JSONObject()
        if event is not None:
            data["event"] = event.to_json()
        if call_record is not None:
            data["callRecord"] = call_record.to_json()
        if response is not None:
            data["response"] = response.to_json()
        return data


class TestConnectionResult(ContractModel):
    """What VoipTestConnection returns."""

    __test__ = False  # not a pytest test class, despite its name

    success: bool
    fail_reason: str | None = None


class Member(ContractModel):
    """One telephony account, for the bindings table."""

    id: MemberId
    name: str | None = None


class MemberList(RootModel[list[Member]]):
    """What VoipGetMembers returns: a list of members."""

    model_config = ConfigDict(strict=True, frozen=True)

    def to_json(self) -> list[dict[str, JSONValue]]:
        return [member.to_json() for member in self.root]


class CallLink(RootModel[Link]):
    """What VoipGetCallLink returns: the recording's http(s) URL, kept exactly as given."""

    model_config = ConfigDict(strict=True, frozen=True)

    @property
    def url(self) -> str:
        return self.root

    def to_json(self) -> str:
        return self.root


class NoResult(BaseModel):
    """What VoipGenerateCall's result validates to: it is ignored (contract §2)."""

    model_config = ConfigDict(frozen=True)

    def to_json(self) -> JSONValue:
        return None


# Every validated result can dump itself back to JSON with `to_json()`.
ValidatedResult = ParseResult | CallLink | TestConnectionResult | MemberList | NoResult

# Function name -> the model of its result.
RESULT_MODELS: Mapping[str, type[BaseModel]] = {
    "VoipParseWebhookRequest": ParseResult,
    "VoipGetCallLink": CallLink,
    "VoipTestConnection": TestConnectionResult,
    "VoipGetMembers": MemberList,
    "VoipGenerateCall": NoResult,
}

# What a function returning None is told, where None is not a valid result.
NONE_RESULT_HINT: Mapping[str, str] = {
    "VoipGetCallLink": "must be the recording's URL, a string (got None); did you forget return?",
    "VoipTestConnection": (
        'must be a dict such as {"success": True} (got None); did you forget return?'
    ),
    "VoipGetMembers": 'must be a list such as [{"id": "101"}] (got None); did you forget return?',
}


# What a parse function returning its reply itself is told (`return HttpResponse()...` rather
# than `return {"response": HttpResponse()...}`): the builder comes out as the reply's keys,
# none of which a parse result has, and "status: is not a known key" would not say why.
REPLY_KEYS = frozenset({"status", "headers", "body"})
BARE_REPLY_HINT = ('is a reply (what HttpResponse() builds), not a parse result: return it as '
                   '{"response": HttpResponse()...}')


def is_bare_reply(value: JSONValue) -> bool:
    return isinstance(value, dict) and "status" in value and set(value) <= REPLY_KEYS


# Likewise an event or a call record returned itself (`return VoipWebhookRequest(...)`, a name
# easily taken for the parse result's own): "event: must be a dict (got str 'notify_start')
# (and 4 more problems)" would not say why. `direction` is no key of a parse result.
def _spellings(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(n for name in model.model_fields for n in (name, to_camel(name)))


_EVENT_SPELLINGS = _spellings(CallEvent)
_RECORD_SPELLINGS = _spellings(CallRecord)
BARE_EVENT_HINT = ('is an event (what VoipWebhookRequest builds), not a parse result: return it '
                   'as {"event": VoipWebhookRequest(...)}')
BARE_RECORD_HINT = ('is a call record (what VoipCallRecord builds), not a parse result: return '
                    'it as {"callRecord": VoipCallRecord(...)}')


def bare_part_hint(value: JSONValue) -> str | None:
    """The hint for an event or a call record returned without its key, else None."""
    if not isinstance(value, dict) or "direction" not in value:
        return None
    keys = set(value)
    if keys <= _EVENT_SPELLINGS and not isinstance(value.get("event"), dict):
        return BARE_EVENT_HINT
    if keys <= _RECORD_SPELLINGS:
        return BARE_RECORD_HINT
    return None


# A trailing comma after the returned value (`return {"event": ...},`) makes a one-item tuple,
# which reaches the validation as a list: "must be a dict (got list)" names a type the script
# never wrote. Said only when the one item would itself be a valid result.
EXPECTED_KIND: Mapping[type[BaseModel], str] = {
    ParseResult: "a dict", CallLink: "a string", TestConnectionResult: "a dict",
    MemberList: "a list",
}


def trailing_comma_hint(model: type[BaseModel], value: JSONValue) -> str | None:
    """The hint for a valid result wrapped in a one-item tuple (or list), and for parse
    results returned side by side (`return {"event": ...}, {"callRecord": ...}`), else None."""
    if not isinstance(value, list) or not value or not all(
            is_valid(model, item) for item in value):
        return None
    if len(value) == 1:
        return (f"must be {EXPECTED_KIND[model]}, not a tuple or list holding one: a trailing "
                "comma after the returned value (`return x,`) makes a tuple; return the value "
                "itself")
    if model is ParseResult:
        return ("must be one dict, not a tuple or list of parse results: return their keys "
                'together, {"event": ..., "callRecord": ..., "response": ...}')
    return None


def is_valid(model: type[BaseModel], value: JSONValue) -> bool:
    try:
        model.__pydantic_validator__.validate_python(value)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The error a caller handles.


class Problem(TypedDict):
    key: str  # the key path as the script wrote it ("callRecord.srcPhone"); "" is the result
    message: str  # why, in plain words


class ResultInvalid(Exception):
    """A script returned a result the contract does not allow.

    `function_name`: the script function; `problems`: every problem found (at most
    MAX_PROBLEMS of them), each {"key", "message"}; `problem_count`: how many there were in all;
    `message` (also `str(exc)`): one line for logs and the execution log's summary.
    """

    def __init__(
        self, function_name: str, problems: list[Problem], problem_count: int | None = None
    ) -> None:
        self.function_name = function_name
        self.problems = problems[:MAX_PROBLEMS]
        self.problem_count = len(problems) if problem_count is None else problem_count
        first = problems[0] if problems else Problem(key="", message="is not valid")
        where = f"{first['key']}: " if first["key"] else ""
        more = self.problem_count - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        self.message = (
            f"{function_name} returned an invalid result: {where}{first['message']}{tail}"
        )
        super().__init__(self.message)

    def to_json(self) -> dict[str, JSONValue]:
        return {"message": self.message, "problems": [dict(p) for p in self.problems]}


# ---------------------------------------------------------------------------------------------
# The entry point.


@overload
def validate_result(
    function_name: Literal["VoipParseWebhookRequest"], value: JSONValue
) -> ParseResult: ...
@overload
def validate_result(function_name: Literal["VoipGetCallLink"], value: JSONValue) -> CallLink: ...
@overload
def validate_result(
    function_name: Literal["VoipTestConnection"], value: JSONValue
) -> TestConnectionResult: ...
@overload
def validate_result(function_name: Literal["VoipGetMembers"], value: JSONValue) -> MemberList: ...
@overload
def validate_result(function_name: Literal["VoipGenerateCall"], value: JSONValue) -> NoResult: ...
@overload
def validate_result(function_name: str, value: JSONValue) -> ValidatedResult: ...
def validate_result(function_name: str, value: JSONValue) -> ValidatedResult:
    """Check what `function_name` returned; the typed result, or `ResultInvalid`.

    A `ValueError` for a function name the contract does not have: that is the host's bug.
    """
    if function_name not in RESULT_MODELS:
        raise ValueError(f"not a contract function: {function_name!r}")
    model = RESULT_MODELS[function_name]
    if model is NoResult:
        return NoResult()  # VoipGenerateCall: whatever it returns is ignored (contract §2)
    if value is None:
        if model is ParseResult:
            return ParseResult()  # None means {} (contract §2)
        raise ResultInvalid(
            function_name, [Problem(key="", message=NONE_RESULT_HINT[function_name])]
        )
    too_large = result_too_large(model, value)
    if too_large is not None:
        raise ResultInvalid(function_name, [Problem(key="", message=too_large)])
    if model is ParseResult and is_bare_reply(value):
        raise ResultInvalid(function_name, [Problem(key="", message=BARE_REPLY_HINT)])
    if model is ParseResult and (hint := bare_part_hint(value)) is not None:
        raise ResultInvalid(function_name, [Problem(key="", message=hint)])
    try:
        # The model's validator itself: `model_validate` is a Python frame around it passing
        # six keyword arguments, all defaults here (every webhook's result comes this way).
        result = model.__pydantic_validator__.validate_python(value)
    except ValidationError as exc:
        if (hint := trailing_comma_hint(model, value)) is not None:
            raise ResultInvalid(function_name, [Problem(key="", message=hint)]) from None
        count = exc.error_count()
        # Only the problems the report shows are made into dicts (pydantic makes one for each
        # error it found, a second's work for 100,000) and put into words (each may look for
        # a spelling the script meant): the first ones, from a pruned copy when there are more.
        errors = (exc.errors(include_url=False) if count <= MAX_PROBLEMS
                  else first_errors(model, value, exc))
        problems = [describe_error(error, model, value) for error in errors[:MAX_PROBLEMS]]
        raise ResultInvalid(function_name, problems, problem_count=count) from None
    # The union made once (below), not on every call by `|`.
    assert isinstance(result, ValidatedResult)
    return result


def result_too_large(model: type[BaseModel], value: JSONValue) -> str | None:
    """Why `value` is too large for the event loop to check (runtime/result_bounds.py), or None.
    Its containers' lengths are read, never each of a long one's items."""
    if model is MemberList:
        if isinstance(value, list) and len(value) > MAX_MEMBERS:
            return (f"holds {len(value):,} members: at most {MAX_MEMBERS:,} (as many as a "
                    "module's bindings table holds); return the accounts users are bound to")
        budget = MEMBERS_MAX_VALUES
    else:
        budget = RESULT_MAX_VALUES
    if values_over(value, budget):
        return (f"holds more than {budget:,} values (dict keys and list items, at every "
                "depth); a valid one holds far fewer")
    return None


@functools.cache
def contract_keys() -> frozenset[str]:
    """Every key of every object a result holds, in both spellings: a pruned copy keeps them."""
    models = (ParseResult, CallEvent, CallRecord, HttpReply, TestConnectionResult, Member)
    return frozenset(key for model in models for key in _spellings(model))


def first_errors(model: type[BaseModel], value: JSONValue,
                 whole: ValidationError) -> list[ErrorDetails]:
    """The first errors of an invalid `value` with more than MAX_PROBLEMS of them (`whole`),
    found in a pruned copy (the call data kept whole: its size is one of the checks)."""
    try:
        model.__pydantic_validator__.validate_python(
            pruned(value, MAX_PROBLEMS + 1, contract_keys(), ("call",)))
    except ValidationError as exc:
        return exc.errors(include_url=False)[:MAX_PROBLEMS]
    # The copy passed: the problems lie beyond its first items (a list of valid members, then
    # invalid ones). The whole check's own errors, as many as the value counts allow.
    return whole.errors(include_url=False)[:MAX_PROBLEMS]


# ---------------------------------------------------------------------------------------------
# Translating pydantic's errors into plain words.


def describe_error(error: ErrorDetails, model: type[BaseModel], value: JSONValue) -> Problem:
    # "[key]" marks an error in a dict's key (a header name); the path names the key itself.
    loc = tuple(part for part in error["loc"] if part != "[key]")
    given = error.get("input")
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "contract" and "key" in ctx:
        loc = (*loc, str(ctx["key"]))
    if kind == "contract":
        message = str(ctx["message"])
    elif kind == "missing":
        message = "is required"
    elif kind == "enum" and (enum := annotation_at(model, loc)) in SCRIPT_ENUM_NAMES:
        message = enum_message(enum, given)
    elif kind == "extra_forbidden":
        message = unknown_key_message(model, value, loc)
    elif kind == "string_type":
        message = f"must be a string (got {shown(given)}){conversion_hint(given, 'str')}"
    elif kind == "bool_type":
        message = f"must be True or False (got {shown(given)})"
    elif kind in ("int_type", "int_from_float", "int_parsing"):
        message = f"must be a whole number (got {shown(given)}){conversion_hint(given, 'number')}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = f"must be a dict (got {shown(given)})"
    elif kind == "list_type":
        message = f"must be a list (got {shown(given)})"
    elif kind == "string_unicode":
        message = "contains a character that cannot be written in UTF-8 (a lone surrogate)"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind == "string_too_long":
        length = len(given) if isinstance(given, str) else "more"
        message = f"is too long: at most {ctx.get('max_length')} characters (got {length})"
    else:
        # Not expected with these models; still no pydantic wording for the tenant.
        message = f"is not valid here (got {shown(given)})"
    return Problem(key=key_path(loc), message=message)


def key_path(loc: tuple[int | str, ...]) -> str:
    """("callRecord", "srcPhone") -> "callRecord.srcPhone"; list items as "[2]"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        # A key is the tenant's text: keep the summary on one line and of a sane length.
        shown_part = part if part and part.isprintable() else repr(part)
        if len(shown_part) > 64:
            shown_part = shown_part[:61] + "..."
        text += f".{shown_part}" if text else shown_part
    return text


def unknown_key_message(
    model: type[BaseModel], value: JSONValue, loc: tuple[int | str, ...]
) -> str:
    key = str(loc[-1])
    known = known_keys(model, loc[:-1])
    parent = value_at(value, loc[:-1])
    for camel in known:
        # Both spellings given: pydantic took the camelCase one and calls the other extra.
        if key == to_snake(camel) != camel and isinstance(parent, dict) and camel in parent:
            return f"is the same key as {camel}; give only one of them"
    message = "is not a known key"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    lowered = {k.lower().replace("_", ""): k for k in known}
    if key.lower().replace("_", "") in lowered:
        close = [lowered[key.lower().replace("_", "")]]
    if close:
        return f"{message}; did you mean {close[0]}?"
    if known:
        return f"{message} (known keys: {', '.join(known)})"
    return message


def value_at(value: JSONValue, loc: tuple[int | str, ...]) -> JSONValue:
    for part in loc:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value


def known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The documented keys of the object at `loc` inside `model`'s JSON, for suggestions."""
    current = annotation_at(model, loc)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [to_camel(name) for name in current.model_fields]
    return []


def annotation_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> Any:
    """The type of the value at `loc` inside `model`'s JSON (unwrapped), or None."""
    current: Any = model
    for part in loc:
        current = unwrap(current)
        if isinstance(part, int):
            current = get_args(current)[0] if get_origin(current) is list else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            current = next(
                (f.annotation for n, f in current.model_fields.items() if part in (n, to_camel(n))),
                None,
            )
        else:
            return None
    return unwrap(current)


def unwrap(annotation: Any) -> Any:
    """The model or list type inside `X | None`, `Annotated[X, ...]` and RootModel[X]."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = options[0] if len(options) == 1 else None
        elif isinstance(annotation, type) and issubclass(annotation, RootModel):
            annotation = annotation.model_fields["root"].annotation
        else:
            return annotation
