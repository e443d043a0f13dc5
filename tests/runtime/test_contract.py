"""The contract's result validation (spec/contract.md §2, §4): each rule, passing and failing.

Failing cases assert the exact key named (as the script wrote it) and a fragment of the plain
message, because that is what a tenant reads in the execution log.
"""

from __future__ import annotations

import difflib
import encodings
import json
import math
from typing import Any, Final

import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError

from runtime.contract import (
    BODY_MAX_BYTES,
    CALL_DATA_MAX_BYTES,
    MAX_MEMBERS,
    MAX_PROBLEMS,
    RESULT_MAX_VALUES,
    RESULT_MODELS,
    CallDirection,
    CallDisposition,
    CallEvent,
    CallLink,
    CallRecord,
    ContractModel,
    HttpReply,
    MemberList,
    NoneIsAbsent,
    NoResult,
    ParseResult,
    Problem,
    ResultInvalid,
    WebhookEvent,
    describe_error,
    validate_result,
)
from runtime.contract import TestConnectionResult as ConnectionResult
from runtime.operations.dry_runs import reply_json
from runtime.reply_policy import REFUSED_X_HEADERS, REFUSED_X_PREFIXES
from runtime.runner import reply_for
from sandbox.call import SCRIPT_FUNCTIONS

PARSE: Final = "VoipParseWebhookRequest"


def problems_of(function: str, value: Any) -> list[Problem]:
    with pytest.raises(ResultInvalid) as caught:
        validate_result(function, value)
    return caught.value.problems


def only_problem(function: str, value: Any) -> Problem:
    problems = problems_of(function, value)
    assert len(problems) == 1, problems
    return problems[0]


def assert_problem(value: Any, key: str, fragment: str, function: str = PARSE) -> None:
    found = only_problem(function, value)
    assert found["key"] == key
    assert fragment in found["message"], found["message"]


def event(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event": "notify_start",
        "direction": "in",
        "disposition": "unknown",
        "srcPhone": "+79161234567",
        "dstPhone": "101",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not DROP}


def record(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "call": {"recordId": "rec-1"},
        "direction": "in",
        "disposition": "answered",
        "srcPhone": "+79161234567",
        "dstPhone": "101",
        "duration": 74,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not DROP}


def reply(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"status": 200, "headers": {}, "body": ""}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not DROP}


DROP = object()  # a key to leave out


# --- the enums and the function table -------------------------------------------------------


def test_enum_values_are_the_contracts() -> None:
    assert {m.name: m.value for m in CallDirection} == {
        "In": "in",
        "Out": "out",
        "Internal": "internal",
    }
    assert {m.name: m.value for m in CallDisposition} == {
        "Answered": "answered",
        "Busy": "busy",
        "Cancel": "cancel",
        "NoAnswer": "no_answer",
        "Failed": "failed",
        "NoMoney": "no_money",
        "UnallocatedNumber": "unallocated_number",
        "NoLimit": "no_limit",
        "NoDayLimit": "no_day_limit",
        "LineLimit": "line_limit",
        "NoMoneyNoLimit": "no_money_no_limit",
        "Unknown": "unknown",
    }
    assert {m.name: m.value for m in WebhookEvent} == {
        "NotifyStart": "notify_start",
        "NotifyInternal": "notify_internal",
        "NotifyAnswer": "notify_answer",
        "NotifyEnd": "notify_end",
        "NotifyOutStart": "notify_out_start",
        "NotifyOutEnd": "notify_out_end",
    }


def test_every_script_function_has_a_result_model() -> None:
    assert set(RESULT_MODELS) == set(SCRIPT_FUNCTIONS)


def test_unknown_function_is_the_hosts_bug() -> None:
    with pytest.raises(ValueError, match="not a contract function"):
        validate_result("VoipSomethingElse", {})


# --- the parse result: empty, keys and spellings --------------------------------------------


@pytest.mark.parametrize("value", [None, {}])
def test_empty_parse_result_means_nothing_to_do(value: Any) -> None:
    result = validate_result(PARSE, value)
    assert result == ParseResult()
    assert result.to_json() == {}


@pytest.mark.parametrize("value", [{"event": None}, {"callRecord": None, "response": None}])
def test_none_valued_keys_count_as_absent(value: Any) -> None:
    assert validate_result(PARSE, value) == ParseResult()


def test_none_valued_keys_of_an_event_and_a_record_count_as_absent() -> None:
    given = validate_result(PARSE, {
        "event": event(callId=None, srcPhoneExt=None, dst_phone_ext=None),
        "callRecord": record(call=None, callId=None, src_phone_ext=None, dstPhoneExt=None)})
    no_recording = record()
    del no_recording["call"]
    assert given == validate_result(PARSE, {"event": event(), "callRecord": no_recording})
    assert given.to_json() == {"event": event(), "callRecord": no_recording}


def _contract_models(model: type[ContractModel] = ContractModel) -> list[type[ContractModel]]:
    found = []
    for sub in model.__subclasses__():
        found += [sub, *_contract_models(sub)]
    return found


@pytest.mark.parametrize("model", _contract_models(), ids=lambda m: m.__name__)
def test_each_model_reads_an_optional_key_given_none_as_absent(
        model: type[ContractModel]) -> None:
    """Either the model leaves such keys out before validation (NoneIsAbsent), or each of its
    optional fields takes None and defaults to it: both read `{"key": None}` as no key."""
    if issubclass(model, NoneIsAbsent):
        return
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        assert field.default is None, name
        takes = TypeAdapter(field.rebuild_annotation(), config=ConfigDict(strict=True))
        assert takes.validate_python(None) is None, name


def test_event_with_camel_case_keys() -> None:
    result = validate_result(PARSE, {"event": event(callId="c-1", dstPhoneExt="55")})
    assert result.event == CallEvent(
        event=WebhookEvent.NotifyStart,
        direction=CallDirection.In,
        disposition=CallDisposition.Unknown,
        src_phone="+79161234567",
        dst_phone="101",
        call_id="c-1",
        dst_phone_ext="55",
    )


def test_snake_case_spellings_are_the_same_keys() -> None:
    camel = {"callRecord": record(callId="c-1", srcPhoneExt="12", dstPhoneExt="34")}
    snake = {
        "call_record": {
            "call": {"recordId": "rec-1"},
            "direction": "in",
            "disposition": "answered",
            "src_phone": "+79161234567",
            "dst_phone": "101",
            "duration": 74,
            "call_id": "c-1",
            "src_phone_ext": "12",
            "dst_phone_ext": "34",
        }
    }
    assert validate_result(PARSE, snake) == validate_result(PARSE, camel)


def test_to_json_gives_the_documented_camel_case_keys_back() -> None:
    given = {
        "event": event(callId="c-1"),
        "call_record": record(call={"a": None, "b": [1, 2.5]}, duration=0),
        "response": reply(status=201, headers={"X-Id": "7"}, body="ok"),
    }
    dumped = validate_result(PARSE, given).to_json()
    assert dumped == {
        "event": event(callId="c-1"),
        "callRecord": record(call={"a": None, "b": [1, 2.5]}, duration=0),
        "response": reply(status=201, headers={"X-Id": "7"}, body="ok"),
    }
    assert validate_result(PARSE, dumped).to_json() == dumped


