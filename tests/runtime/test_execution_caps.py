"""The cut of an execution's JSON columns (runtime/store/execution_caps.py): whatever the value,
what is kept is at most the cap in bytes of JSON text as stored (escapes counted), short parts
are kept whole while the long ones are cut, and a value that fits is kept as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.store.dialect import dumps
from runtime.store.execution_caps import (
    CUT_MARK,
    EXECUTION_ROW_BOUND,
    cap_json,
    cap_request,
    json_string_prefix,
)
from runtime.store.models import EXECUTION_REQUEST_CAP, KIB

CAP = 4096


def size(value: object) -> int:
    return len(dumps(value).encode("utf-8"))


@pytest.mark.parametrize("letter", ["a", "é", "😀", "\x01", '"', "\\", "\u2028"])
def test_a_long_string_is_cut_to_fit_whatever_its_escapes(letter: str) -> None:
    value = {"response": {"status": 200, "headers": {"x": "short"}, "body": letter * 50_000}}
    kept, cut = cap_json(value, CAP)
    assert cut and size(kept) <= CAP
    assert isinstance(kept, dict)
    assert kept["response"]["status"] == 200 and kept["response"]["headers"] == {"x": "short"}
    body = kept["response"]["body"]
    assert body.endswith(CUT_MARK) and set(body[:-1]) == {letter}
    assert size(kept) > CAP - 16  # the room is used, not thrown away


def test_a_value_that_fits_is_kept_as_it_is() -> None:
    value = {"a": "x" * 1000, "b": [1, 2, None]}
    assert cap_json(value, CAP) == (value, False)
    assert cap_json(None, CAP) == (None, False)


def test_the_room_goes_to_the_long_strings_the_short_ones_are_whole() -> None:
    value = ["s" * 100, "m" * 3000, "l" * 9000]
    kept, cut = cap_json(value, CAP)
    assert cut and size(kept) <= CAP
    assert isinstance(kept, list)
    assert kept[0] == "s" * 100
    assert kept[1].endswith(CUT_MARK) and kept[2].endswith(CUT_MARK)
    assert len(kept[1]) == len(kept[2])  # the two long ones share what is left


@pytest.mark.parametrize("value", [
    {f"key{n}": n for n in range(2000)},      # too many parts to cut string by string
    ["\x01" * 50] * 1000,
    {"k" * 10_000: 1},                         # keys are not cut
])
def test_a_value_too_large_for_its_shape_keeps_the_start_of_its_text(value: object) -> None:
    kept, cut = cap_json(value, CAP)
    assert cut and size(kept) <= CAP
    assert isinstance(kept, dict) and kept["truncated"] is True
    assert dumps(value).startswith(kept["text"]) and len(kept["text"]) > CAP // 8


def test_a_request_body_of_control_characters_keeps_the_cap_as_stored() -> None:
    request = {"method": "POST", "path": "/hooks/x", "body": "\x01" * 1_000_000}
    kept = cap_request(request)
    assert isinstance(kept, dict)
    assert size(kept) <= EXECUTION_REQUEST_CAP  # was 391,284: the raw bytes were cut, not
    assert kept["body_truncated"] is True and kept["method"] == "POST"  # the escaped text


def test_a_json_string_prefix_fits_its_room() -> None:
    for room in (0, 1, 2, 3, 7, 8, 100):
        prefix = json_string_prefix("\x01é" * 100, room)
        assert prefix == "" or size(prefix) <= room


def test_the_readme_says_the_row_bound_the_caps_make() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert EXECUTION_ROW_BOUND // KIB == 321
    assert f"about {EXECUTION_ROW_BOUND // KIB} KiB in all" in " ".join(readme.split())
