"""Once a call is stopped (its CPU limit fired), every guard and every injected function refuses
to go on, however the script got there: one test per entry point, and one that fails when a new
guard forgets the check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox import injected, stopping
from sandbox.executor import LimitExceeded
from sandbox.guards import (
    getattr_builtin,
    hasattr_builtin,
    make_guards,
    safe_format,
    safe_format_map,
)
from tests.sandbox.lang_support import DictHost

MESSAGE = "CPU time limit of 1 s exceeded"


@pytest.fixture
def stopped() -> Iterator[None]:
    stopping.stop("cpu", MESSAGE)
    try:
        yield
    finally:
        stopping.resume()


SPEC = {"childs": (), "min_len": 2}  # how the compiled code describes `a, b = ...`


def guard_calls(output: injected.OutputLog) -> dict[str, Callable[[], Any]]:
    guards = make_guards(output)
    return {
        "_getattr_": lambda: guards["_getattr_"]("text", "upper"),
        "_getitem_": lambda: guards["_getitem_"]({"k": 1}, "k"),
        "_getiter_": lambda: guards["_getiter_"]([1]),
        "_write_": lambda: guards["_write_"]({}),
        "_inplacevar_": lambda: guards["_inplacevar_"]("+=", 1, 1),
        "_apply_": lambda: guards["_apply_"](len, [1]),
        "_print_": lambda: guards["_print_"](),
        "_unpack_sequence_": lambda: guards["_unpack_sequence_"]((1, 2), SPEC, iter),
        "_iter_unpack_sequence_": lambda: list(
            guards["_iter_unpack_sequence_"]([(1, 2)], SPEC, iter)),
        "__metaclass__": lambda: guards["__metaclass__"]("C", (), {}),
        "_pow_": lambda: guards["_pow_"](2, 3),
        "_match_rest_": lambda: guards["_match_rest_"]({"a": 1, "b": 2}, ("a",)),
        "__import__": lambda: __import__("sandbox.guards").guards.safe_import("json"),
        "getattr": lambda: getattr_builtin("text", "upper", None),
        "hasattr": lambda: hasattr_builtin("text", "upper"),
    }


def test_every_guard_has_a_refusal_test() -> None:
    guards = make_guards(injected.OutputLog(100))
    names = {name for name, value in guards.items() if callable(value)}
    names.discard("_catchable_")  # the class bare `except:` catches, not a call
    assert names <= set(guard_calls(injected.OutputLog(100)))


@pytest.mark.parametrize("name", sorted(guard_calls(injected.OutputLog(100))))
def test_a_stopped_call_is_refused_by_every_guard(stopped: None, name: str) -> None:
    with pytest.raises(LimitExceeded, match=MESSAGE) as raised:
        guard_calls(injected.OutputLog(100))[name]()
    assert raised.value.limit == "cpu"


@pytest.mark.parametrize("name", sorted(guard_calls(injected.OutputLog(100))))
def test_every_guard_works_while_the_call_runs(name: str) -> None:
    guard_calls(injected.OutputLog(100))[name]()


def injected_calls(host: DictHost, output: injected.OutputLog) -> dict[str, Callable[[], Any]]:
    names = injected.make_injected(host=host, settings={}, output=output)
    return {
        "log": lambda: names["log"]("x"),
        "print": lambda: injected.PrintCollector(output)._call_print("x"),
        "storage.get": lambda: names["storage"].get("k"),
        "storage.set": lambda: names["storage"].set("k", 1),
        "storage.delete": lambda: names["storage"].delete("k"),
        "fetch": lambda: names["fetch"]("https://example.com/"),
        "str.format": lambda: safe_format("{0}", 1),
        "str.format_map": lambda: safe_format_map("{a}", {"a": 1}),
        **{
            f"{name}()": (lambda name=name: names[name](id="1"))
            for name in ("VoipWebhookParseResult", "VoipWebhookRequest", "VoipCallRecord",
                         "VoipTestConnectionResult", "VoipMember")
        },
    }


@pytest.mark.parametrize("name", sorted(injected_calls(DictHost(), injected.OutputLog(100))))
def test_a_stopped_call_is_refused_by_every_injected_function(stopped: None, name: str) -> None:
    host, output = DictHost(), injected.OutputLog(100)
    with pytest.raises(LimitExceeded, match=MESSAGE):
        injected_calls(host, output)[name]()
    assert host.requests == []
    assert output.text() == ""