@pytest.mark.parametrize("given", [
    {},
    {"event": event(callId="c-1", srcPhoneExt=None)},
    {"callRecord": record(call=None, callId=None), "response": reply(status=204)},
    {"event": event(), "call_record": record(call={"a": None}),
     "response": reply(status=201, headers={"X-Id": "7"}, body="ok")},
])
def test_a_parse_results_dump_is_pydantics_made_of_its_parts_dumps(given: dict[str, Any]
                                                                     ) -> None:
    """The result's dump reuses its parts' (the event is dumped for the call history first),
    and is what pydantic's own dump of the whole result gives; asked again, nothing is dumped
    again."""
    result = validate_result(PARSE, given)
    parts = {"event": result.event, "callRecord": result.call_record,
             "response": result.response}
    part_dumps = {key: part.to_json() for key, part in parts.items() if part is not None}
    dumped = result.to_json()
    assert dumped == result.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert list(dumped) == [key for key in parts if key in part_dumps]
    assert all(dumped[key] is part_dumps[key] for key in part_dumps)
    assert result.to_json() is dumped
    # Kept beside the fields, it changes no equality (with a result never dumped).
    assert result == validate_result(PARSE, given)
    assert result.event is None or result.event == validate_result(PARSE, given).event


def test_a_kept_dump_changes_no_hash_or_dump_of_the_model() -> None:
    """to_json keeps its dict in the instance beside the fields: hashing and pydantic's own
    dump see the fields only, as for a model never dumped."""
    dumped, fresh = validate_result(PARSE, {"event": event()}), validate_result(
        PARSE, {"event": event()})
    assert dumped.event is not None and fresh.event is not None
    dumped.to_json()
    assert hash(dumped.event) == hash(fresh.event)
    assert dumped.model_dump() == fresh.model_dump()


@pytest.mark.parametrize("member", [*CallDirection, *CallDisposition, *WebhookEvent])
def test_an_enums_value_text_reads_as_its_member(member: Any) -> None:
    """The value's plain text, or the member itself, gives the very member."""
    name = {CallDirection: "direction", CallDisposition: "disposition",
            WebhookEvent: "event"}[type(member)]
    for given in (str(member.value), member):
        result = validate_result(PARSE, {"event": event(**{name: given})})
        assert result.event is not None and getattr(result.event, name) is member


def test_an_events_json_is_the_serializers_dump() -> None:
    # CallEvent writes its JSON out by hand: the serializer's dump, key order included (the
    # stored text is what the history and the execution log show), for every member of each
    # enum and each optional key present or not.
    import itertools
    import json

    from runtime.contract import CallEvent, ContractModel

    optional = {"callId": "c-1", "srcPhoneExt": "12", "dstPhoneExt": "\u044f"}
    members = itertools.product(WebhookEvent, CallDirection, CallDisposition)
    for (kind, direction, disposition), present in itertools.product(
            members, itertools.product([False, True], repeat=len(optional))):
        given = {"event": kind.value, "direction": direction.value,
                 "disposition": disposition.value, "srcPhone": "+7916", "dstPhone": "101",
                 **{key: value for (key, value), on in zip(optional.items(), present,
                                                           strict=True) if on}}
        model = CallEvent.model_validate(given)
        dumped = model.to_json()
        expected = ContractModel._dump_json(model)
        assert json.dumps(dumped) == json.dumps(expected), given
        assert all(type(value) is str for value in dumped.values())


def test_to_json_leaves_out_absent_optional_keys() -> None:
    dumped = validate_result(PARSE, {"callRecord": record(call=None, callId=None)}).to_json()
    assert "call" not in dumped["callRecord"]
    assert "callId" not in dumped["callRecord"]


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ({"callrecord": record()}, "callrecord", "is not a known key; did you mean callRecord?"),
        ({"call_Record": record()}, "call_Record", "did you mean callRecord?"),
        ({"events": event()}, "events", "did you mean event?"),
        ({"event": event(srcphone="1")}, "event.srcphone", "did you mean srcPhone?"),
        ({"callRecord": record(length=3)}, "callRecord.length", "is not a known key"),
        ({"response": reply(code=200)}, "response.code", "known keys: status, headers, body"),
    ],
)
def test_an_unknown_key_is_named(value: Any, key: str, fragment: str) -> None:
    assert_problem(value, key, fragment)


def test_an_event_or_record_returned_without_its_key_says_how_to_return_it() -> None:
    # `return VoipWebhookRequest(...)`: it said "event: must be a dict (got str
    # 'notify_start') (and 4 more problems)".
    assert only_problem(PARSE, event()) == {
        "key": "", "message": 'is an event (what VoipWebhookRequest builds), not a parse '
                              'result: return it as {"event": VoipWebhookRequest(...)}'}
    snake = {"direction": "in", "disposition": "answered", "src_phone": "1", "dst_phone": "2",
             "duration": 3, "call": {"id": "r"}}
    for value in (record(), snake):
        assert only_problem(PARSE, value) == {
            "key": "", "message": 'is a call record (what VoipCallRecord builds), not a parse '
                                  'result: return it as {"callRecord": VoipCallRecord(...)}'}
    # Beside a parse result's own key, they are only unknown keys.
    assert [p["key"] for p in problems_of(PARSE, {**record(), "callRecord": record()})] == [
        k for k in record()]


@pytest.mark.parametrize("value", [
    {"status": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"},  # a builder
    {"status": 403},
])
def test_a_reply_returned_without_its_response_key_says_how_to_return_it(value: Any) -> None:
    assert only_problem(PARSE, value) == {
        "key": "", "message": 'is a reply (what HttpResponse() builds), not a parse result: '
                              'return it as {"response": HttpResponse()...}'}
    # Beside a parse result's own key, the reply's keys are only unknown.
    assert [p["key"] for p in problems_of(PARSE, {**value, "event": event()})] == [
        k for k in value]


def test_a_typo_does_not_pass_silently_even_beside_valid_keys() -> None:
    problems = problems_of(PARSE, {"event": event(), "callrecord": record()})
    assert [p["key"] for p in problems] == ["callrecord"]


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        (
            {"callRecord": record(), "call_record": record()},
            "call_record",
            "is the same key as callRecord; give only one of them",
        ),
        (
            {"event": event(src_phone="+79161234567")},
            "event.src_phone",
            "is the same key as srcPhone",
        ),
        (
            {"event": event(callId="a", call_id="a")},
            "event.call_id",
            "is the same key as callId",
        ),
    ],
)
def test_both_spellings_of_one_key_is_an_error(value: Any, key: str, fragment: str) -> None:
    assert_problem(value, key, fragment)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [([], "must be a dict (got list)"), ("ok", "must be a dict (got str 'ok')"), (1, "got int 1")],
)
def test_a_parse_result_must_be_a_dict(value: Any, fragment: str) -> None:
    assert_problem(value, "", fragment)


@pytest.mark.parametrize("part", ["event", "callRecord", "response"])
def test_each_part_must_be_a_dict(part: str) -> None:
    assert_problem({part: "x"}, part, "must be a dict (got str 'x')")


