"""The console's words for stored call values (runtime/console/words.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from runtime.console.words import (
    DISPOSITIONS,
    call_status,
    direction_words,
    disposition_words,
    state_words,
    status_words,
)
from runtime.contract import CallDisposition
from runtime.store.models import CallState

T = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_every_contract_disposition_has_words() -> None:
    assert set(DISPOSITIONS) == {d.value for d in CallDisposition}
    assert disposition_words("no_answer") == "No answer"
    assert disposition_words(CallDisposition.Cancel) == "Cancelled"
    assert disposition_words("some_new_value") == "Some new value"  # a newer contract's
    assert disposition_words(None) == ""


def test_directions_and_states() -> None:
    assert [direction_words(d) for d in ("in", "out", "internal")] == [
        "Incoming", "Outgoing", "Internal"]
    assert [state_words(s) for s in CallState] == ["Ringing", "Talking", "Ended"]


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
