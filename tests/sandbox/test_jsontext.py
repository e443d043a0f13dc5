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


@pytest.mark.parametrize("acyclic", [False, True])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_the_same_text_as_the_encoder(encoder: json.JSONEncoder, acyclic: bool) -> None:
    dumps = dumper(encoder, acyclic=acyclic)
    for value in VALUES:
        assert dumps(value) == encoder.encode(value), value


@pytest.mark.parametrize("acyclic", [False, True])
def test_the_same_refusals_and_nothing_left_behind(acyclic: bool) -> None:
    encoder = ENCODERS[0]
    dumps = dumper(encoder, acyclic=acyclic)
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
    if acyclic:  # no markers (for values that cannot hold a cycle): a cycle still fails
        with pytest.raises(RecursionError):
            dumps(circular)
    else:
        with pytest.raises(ValueError, match="Circular"):
            dumps(circular)
    # Where NaN is allowed, it is written as the encoder writes it.
    assert dumper(ENCODERS[1])([math.nan, math.inf]) == "[NaN,Infinity]"


def test_json_objects_keep_their_text_and_nest_it() -> None:
    from sandbox.jsontext import JSONObject

    encoder = ENCODERS[0]
    dumps = dumper(encoder, acyclic=True)
    inner = JSONObject({"a": "кириллица \"q\"", "b": [1, 2.5, None], "c": {"d": True}})
    outer = JSONObject({"event": inner, "n": 1, "more": JSONObject()})
    text = dumps(outer)
    assert text == encoder.encode(outer)  # the same text as the encoder's
    assert inner.text == encoder.encode(inner) and outer.text == text
    assert dumps(outer) is text  # kept: not encoded again
    assert dumps([outer]) == encoder.encode([outer])  # inside a plain value: a dict as any
    # A dumper without `acyclic` reads it as the dict it is.
    assert dumper(ENCODERS[2])(outer) == ENCODERS[2].encode(dict(outer))


@pytest.mark.parametrize("text", [
    ' {"a":[1,2.5,null,true]}\t\r ', '"x"', "1", '{"a":1} {}', '{"a":1} x', "\ufeff{}",
    '{"a":1', "", "   ", "-Infinity", "1e400", '["\\ud800"]', "[" * 50 + "]" * 50,
    "\n[1]\n", "{} \n x", "\u00a0{}", "{}\u00a0", "{}\n", "\t", "1 \t\n\r",
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