# --- event ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["event", "direction", "disposition", "srcPhone", "dstPhone"])
def test_event_required_keys(key: str) -> None:
    assert_problem({"event": event(**{key: DROP})}, f"event.{key}", "is required")


def test_a_missing_key_is_named_in_the_spelling_the_object_used_for_its_parent() -> None:
    assert_problem({"call_record": record(duration=DROP)}, "call_record.duration", "is required")


@pytest.mark.parametrize("kind", list(WebhookEvent))
def test_every_event_kind_as_member_or_value(kind: WebhookEvent) -> None:
    for given in (kind, kind.value):
        result = validate_result(PARSE, {"event": event(event=given)})
        assert result.event is not None
        assert result.event.event is kind


@pytest.mark.parametrize("disposition", list(CallDisposition))
def test_every_disposition(disposition: CallDisposition) -> None:
    result = validate_result(PARSE, {"event": event(disposition=disposition.value)})
    assert result.event is not None
    assert result.event.disposition is disposition


@pytest.mark.parametrize(
    ("key", "given", "fragment"),
    [
        ("direction", "incoming", "must be a VoipCallDirection: In ('in'), Out ('out')"),
        ("direction", "incoming", "(got str 'incoming')"),
        ("direction", "In", "did you mean VoipCallDirection.In?"),
        ("direction", 1, "(got int 1)"),
        ("disposition", "no answer", "did you mean VoipCallDisposition.NoAnswer?"),
        ("disposition", "NoAnswer", "did you mean VoipCallDisposition.NoAnswer?"),
        ("event", "NOTIFY_START", "did you mean VoipWebhookEvent.NotifyStart?"),
        ("event", "ringing", "must be a VoipWebhookEvent"),
    ],
)
def test_an_unknown_enum_value_is_refused(key: str, given: Any, fragment: str) -> None:
    assert_problem({"event": event(**{key: given})}, f"event.{key}", fragment)


def test_an_enum_value_must_be_from_its_own_enum() -> None:
    # "unknown" is a disposition, not a direction.
    assert_problem(
        {"event": event(direction=CallDisposition.Unknown)},
        "event.direction",
        "must be a VoipCallDirection",
    )


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("", "must not be empty"),
        ("1" * 65, "is too long: at most 64 characters (got 65)"),
        (79161234567, "must be a string (got int 79161234567); convert it with str()"),
        (None, "must be a string (got None)"),
        (["+7"], "must be a string (got list)"),
        ("\ud800", "cannot be written in UTF-8"),
    ],
)
def test_a_phone_is_a_non_empty_string_of_at_most_64_characters(given: Any, fragment: str) -> None:
    assert_problem({"event": event(srcPhone=given)}, "event.srcPhone", fragment)


def test_a_phone_of_64_characters_passes_and_is_kept_as_given() -> None:
    phone = "я" * 64  # characters, not bytes: the contract says "at most 64 characters"
    result = validate_result(PARSE, {"event": event(dstPhone=phone)})
    assert result.event is not None
    assert result.event.dst_phone == phone


