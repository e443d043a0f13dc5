"""sandbox/jsontext.py: `dumper(encoder)` writes exactly what `encoder.encode` writes, and
refuses what it refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from sandbox.jsontext import dumper

ENCODERS = [
    json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False),
    json.JSONEncoder(ensure_ascii=False, separators=(",", ":")),
    json.JSONEncoder(),
]

VALUES: list[Any] = [
    "plain", "кириллица \u2028 \"quoted\" \\ \n", "", 0, -1.5, 10**30, True, None, [],
    {}, {"a": [1, 2.5, None, {"b": "ü"}], "c": False}, [["x"], {"1": 2}],
    {1: "int key", None: "null key", False: "bool key", 2.5: "float key"},
]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_the_same_text_as_the_encoder(encoder: json.JSONEncoder) -> None:
    dumps = dumper(encoder)
    for value in VALUES:
        assert dumps(value) == encoder.encode(value), value


def test_the_same_refusals_and_nothing_left_behind() -> None:
    encoder = ENCODERS[0]
    dumps = dumper(encoder)
    shared = [1, 2]
    for bad in ({"x": math.nan}, [shared, object()], {"k": {1, 2}}):
        with pytest.raises((ValueError, TypeError)):
            encoder.encode(bad)
        with pytest.raises((ValueError, TypeError)):
            dumps(bad)
    # A failed encode leaves no marks: the list it had entered encodes fine next time.
    assert dumps([shared, shared]) == "[[1,2],[1,2]]"
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular"):
        dumps(circular)
    # Where NaN is allowed, it is written as the encoder writes it.
    assert dumper(ENCODERS[1])([math.nan, math.inf]) == "[NaN,Infinity]"


@pytest.mark.parametrize("text", [
    ' {"a":[1,2.5,null,true]}\t\r ', '"x"', "1", '{"a":1} {}', '{"a":1} x', "\ufeff{}",
    '{"a":1', "", "   ", "-Infinity", "1e400", '["\\ud800"]', "[" * 50 + "]" * 50,
])
def test_loads_is_json_loads(text: str) -> None:
    """What a script's request.json() and the worker's messages are read with."""
    from sandbox.jsontext import loads

    try:
        expected = json.loads(text)
    except ValueError as error:
        with pytest.raises(type(error)) as raised:
            loads(text)
        assert str(raised.value) == str(error)
        return
    assert loads(text) == expected or (expected != expected and loads(text) != loads(text))
