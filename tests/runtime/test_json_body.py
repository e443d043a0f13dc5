"""What an API client is told about a body the API refuses (runtime/json_body.py): the field as
the client wrote it and what is wrong with it, in words, not pydantic's."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.errors import ApiError
from runtime.json_body import validated
from runtime.operations.dry_runs import DryRunBody


def refused(data: Any) -> tuple[str, list[dict[str, str]]]:
    with pytest.raises(ApiError) as error:
        validated(DryRunBody, data)
    assert error.value.status == 422
    return error.value.message, error.value.details  # type: ignore[return-value]


def test_a_misspelt_field_is_named_with_the_field_meant() -> None:
    """It said "requests: Extra inputs are not permitted"."""
    message, details = refused({"requests": {"body": "{}"}})
    assert message == ("requests: is not a field of this request; did you mean request? (its "
                       "fields: request, source, version_id, execution_id)")
    assert details == [{"field": "requests", "message": message.split(": ", 1)[1]}]


def test_a_problem_inside_a_union_names_the_field_not_the_union_member() -> None:
    """A header value of the wrong type was at "request.headers.dict[str,str].X", with a
    second problem for the list form the client never used."""
    message, details = refused({"request": {"headers": {"X-Sig": 1}, "body": "{}"}})
    why = "a header's name and value must be strings: 'X-Sig': 1"
    assert message == f"request.headers: {why}"
    assert details == [{"field": "request.headers", "message": why}]


def test_an_unknown_field_deeper_down_is_named_where_it_is() -> None:
    message, _ = refused({"request": {"bdy": "{}"}})
    assert message == "request.bdy: is not a field here"