@pytest.mark.parametrize(
    ("key", "limit"), [("callId", 128), ("srcPhoneExt", 32), ("dstPhoneExt", 32)]
)
def test_optional_strings_are_limited_in_utf8_bytes(key: str, limit: int) -> None:
    for at_limit in ("a" * limit, "я" * (limit // 2)):
        assert validate_result(PARSE, {"event": event(**{key: at_limit})}).event is not None
    for over in ("a" * (limit + 1), "я" * (limit // 2) + "a"):
        assert_problem(
            {"event": event(**{key: over})},
            f"event.{key}",
            f"is too long: at most {limit} bytes in UTF-8 (got {limit + 1})",
        )


@pytest.mark.parametrize("key", ["callId", "srcPhoneExt", "dstPhoneExt"])
def test_optional_strings_must_be_strings(key: str) -> None:
    assert_problem(
        {"event": event(**{key: 55})},
        f"event.{key}",
        "must be a string (got int 55); convert it with str()",
    )


def test_an_empty_call_id_is_refused() -> None:
    assert_problem({"event": event(callId="")}, "event.callId", "must not be empty")


def test_a_call_id_is_at_most_128_bytes_of_utf8() -> None:
    assert validate_result("VoipParseWebhookRequest", {"event": event(callId="я" * 64)})
    assert_problem({"event": event(callId="я" * 65)}, "event.callId",
                   "is too long: at most 128 bytes in UTF-8 (got 130)")


# --- callRecord -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["direction", "disposition", "srcPhone", "dstPhone", "duration"])
def test_call_record_required_keys(key: str) -> None:
    assert_problem({"callRecord": record(**{key: DROP})}, f"callRecord.{key}", "is required")


def test_a_negative_zero_duration_is_zero() -> None:
    # -0.0 is "0 or more"; kept as given, PostgreSQL stored and showed it as -0.0, SQLite as 0.
    result = validate_result(PARSE, {"callRecord": record(duration=-0.0)})
    assert result.call_record is not None
    assert math.copysign(1.0, result.call_record.duration) == 1.0
    assert result.to_json()["callRecord"]["duration"] == 0.0


@pytest.mark.parametrize("duration", [0, 74, 74.5, 0.0, 10**9])
def test_duration_is_a_number_kept_as_given(duration: float) -> None:
    result = validate_result(PARSE, {"callRecord": record(duration=duration)})
    assert result.call_record is not None
    assert result.call_record.duration == duration
    assert type(result.call_record.duration) is type(duration)
    assert type(result.to_json()["callRecord"]["duration"]) is type(duration)


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("74", "must be a number (got str '74'); convert it with int()"),
        ("74.5", "must be a number (got str '74.5'); convert it with float()"),
        ("long", "must be a number (got str 'long')"),
        (True, "must be a number (got bool True)"),
        (None, "must be a number (got None)"),
        (-1, "must be 0 or more (got -1)"),
        (-0.5, "must be 0 or more (got -0.5)"),
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        ([74], "must be a number (got list)"),
        # An int beyond a float's range: it is stored as a float (it raised OverflowError,
        # which escaped the validation as an internal error).
        pytest.param(10**400, "must be a finite number (got an integer of 401 digits)",
                     id="int-beyond-a-float"),
        pytest.param(-(10**400), "must be a finite number (got an integer of 401 digits)",
                     id="negative-int-beyond-a-float"),
    ],
)
def test_duration_must_be_a_number_of_at_least_zero(given: Any, fragment: str) -> None:
    assert_problem({"callRecord": record(duration=given)}, "callRecord.duration", fragment)


def test_duration_message_reads_as_one_line() -> None:
    with pytest.raises(ResultInvalid) as caught:
        validate_result(PARSE, {"callRecord": record(duration="74")})
    assert caught.value.message == (
        "VoipParseWebhookRequest returned an invalid result: callRecord.duration: "
        "must be a number (got str '74'); convert it with int()"
    )
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    "call", [{"recordId": "r"}, "rec-1", 17, 1.5, ["a", {"b": None}], True, {"nested": {"x": []}}]
)
def test_call_data_is_any_json_passed_unchanged(call: Any) -> None:
    result = validate_result(PARSE, {"callRecord": record(call=call)})
    assert result.call_record is not None
    assert result.call_record.call == call
    assert result.to_json()["callRecord"]["call"] == call


@pytest.mark.parametrize("value", [record(call=DROP), record(call=None)])
def test_no_call_data_means_no_recording(value: dict[str, Any]) -> None:
    result = validate_result(PARSE, {"callRecord": value})
    assert result.call_record is not None
    assert result.call_record.call is None


def test_call_data_is_measured_as_compact_utf8_json() -> None:
    # `{"k":"..."}` compact is exactly the limit; json.dumps' default spacing would be one over.
    filler = "x" * (CALL_DATA_MAX_BYTES - len('{"k":""}'))
    assert len(json.dumps({"k": filler}).encode()) == CALL_DATA_MAX_BYTES + 1
    assert validate_result(PARSE, {"callRecord": record(call={"k": filler})}).call_record
    assert_problem(
        {"callRecord": record(call={"k": filler + "x"})},
        "callRecord.call",
        f"is too large: at most {CALL_DATA_MAX_BYTES} bytes as compact JSON (got 16385)",
    )


def test_call_data_counts_bytes_not_characters() -> None:
    at_limit = "я" * ((CALL_DATA_MAX_BYTES - 2) // 2)  # two quotes + two bytes per letter
    assert validate_result(PARSE, {"callRecord": record(call=at_limit)}).call_record
    assert_problem(
        {"callRecord": record(call=at_limit + "я")},
        "callRecord.call",
        "(got 16386)",
    )


def test_call_data_must_be_plain_json() -> None:
    assert_problem(
        {"callRecord": record(call={"x": float("nan")})},
        "callRecord.call",
        "must be plain JSON data",
    )


def test_call_data_must_be_writable_as_utf8() -> None:
    assert_problem(
        {"callRecord": record(call={"x": "\ud800"})},
        "callRecord.call",
        "cannot be written in UTF-8",
    )


def test_call_record_accepts_enum_members() -> None:
    value = record(direction=CallDirection.Out, disposition=CallDisposition.NoAnswer)
    result = validate_result(PARSE, {"callRecord": value})
    assert result.call_record == CallRecord(
        call={"recordId": "rec-1"},
        direction=CallDirection.Out,
        disposition=CallDisposition.NoAnswer,
        src_phone="+79161234567",
        dst_phone="101",
        duration=74,
    )


# --- response ---------------------------------------------------------------------------------


def test_response_from_the_builder() -> None:
    given = reply(status=400, headers={"Content-Type": "text/plain; charset=utf-8"}, body="Hello")
    result = validate_result(PARSE, {"response": given})
    assert result.response == HttpReply(
        status=400, headers={"Content-Type": "text/plain; charset=utf-8"}, body="Hello"
    )


@pytest.mark.parametrize("given", [reply(headers=DROP, body=DROP), reply(headers=None, body=None)])
def test_response_headers_and_body_are_optional(given: dict[str, Any]) -> None:
    result = validate_result(PARSE, {"response": given})
    assert result.response == HttpReply(status=200, headers={}, body="")


@pytest.mark.parametrize("status", [200, 204, 400, 599])
def test_status_in_range(status: int) -> None:
    assert validate_result(PARSE, {"response": reply(status=status)}).response


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        (199, "must be an HTTP status from 200 to 599 (got 199)"),
        (600, "must be an HTTP status from 200 to 599 (got 600)"),
        ("200", "must be a whole number (got str '200'); convert it with int()"),
        (200.0, "must be a whole number (got float 200.0)"),
        (True, "must be a whole number (got bool True)"),
        (DROP, "is required"),
    ],
)
def test_status_must_be_an_int_from_200_to_599(given: Any, fragment: str) -> None:
    assert_problem({"response": reply(status=given)}, "response.status", fragment)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "text/plain"),
        ("content-type", "application/json"),
        ("CONTENT-TYPE", "text/csv"),
        ("Cache-Control", "no-store"),
        ("cache-control", "max-age=0, private"),
        ("RETRY-AFTER", "30"),
        ("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT"),
        ("X-Request-Id", "v"),
        ("x-lower", "v"),
        ("X-RateLimit-Remaining", "0"),
        # Names that only look like refused ones: the refused are exact names and prefixes.
        ("X-Accelerated", "v"),
        ("X-Real-Ip-Hint", "v"),
        ("X-Frame", "v"),
    ],
)
def test_allowed_headers(name: str, value: str) -> None:
    result = validate_result(PARSE, {"response": reply(headers={name: value})})
    assert result.response is not None
    assert result.response.headers == {name: value}


@pytest.mark.parametrize(
    "name",
    [
        "Set-Cookie",
        "set-cookie",
        "Location",
        "Content-Security-Policy",
        "Access-Control-Allow-Origin",
        "Content-Length",
        "Content-Disposition",
        "Content-Encoding",
        "Transfer-Encoding",
        "Link",
        "Refresh",
        "Strict-Transport-Security",
        "Clear-Site-Data",
        "Vary",
        "Xylophone",
    ],
)
def test_other_headers_make_the_result_invalid(name: str) -> None:
    assert_problem(
        {"response": reply(headers={name: "v"})},
        f"response.headers.{name}",
        "is not a header a script may set; allowed: Content-Type, Cache-Control, Retry-After "
        "and names beginning with X-",
    )


@pytest.mark.parametrize(
    ("headers", "key", "fragment"),
    [
        ({"X-Bad Name": "v"}, "response.headers.X-Bad Name", "is not a valid header name"),
        # A name a proxy would trim or fold into a refused one is not a header name at all.
        ({"X-Accel-Redirect ": "/i"}, "response.headers.X-Accel-Redirect ",
         "is not a valid header name"),
        ({" Set-Cookie": "a=1"}, "response.headers. Set-Cookie", "is not a valid header name"),
        ({"Set-Cookie:": "a=1"}, "response.headers.Set-Cookie:", "is not a valid header name"),
        ({"X-\u0410ccel-Redirect": "/i"}, "response.headers.X-\u0410ccel-Redirect",
         "is not a valid header name"),  # a Cyrillic A
        ({"": "v"}, "response.headers.''", "is not a valid header name"),
        ({"Retry-After": 30}, "response.headers.Retry-After", "convert it with str()"),
        ({"X-A": "a\r\nSet-Cookie: x"}, "response.headers.X-A", "must not contain line breaks"),
        ({"X-A": "a\x7f"}, "response.headers.X-A", "or control characters (TAB is allowed)"),
        ({"X-A": "\x1b[0m"}, "response.headers.X-A", "or control characters (TAB is allowed)"),
        (["X-A", "1"], "response.headers", "must be a dict (got list)"),
    ],
)
def test_header_names_and_values(headers: Any, key: str, fragment: str) -> None:
    assert_problem({"response": reply(headers=headers)}, key, fragment)


# RFC 9110's control characters: everything below a space but tab, and DEL. The HTTP server
# refuses to write any of them in a header, so such a reply must be the script's invalid
# result, not a reply that fails on its way out.
CONTROL_CHARACTERS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=lambda c: f"{ord(c):#04x}")
def test_a_control_character_in_a_header_value_makes_the_result_invalid(character: str) -> None:
    assert_problem({"response": reply(headers={"X-A": f"a{character}b"})},
                   "response.headers.X-A", "must not contain line breaks or control characters")


