"""The live page's words for a call's moment and the calls page's for its state
(runtime/console/words.py; dispositions and directions: tests/runtime/test_console_words.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from runtime.console.words import call_status, state_words, status_words
from runtime.store.models import CallState

T = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_states() -> None:
    assert [state_words(s) for s in CallState] == ["ringing", "talking", "ended"]
    assert state_words("on_hold") == "on_hold" and state_words(None) == ""


def test_a_calls_moment_as_an_operator_says_it() -> None:
    def call(**fields: object) -> dict[str, object]:
        return {"state": "ended", "direction": "in", "disposition": "no_answer",
                "answered_at": None, **fields}

    assert call_status(call(state="ringing", disposition="unknown")) == "ringing"
    assert call_status(call(state=CallState.ANSWERED)) == "talking"
    assert call_status(call()) == "missed"
    assert call_status(call(disposition="answered")) == "answered"
    # Answered by the events, whatever the provider's final disposition says.
    assert call_status(call(answered_at=T)) == "answered"
    assert call_status(call(direction="out")) == "not_answered"
    assert call_status(call(direction="internal")) == "ended"
    assert status_words(call()) == "Missed" and status_words("talking") == "Talking"
