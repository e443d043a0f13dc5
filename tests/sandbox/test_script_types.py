"""The injected type names (contract §3) agree with the result validation (contract §4)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from runtime import contract
from sandbox import injected
from sandbox.call import RequestData
from sandbox.script_types import (
    RESULT_TYPES,
    TYPE_NAMES,
    ResultType,
    key_names,
    type_name,
)
from tests.sandbox.lang_support import DictHost

MODELS: dict[str, type[BaseModel]] = {
    "VoipWebhookParseResult": contract.ParseResult,
    "VoipWebhookRequest": contract.CallEvent,
    "VoipCallRecord": contract.CallRecord,
    "VoipTestConnectionResult": contract.TestConnectionResult,
    "VoipMember": contract.Member,
    "HttpReply": contract.HttpReply,
}


@pytest.mark.parametrize("result_type", RESULT_TYPES, ids=type_name)
def test_keys_and_required_flags_match_the_validation(result_type: ResultType) -> None:
    model = MODELS[type_name(result_type)]
    expected = {to_camel(name): field.is_required() for name, field in model.model_fields.items()}
    assert {key.name: key.required for key in key_names(result_type)} == expected


def test_every_type_name_is_injected() -> None:
    names = injected.make_injected(host=DictHost(), settings={}, output=injected.OutputLog(100))
    for name, value in TYPE_NAMES.items():
        assert names[name] is value
    assert set(MODELS) | {"FetchRequest", "FetchResponse", "Storage"} == set(TYPE_NAMES)


def test_request_type_is_named_like_the_request() -> None:
    assert type(injected.FetchRequest(RequestData())).__name__ == "FetchRequest"


@pytest.mark.parametrize("result_type", RESULT_TYPES, ids=type_name)
def test_snake_case_spellings_are_the_validations_own(result_type: ResultType) -> None:
    """Each key's snake_case spelling is the one the result validation accepts (contract §4),
    and the constructor takes it: `VoipTestConnectionResult(fail_reason=...)` (§2's own
    example) built a TypeError 'unknown key' where the same dict returned by hand passed."""
    model = MODELS[type_name(result_type)]
    snake = {key.snake_name: "x" for key in key_names(result_type)}
    assert set(snake) == set(model.model_fields)
    assert result_type(**snake) == snake


def test_a_snake_case_result_built_by_the_constructors_validates() -> None:
    built = injected.make_injected(host=DictHost(), settings={},
                                   output=injected.OutputLog(100))
    record = built["VoipCallRecord"](direction="in", disposition="answered",
                                     src_phone="79161234567", dst_phone="101", duration=5,
                                     call_id="c-1", src_phone_ext=None)
    result = contract.ParseResult.model_validate(
        built["VoipWebhookParseResult"](call_record=record))
    assert result.call_record is not None
    assert (result.call_record.src_phone, result.call_record.call_id) == ("79161234567", "c-1")
    failed = built["VoipTestConnectionResult"](success=False, fail_reason="bad key")
    assert contract.TestConnectionResult.model_validate(failed).fail_reason == "bad key"
    with pytest.raises(TypeError, match="unknown key 'src_phones'; did you mean"):
        built["VoipCallRecord"](src_phones="1")