def test_tabs_and_any_other_text_in_a_header_value_are_accepted() -> None:
    value = "a\tb " + "".join(chr(c) for c in range(0x20, 0x7F)) + "\u00e9\u2028\u0085\U0001F600"
    validate_result(PARSE, {"response": reply(headers={"X-A": value})})  # raises if refused


# The X- names a proxy in front of the service, or a browser, acts on (contract §4). Written out
# here rather than read from runtime.reply_policy, so a name dropped from the list fails.
PROXY_AND_BROWSER_HEADERS = [
    # nginx
    "X-Accel-Redirect", "x-accel-redirect", "X-ACCEL-BUFFERING", "X-Accel-Charset",
    "X-Accel-Expires", "X-Accel-Limit-Rate",
    # Apache mod_xsendfile, lighttpd, and others
    "X-Sendfile", "x-sendfile", "X-SENDFILE", "X-Sendfile2", "X-Sendfile-Temporary",
    "X-LIGHTTPD-send-file", "X-Lighttpd-KBytes-per-second", "X-Reproxy-URL",
    "X-LiteSpeed-Location", "x-envoy-upstream-service-time",
    # what the proxy trusts about the client
    "X-Forwarded-For", "X-FORWARDED-HOST", "x-forwarded-proto", "X-Forwarded-Port",
    "X-Forwarded-Prefix", "X-Forwarded", "X-Real-IP", "x-real-ip", "X-Client-IP",
    "X-Cluster-Client-IP", "X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override",
    # what a browser applies to the service's address
    "X-Frame-Options", "x-frame-options", "X-Content-Type-Options", "X-XSS-Protection",
    "X-Content-Security-Policy", "X-WebKit-CSP", "X-DNS-Prefetch-Control",
    "X-Download-Options", "X-Permitted-Cross-Domain-Policies", "X-UA-Compatible",
]


@pytest.mark.parametrize("name", PROXY_AND_BROWSER_HEADERS)
def test_x_headers_a_proxy_or_browser_acts_on_make_the_result_invalid(name: str) -> None:
    found = only_problem(PARSE, {"response": reply(headers={"X-Fine": "1", name: "/etc/passwd"})})
    assert found["key"] == f"response.headers.{name}"
    assert found["message"].startswith("is not a header a script may set: ")
    assert "names beginning with X- other than those a proxy or browser acts on" in (
        found["message"])


@pytest.mark.parametrize(
    "name",
    [*REFUSED_X_HEADERS, *(prefix + "anything" for prefix in REFUSED_X_PREFIXES)],
)
def test_every_entry_of_the_refusal_lists_is_refused(name: str) -> None:
    # Names are compared in lower case: an entry written otherwise would never match.
    assert name == name.lower() and name.startswith("x-")
    for spelling in (name, name.upper(), name.title()):
        found = only_problem(PARSE, {"response": reply(headers={spelling: "v"})})
        assert found["key"] == f"response.headers.{spelling}"
        assert found["message"].startswith("is not a header a script may set: ")


def test_the_refusal_says_who_acts_on_the_header() -> None:
    found = only_problem(PARSE, {"response": reply(headers={"X-Accel-Redirect": "/internal/"})})
    assert "nginx acts on X-Accel-*" in found["message"]
    found = only_problem(PARSE, {"response": reply(headers={"X-Sendfile": "/etc/shadow"})})
    assert "X-Sendfile*" in found["message"]


def test_every_refused_header_is_named() -> None:
    headers = {"Set-Cookie": "a=1", "X-Accel-Redirect": "/i", "X-Ok": "1", "Location": "/"}
    problems = problems_of(PARSE, {"response": reply(headers=headers)})
    assert [p["key"] for p in problems] == [
        "response.headers.Set-Cookie",
        "response.headers.X-Accel-Redirect",
        "response.headers.Location",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "Application/Json;Charset=UTF-8",
        "application/problem+json",
        "application/ld+json",
        "Application/Vnd.Api+JSON",
        "application/xml",
        "text/xml",
        "text/xml; charset=windows-1251",
        "application/soap+xml; charset=utf-8",
        "application/atom+xml",
        "text/plain",
        "TEXT/PLAIN",
        "text/plain;charset=UTF-8",
        "text/plain ; charset=utf-8",
        'text/plain; charset="utf-8"',
        "text/plain;",
        "  text/plain\t",
        "text/csv",
        "text/csv; charset=utf-8; header=present",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "multipart/form-data; boundary=----x",
    ],
)
@pytest.mark.parametrize("name", ["Content-Type", "content-type"])
def test_content_types_a_browser_will_not_run(name: str, value: str) -> None:
    result = validate_result(PARSE, {"response": reply(headers={name: value}, body="x")})
    assert result.response is not None
    assert result.response.headers == {name: value}  # sent exactly as the script wrote it


@pytest.mark.parametrize(("content_type", "sent"), [
    ("text/xml; charset=windows-1251", "<name>Иван</name>".encode("cp1251")),
    ('text/plain; charset="KOI8-R"', "<name>Иван</name>".encode("koi8-r")),
    ("application/json; charset=utf-16", "<name>Иван</name>".encode("utf-16")),
    ("text/xml; charset=UTF-8", "<name>Иван</name>".encode()),
    ("text/xml", "<name>Иван</name>".encode()),
])
def test_a_reply_body_is_sent_in_the_charset_its_content_type_names(
        content_type: str, sent: bytes) -> None:
    """The body went out as UTF-8 whatever charset the script named: a PBX reading
    `charset=windows-1251` showed mojibake for "Иван"."""
    result = validate_result(PARSE, {"response": reply(
        headers={"Content-Type": content_type}, body="<name>Иван</name>")})
    assert reply_for(result).body == sent
    # A dry run, a replay and `voip-runtime run` show it as the text the provider reads.
    shown = reply_json(reply_for(result))
    assert shown is not None and shown["body"] == "<name>Иван</name>"


def test_a_reply_body_its_charset_cannot_carry_is_invalid() -> None:
    assert_problem({"response": reply(headers={"Content-Type": "text/plain; charset=latin-1"},
                                      body="Hi, Иван")},
                   "response.body", "holds 'И' (U+0418, character 5), which its Content-Type's "
                   "charset cannot carry ('text/plain; charset=latin-1'); name charset=utf-8")


