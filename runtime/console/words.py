"""Human words for the contract's call enums, for pages people read.

The store and the API keep the contract's values (`no_answer`, `in`); pages say what they mean.
A value this release does not know (a newer script's, or a row from elsewhere) is shown as it
is, never hidden: the words are a courtesy, the value is the truth.

Filters (WORD_FILTERS): `disposition`, `direction`, `state_words` (a stored call state),
`call_status` and `status_words` (a call's moment as the live page says it: ringing, talking,
missed, answered, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.injected import VoipCallDirection, VoipCallDisposition

DISPOSITION_WORDS: dict[str, str] = {
    VoipCallDisposition.Answered: "answered",
    VoipCallDisposition.Busy: "busy",
    VoipCallDisposition.Cancel: "cancelled by the caller",
    VoipCallDisposition.NoAnswer: "no answer",
    VoipCallDisposition.Failed: "failed",
    VoipCallDisposition.NoMoney: "not enough money on the account",
    VoipCallDisposition.UnallocatedNumber: "number does not exist",
    VoipCallDisposition.NoLimit: "over the limit",
    VoipCallDisposition.NoDayLimit: "over the daily limit",
    VoipCallDisposition.LineLimit: "all lines busy",
    VoipCallDisposition.NoMoneyNoLimit: "no money and over the limit",
    VoipCallDisposition.Unknown: "not known yet",
}

DIRECTION_WORDS: dict[str, str] = {
    VoipCallDirection.In: "incoming",
    VoipCallDirection.Out: "outgoing",
    VoipCallDirection.Internal: "internal",
}


def _value(value: Any) -> str:
    if value is None:
        return ""
    return str(value.value if hasattr(value, "value") else value)


def disposition_words(value: Any) -> str:
    """`no_answer` -> "no answer"; an unknown value as it is; None -> ""."""
    text = _value(value)
    return DISPOSITION_WORDS.get(text, text)


def direction_words(value: Any) -> str:
    """`in` -> "incoming"; an unknown value as it is; None -> ""."""
    text = _value(value)
    return DIRECTION_WORDS.get(text, text)


# The stored call states, for the calls page's filter and column ("answered" means on the
# phone right now: the call is not over yet).
STATE_WORDS: dict[str, str] = {"ringing": "ringing", "answered": "talking", "ended": "ended"}

# A call's moment as the live page's badge says it (see `call_status`).
STATUS_WORDS: dict[str, str] = {
    "ringing": "Ringing",
    "talking": "Talking",
    "missed": "Missed",
    "answered": "Answered",
    "not_answered": "Not answered",
    "ended": "Ended",
}


def state_words(value: Any) -> str:
    """`answered` -> "talking"; an unknown value as it is; None -> ""."""
    text = _value(value)
    return STATE_WORDS.get(text, text)


def _field(call: Any, name: str) -> Any:
    """A call's field, from a `Call` or from its JSON (a notification's payload)."""
    if isinstance(call, Mapping):
        return call.get(name)
    return getattr(call, name, None)


def call_status(call: Any) -> str:
    """The call's moment as an operator sees it: ringing, talking (answered, not over), and
    once over: answered; missed (an incoming call nobody answered); not_answered (an
    outgoing one); ended (an internal one nobody answered)."""
    state = _value(_field(call, "state"))
    if state == "ringing":
        return "ringing"
    if state == "answered":
        return "talking"
    if (_field(call, "disposition") == VoipCallDisposition.Answered
            or _field(call, "answered_at") is not None):
        return "answered"
    direction = _field(call, "direction")
    if direction == VoipCallDirection.In:
        return "missed"
    return "not_answered" if direction == VoipCallDirection.Out else "ended"


def status_words(value: Any) -> str:
    """A call's moment in words, from the call (or its JSON) or from `call_status`'s key."""
    key = value if isinstance(value, str) and value in STATUS_WORDS else call_status(value)
    return STATUS_WORDS[key]


# A call's history (the call page): each event the provider sent, in words.
EVENT_WORDS: dict[str, str] = {
    "notify_start": "Rang",
    "notify_internal": "Rang an internal number",
    "notify_answer": "Answered",
    "notify_end": "Ended",
    "notify_out_start": "Outgoing call started",
    "notify_out_end": "Outgoing call ended",
    "call_record": "Call record",
}


def event_words(value: Any) -> str:
    """`notify_start` -> "Rang"; an unknown kind as it is."""
    text = _value(value)
    return EVENT_WORDS.get(text, text)


WORD_FILTERS = {"disposition": disposition_words, "direction": direction_words,
                "event_words": event_words,
                "state_words": state_words, "call_status": call_status,
                "status_words": status_words}
