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