@pytest.mark.parametrize("charset", ["x-no-such-charset-4f2a", "base64", "rot13", "idna"])
def test_a_reply_charset_that_is_no_text_encoding_is_invalid(charset: str) -> None:
    assert_problem({"response": reply(headers={"Content-Type": f"text/plain; charset={charset}"},
                                      body="x")},
                   "response.headers.Content-Type",
                   f"names charset '{charset}', which is no text encoding the service knows")
    # A name the codec registry does not know is never asked of it: the registry remembers
    # every name it is asked for, for the life of the process.
    assert "x-no-such-charset-4f2a" not in str(getattr(encodings, "_cache", {}))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        # pages
        ("text/html", "text/html is refused: a browser would show it as a page of the service"),
        ("TEXT/HTML", "text/html is refused"),
        ("text/html; charset=utf-8", "text/html is refused"),
        ("  Text/Html ;", "text/html is refused"),
        # scripts: every JavaScript MIME type the WHATWG lists, in several spellings
        ("text/javascript", "text/javascript is refused: a browser would run it as the "
                            "service's own script"),
        ("text/javascript ;", "text/javascript is refused"),
        ("text/javascript\t; charset=utf-8", "text/javascript is refused"),
        ("TEXT/JAVASCRIPT", "text/javascript is refused"),
        ("application/javascript", "application/javascript is refused"),
        ("application/x-javascript", "application/x-javascript is refused"),
        ("application/ecmascript", "application/ecmascript is refused"),
        ("application/x-ecmascript", "application/x-ecmascript is refused"),
        ("text/ecmascript", "text/ecmascript is refused"),
        ("text/x-ecmascript", "text/x-ecmascript is refused"),
        ("text/x-javascript", "text/x-javascript is refused"),
        ("text/jscript", "text/jscript is refused"),
        ("text/livescript", "text/livescript is refused"),
        ("text/javascript1.5", "text/javascript1.5 is refused"),
        ("application/wasm", "application/wasm is refused"),
        # styles
        ("text/css", "text/css is refused: a browser would apply it as the service's own "
                     "stylesheet"),
        ("Text/CSS; charset=utf-8", "text/css is refused"),
        # XML vocabularies that carry script
        ("image/svg+xml", "image/svg+xml is refused: a browser would run the scripts"),
        ("application/xhtml+xml", "application/xhtml+xml is refused"),
        ("application/xslt+xml", "application/xslt+xml is refused"),
        ("text/xsl", "text/xsl is refused"),
        # anything else not on the list
        ("application/octet-stream", "application/octet-stream is refused: it is not one of"),
        ("image/png", "image/png is refused"),
        ("application/pdf", "application/pdf is refused"),
        ("text/x-component", "text/x-component is refused"),
        ("text/json", "text/json is refused"),
        ("image/x+json", "image/x+json is refused"),
        # empty, or not one readable type: a browser would read the last one of a list
        ("", "must not be empty: leave Content-Type out or name a type"),
        ("   ", "must not be empty"),
        ("application/json, text/javascript", "must be one media type"),
        ("text/plain,text/css", "must be one media type"),
        ('text/plain; x="a,text/javascript"', "must be one media type"),
        ("json", "must be one media type"),
        ("application/", "must be one media type"),
        ("/json", "must be one media type"),
        ("application/json;;", "must be one media type"),
        ("text/plain; charset", "must be one media type"),
        ('text/plain; charset="utf-8', "must be one media type"),
        ("application/json\x0b", "must not contain line breaks or control characters"),
        ("application/json\x0c", "must not contain line breaks or control characters"),
        ("text/javascript\u00a0", "must be one media type"),
        ("text/javascr\u0456pt", "must be one media type"),  # a Cyrillic i
        ("application / json", "must be one media type"),
    ],
)
@pytest.mark.parametrize("name", ["Content-Type", "content-type", "CONTENT-TYPE"])
def test_content_types_a_browser_could_run_make_the_result_invalid(
    name: str, value: str, fragment: str
) -> None:
    assert_problem({"response": reply(headers={name: value})}, f"response.headers.{name}",
                   fragment)


def test_the_allowed_types_are_listed_in_the_refusal() -> None:
    found = only_problem(PARSE, {"response": reply(headers={"Content-Type": "text/html"})})
    assert found["message"].endswith(
        "; allowed: application/json and application/*+json, application/xml, text/xml and "
        "application/*+xml, text/plain, text/csv, application/x-www-form-urlencoded, "
        "multipart/form-data; any charset"
    )


def test_a_header_given_twice_in_different_case_is_refused() -> None:
    # Both would be sent; a browser joins them and reads the last type.
    assert_problem(
        {"response": reply(headers={"Content-Type": "text/plain", "content-type": "text/xml"})},
        "response.headers.content-type",
        "is the same header as Content-Type; give it once",
    )
    assert_problem(
        {"response": reply(headers={"X-Id": "1", "x-id": "2"})},
        "response.headers.x-id",
        "is the same header as X-Id",
    )


def test_a_response_without_content_type_is_valid() -> None:
    result = validate_result(PARSE, {"response": reply(headers={"X-Id": "1"}, body="ok")})
    assert result.response is not None and result.response.headers == {"X-Id": "1"}


def test_the_header_is_named_as_the_script_wrote_it() -> None:
    assert_problem(
        {"response": {"status": 200, "headers": {"Content-type": "text/css"}}},
        "response.headers.Content-type",
        "text/css is refused",
    )


@pytest.mark.parametrize("body", [{"ok": True}, [1, 2]])
def test_a_json_body_must_be_serialised_first(body: Any) -> None:
    assert_problem(
        {"response": reply(body=body)},
        "response.body",
        "must be a string (got " + type(body).__name__ + "); to send JSON use "
        "HttpResponse().content(obj), or json.dumps(obj) as the body",
    )


def test_body_must_be_a_string() -> None:
    assert_problem({"response": reply(body=5)}, "response.body", "must be a string (got int 5)")


def test_body_is_limited_to_one_mib_of_utf8() -> None:
    assert validate_result(PARSE, {"response": reply(body="a" * BODY_MAX_BYTES)}).response
    assert validate_result(PARSE, {"response": reply(body="я" * (BODY_MAX_BYTES // 2))}).response
    for over in ("a" * (BODY_MAX_BYTES + 1), "я" * (BODY_MAX_BYTES // 2) + "a"):
        assert_problem(
            {"response": reply(body=over)},
            "response.body",
            f"is too large: at most {BODY_MAX_BYTES} bytes in UTF-8 (got {BODY_MAX_BYTES + 1})",
        )


# --- all problems at once, in plain words ----------------------------------------------------


def test_every_problem_is_reported_with_a_summary_line() -> None:
    given = {
        "event": event(direction="sideways", srcPhone=""),
        "callRecord": record(duration="74"),
    }
    with pytest.raises(ResultInvalid) as caught:
        validate_result(PARSE, given)
    invalid = caught.value
    assert [p["key"] for p in invalid.problems] == [
        "event.direction",
        "event.srcPhone",
        "callRecord.duration",
    ]
    assert invalid.function_name == PARSE
    assert invalid.problem_count == 3
    assert invalid.message.startswith(
        "VoipParseWebhookRequest returned an invalid result: event.direction: "
    )
    assert invalid.message.endswith("(and 2 more problems)")
    assert invalid.to_json() == {
        "message": invalid.message,
        "problems": [dict(p) for p in invalid.problems],
    }


def test_many_problems_are_capped_but_counted() -> None:
    given = {f"key{i}": i for i in range(100)}
    with pytest.raises(ResultInvalid) as caught:
        validate_result(PARSE, given)
    assert len(caught.value.problems) == MAX_PROBLEMS
    assert caught.value.problem_count == 100
    assert caught.value.message.endswith("(and 99 more problems)")


def test_only_the_problems_shown_are_put_into_words(monkeypatch: pytest.MonkeyPatch) -> None:
    # Describing an unknown key looks for the spelling the script meant. A 2 MiB result holds
    # some 100,000 unknown keys: all were described (seconds of the service's event loop, for
    # every such webhook) and all but MAX_PROBLEMS thrown away.
    looked_up: list[str] = []
    real = difflib.get_close_matches

    def counted(word: str, *args: Any, **kwargs: Any) -> list[str]:
        looked_up.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    event = {"event": "notify_start", "direction": "in", "disposition": "unknown",
             "srcPhone": "1", "dstPhone": "2", **{f"x{i}": i for i in range(5000)}}
    with pytest.raises(ResultInvalid) as caught:
        validate_result(PARSE, {"event": event})
    assert caught.value.problem_count == 5000
    assert [p["key"] for p in caught.value.problems] == [f"event.x{i}" for i in range(20)]
    assert caught.value.message.endswith("(and 4999 more problems)")
    assert len(looked_up) == MAX_PROBLEMS


TOO_LARGE = (f"holds more than {RESULT_MAX_VALUES:,} values (dict keys and list items, at "
             "every depth); a valid one holds far fewer")


@pytest.mark.parametrize("value", [
    [1] * 1_000_000,
    [{"id": "1"}] * (MAX_MEMBERS + 1),
], ids=["ints", "valid-members"])
def test_a_members_list_longer_than_a_bindings_table_is_refused_by_its_length(
        value: list[Any]) -> None:
    # A million ints (2 MiB as JSON, within the result limit) were checked one by one in the
    # service's event loop and a dict made for each of the million errors: 8 s of every
    # tenant's webhooks waiting, for one "load members".
    assert only_problem("VoipGetMembers", value) == Problem(key="", message=(
        f"holds {len(value):,} members: at most {MAX_MEMBERS:,} (as many as a module's "
        "bindings table holds); return the accounts users are bound to"))


def test_a_members_list_as_long_as_a_bindings_table_is_checked_member_by_member() -> None:
    members = [{"id": str(i), "name": None if i % 2 else f"n{i}"} for i in range(MAX_MEMBERS)]
    result = validate_result("VoipGetMembers", members)
    assert isinstance(result, MemberList)
    assert len(result.to_json()) == MAX_MEMBERS
    with pytest.raises(ResultInvalid) as caught:
        validate_result("VoipGetMembers", [1] * MAX_MEMBERS)
    assert caught.value.problem_count == MAX_MEMBERS
    assert [p["key"] for p in caught.value.problems] == [f"[{i}]" for i in range(MAX_PROBLEMS)]


@pytest.mark.parametrize("value", [
    {f"k{i}": 1 for i in range(RESULT_MAX_VALUES + 1)},
    {"event": {f"k{i}": 1 for i in range(RESULT_MAX_VALUES)}},
    {"callRecord": {**record(), "call": [[1]] * (RESULT_MAX_VALUES // 2)}},
    {"response": {"status": 200, "headers": {f"X-{i}": "v" for i in range(RESULT_MAX_VALUES)}}},
], ids=["keys", "event-keys", "call-data", "headers"])
def test_a_result_holding_more_values_than_any_valid_one_is_refused_by_their_count(
        value: Any) -> None:
    assert only_problem(PARSE, value) == Problem(key="", message=TOO_LARGE)


def test_call_data_as_large_as_it_may_be_is_within_the_count() -> None:
    # 16 KiB of compact JSON is at most 8,192 values (two bytes each): always counted, never
    # refused by the count.
    call = [0] * (CALL_DATA_MAX_BYTES // 2 - 1)
    assert len(json.dumps(call, separators=(",", ":"))) <= CALL_DATA_MAX_BYTES
    result = validate_result(PARSE, {"callRecord": record(call=call)})
    assert isinstance(result, ParseResult)


@pytest.mark.parametrize(("function", "value"), [
    ("VoipGetMembers", [{"id": "1"}] * 5 + [{"x": 1, "id": 2}] * 40 + [1] * 40),
    ("VoipGetMembers", [{"id": str(i), **{f"k{j}": j for j in range(30)}} for i in range(3)]),
    (PARSE, {"event": event(direction="up", **{f"x{i}": i for i in range(40)}),
             **{f"top{i}": i for i in range(30)}}),
    (PARSE, {"callRecord": {**record(duration="1"), "call": [1] * 9000},
             "response": {"status": 99, "headers": {f"X-{i}": i for i in range(60)}}}),
    ("VoipGetMembers", [{"id": "1", "name": [1, 2]}] * 30),
    ("VoipGetMembers", [{"id": "1"}] * 30 + [{"id": ""}] * 30),
    ("VoipTestConnection", {"success": "yes", **{f"z{i}": 1 for i in range(25)}}),
], ids=["members", "member-keys", "event", "record-and-reply", "names", "late-members",
        "test-connection"])
def test_many_problems_are_reported_as_the_whole_results_check_finds_them(
        function: str, value: Any) -> None:
    # Past MAX_PROBLEMS, the problems shown come from a pruned copy of the result: the same
    # first ones, in the same words, and the count of all of them.
    model = RESULT_MODELS[function]
    with pytest.raises(ValidationError) as whole:
        model.__pydantic_validator__.validate_python(value)
    expected = [describe_error(error, model, value)
                for error in whole.value.errors(include_url=False)[:MAX_PROBLEMS]]
    assert whole.value.error_count() > MAX_PROBLEMS
    with pytest.raises(ResultInvalid) as caught:
        validate_result(function, value)
    assert caught.value.problems == expected
    assert caught.value.problem_count == whole.value.error_count()


def test_a_tenants_odd_key_keeps_the_summary_on_one_line() -> None:
    with pytest.raises(ResultInvalid) as caught:
        validate_result(PARSE, {"bad\nkey": 1})
    assert caught.value.problems[0]["key"] == "'bad\\nkey'"
    assert "\n" not in caught.value.message


def test_braces_in_a_tenants_value_stay_literal() -> None:
    assert_problem(
        {"callRecord": record(duration="{message}")},
        "callRecord.duration",
        "(got str '{message}')",
    )


BAD_RESULTS: list[tuple[str, Any]] = [
    (PARSE, [1]),
    (PARSE, {"callrecord": 1, "event": event(direction=3, srcPhone=5, callId="x" * 200)}),
    (PARSE, {"callRecord": record(duration="x", call={"k": "x" * 20000}, dstPhone=None)}),
    (PARSE, {"response": {"status": "x", "headers": {"Set-Cookie": 1}, "body": {}, "x": 1}}),
    (PARSE, {"event": {}, "response": {}}),
    ("VoipTestConnection", {"success": "yes", "failReason": 3}),
    ("VoipTestConnection", []),
    ("VoipGetMembers", [{"id": 1, "name": 2}, "x", {}]),
    ("VoipGetCallLink", 5),
    ("VoipGetCallLink", "ftp://x"),
]


@pytest.mark.parametrize(("function", "value"), BAD_RESULTS)
def test_no_pydantic_wording_reaches_a_tenant(function: str, value: Any) -> None:
    for found in problems_of(function, value):
        for phrase in (
            "Input should",
            "Field required",
            "Extra inputs",
            "pydantic",
            "is not valid here",
        ):
            assert phrase not in found["message"], found


# --- VoipTestConnection -----------------------------------------------------------------------

TEST: Final = "VoipTestConnection"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"success": True}, ConnectionResult(success=True)),
        ({"success": True, "failReason": None}, ConnectionResult(success=True)),
        (
            {"success": False, "failReason": "bad key"},
            ConnectionResult(success=False, fail_reason="bad key"),
        ),
        (
            {"success": False, "fail_reason": "bad key"},
            ConnectionResult(success=False, fail_reason="bad key"),
        ),
    ],
)
def test_test_connection_result(value: Any, expected: ConnectionResult) -> None:
    assert validate_result(TEST, value) == expected


def test_test_connection_to_json() -> None:
    result = validate_result(TEST, {"success": False, "fail_reason": "bad key"})
    assert result.to_json() == {"success": False, "failReason": "bad key"}


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ({"success": "true"}, "success", "must be True or False (got str 'true')"),
        ({"success": 1}, "success", "must be True or False (got int 1)"),
        ({}, "success", "is required"),
        ({"success": False, "failReason": 3}, "failReason", "must be a string (got int 3)"),
        ({"success": False, "failreason": "x"}, "failreason", "did you mean failReason?"),
        (
            {"success": True, "failReason": "a", "fail_reason": "a"},
            "fail_reason",
            "is the same key as failReason",
        ),
        (True, "", "must be a dict (got bool True)"),
        (None, "", 'must be a dict such as {"success": True} (got None); did you forget return?'),
    ],
)
def test_test_connection_problems(value: Any, key: str, fragment: str) -> None:
    assert_problem(value, key, fragment, function=TEST)


# --- VoipGetMembers ---------------------------------------------------------------------------

MEMBERS: Final = "VoipGetMembers"


def test_members() -> None:
    given = [{"id": "101", "name": "Anna"}, {"id": "102"}, {"id": "103", "name": None}]
    result = validate_result(MEMBERS, given)
    assert isinstance(result, MemberList)
    assert [(m.id, m.name) for m in result.root] == [
        ("101", "Anna"),
        ("102", None),
        ("103", None),
    ]
    assert result.to_json() == [{"id": "101", "name": "Anna"}, {"id": "102"}, {"id": "103"}]


def test_no_members() -> None:
    assert validate_result(MEMBERS, []).to_json() == []


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ([{"id": 100}], "[0].id", "must be a string (got int 100); convert it with str()"),
        ([{"id": "1"}, {"name": "x"}], "[1].id", "is required"),
        ([{"id": ""}], "[0].id", "must not be empty"),
        ([{"id": "1", "name": 5}], "[0].name", "must be a string (got int 5)"),
        ([{"id": "1", "ID": "1"}], "[0].ID", "did you mean id?"),
        (["101"], "[0]", "must be a dict (got str '101')"),
        ({"id": "1"}, "", "must be a list (got dict)"),
        (None, "", 'must be a list such as [{"id": "101"}] (got None)'),
    ],
)
def test_member_problems(value: Any, key: str, fragment: str) -> None:
    assert_problem(value, key, fragment, function=MEMBERS)


# --- VoipGetCallLink --------------------------------------------------------------------------

LINK: Final = "VoipGetCallLink"


@pytest.mark.parametrize(
    "url",
    [
        "https://records.example.com/rec/rec-1",
        "http://10.0.0.5:8080/r?id=1&sig=a%20b",
        "HTTPS://Example.COM",
        "https://x.example/" + "a" * (2048 - len("https://x.example/")),
    ],
)
def test_call_link_is_kept_exactly_as_given(url: str) -> None:
    result = validate_result(LINK, url)
    assert isinstance(result, CallLink)
    assert result.url == url
    assert result.to_json() == url


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ftp://x.example/r", "must be an http or https URL (got str 'ftp://x.example/r')"),
        ("/rec/1", "must be an http or https URL"),
        ("https://", "must be an absolute URL with a host"),
        ("https:///path", "must be an absolute URL with a host"),
        ("https://x.example/a b", "must not contain spaces"),
        ("https://x.example/запись", "percent-encode the path and query with "
                                     "urllib.parse.quote() (not the whole link"),
        # quote() was the advice for a host too, where it makes a link to nowhere.
        ("https://пример.рф/r.mp3", 'write the host in its ASCII form (host.encode("idna")'),
        ("https://x.example:99999/", "is not a valid URL"),
        # urlsplit takes it, aiohttp's yarl (which builds the redirect) does not.
        ("https://evil.example\\@127.0.0.1/x", "is not a URL a browser can be sent to"),
        ("https://x.example/" + "a" * 2031, "is too long: at most 2048 characters (got 2049)"),
        (5, "must be a string (got int 5)"),
        ({"url": "https://x.example"}, "must be a string (got dict)"),
        (None, "must be the recording's URL, a string (got None); did you forget return?"),
    ],
)
def test_call_link_problems(value: Any, fragment: str) -> None:
    assert_problem(value, "", fragment, function=LINK)


# --- VoipGenerateCall -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, {"anything": 1}, "ok"])
def test_generate_call_result_is_ignored(value: Any) -> None:
    result = validate_result("VoipGenerateCall", value)
    assert result == NoResult()
    assert result.to_json() is None


# --- a trailing comma after return -------------------------------------------------------------


@pytest.mark.parametrize(("function", "value", "kind"), [
    (PARSE, [{"event": event()}], "a dict"),  # return VoipWebhookParseResult(event=...),
    (PARSE, [{}], "a dict"),
    (TEST, [{"success": True}], "a dict"),
    (LINK, ["https://records.example/1.mp3"], "a string"),
    (MEMBERS, [[{"id": "101"}]], "a list"),
])
def test_a_result_behind_a_trailing_comma_is_named_a_tuple(function: str, value: Any,
                                                            kind: str) -> None:
    """`return {...},` returns a one-item tuple, which the worker hands over as a list: the
    message said "must be a dict (got list)", a type the script never wrote."""
    assert only_problem(function, value) == {
        "key": "", "message": f"must be {kind}, not a tuple or list holding one: a trailing "
                              "comma after the returned value (`return x,`) makes a tuple; "
                              "return the value itself"}


def test_parse_results_returned_side_by_side_are_told_to_be_one_dict() -> None:
    """`return {"event": ...}, {"callRecord": ...}` said "must be a dict (got list)"."""
    assert only_problem(PARSE, [{"event": event()}, {"callRecord": record()}]) == {
        "key": "", "message": "must be one dict, not a tuple or list of parse results: return "
                              'their keys together, {"event": ..., "callRecord": ..., '
                              '"response": ...}'}


def test_a_list_that_holds_no_valid_result_is_told_as_before() -> None:
    assert only_problem(PARSE, [{"evnt": event()}]) == {
        "key": "", "message": "must be a dict (got list)"}
    assert only_problem(PARSE, [{"event": event()}, 5]) == {
        "key": "", "message": "must be a dict (got list)"}
    assert only_problem(LINK, ["https://a.example/1", "https://a.example/2"]) == {
        "key": "", "message": "must be a string (got list)"}
