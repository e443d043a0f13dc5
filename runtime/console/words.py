"""Human words for a call's stored values, in one place for every console page.

The store keeps the contract's values (`no_answer`, `in`, `answered`); pages say them as an
operator would ("No answer", "Incoming", "Talking"). Each is a Jinja filter (FILTERS, added to
the console's environment with the others in filters.py), and the live page's script gets the
same tables (`WORDS`) so a card drawn in the browser says what the server's would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.contract import CallDirection, CallDisposition

DISPOSITIONS: dict[str, str] = {
    CallDisposition.Answered.value: "Answered",
    CallDisposition.Busy.value: "Busy",
    CallDisposition.Cancel.value: "Cancelled",
    CallDisposition.NoAnswer.value: "No answer",
    CallDisposition.Failed.value: "Failed",
    CallDisposition.NoMoney.value: "Out of funds",
    CallDisposition.UnallocatedNumber.value: "Number does not exist",
    CallDisposition.NoLimit.value: "Limit reached",
    CallDisposition.NoDayLimit.value: "Daily limit reached",
    CallDisposition.LineLimit.value: "Too many lines busy",
    CallDisposition.NoMoneyNoLimit.value: "Out of funds and limit",
    CallDisposition.Unknown.value: "Unknown",
}

DIRECTIONS: dict[str, str] = {
    CallDirection.In.value: "Incoming",
    CallDirection.Out.value: "Outgoing",
    CallDirection.Internal.value: "Internal",
}

# What the live page calls a call's moment (see `call_status`).
STATUSES: dict[str, str] = {
    "ringing": "Ringing",
    "talking": "Talking",
    "missed": "Missed",
    "answered": "Answered",
    "not_answered": "Not answered",
    "ended": "Ended",
}

# The stored call states, for the calls page's filter and column.
STATES: dict[str, str] = {"ringing": "Ringing", "answered": "Talking", "ended": "Ended"}

WORDS: dict[str, dict[str, str]] = {"dispositions": DISPOSITIONS, "directions": DIRECTIONS,
                                    "statuses": STATUSES}


def _said(table: Mapping[str, str], value: Any) -> str:
    """The table's words for a value; a value the table does not know, as it is (a newer
    contract's value reads better raw than blank)."""
    text = getattr(value, "value", value)
    if text is None:
        return ""
    text = str(text)
    return table.get(text, text.replace("_", " ").capitalize())


def disposition_words(value: Any) -> str:
    return _said(DISPOSITIONS, value)


def direction_words(value: Any) -> str:
    return _said(DIRECTIONS, value)


def state_words(value: Any) -> str:
    return _said(STATES, value)


def _field(call: Any, name: str) -> Any:
    """A call's field, from a `Call` or from its JSON (a notification's payload)."""
    if isinstance(call, Mapping):
        return call.get(name)
    return getattr(call, name, None)


def call_status(call: Any) -> str:
    """The call's moment as an operator sees it: ringing, talking (answered, not over), and
    once over: answered; missed (an incoming call nobody answered); not_answered (an
    outgoing one); ended (an internal one nobody answered)."""
    state = getattr(_field(call, "state"), "value", _field(call, "state"))
    if state == "ringing":
        return "ringing"
    if state == "answered":
        return "talking"
    answered = (_field(call, "disposition") == CallDisposition.Answered.value
                or _field(call, "answered_at") is not None)
    if answered:
        return "answered"
    direction = _field(call, "direction")
    if direction == CallDirection.In.value:
        return "missed"
    return "not_answered" if direction == CallDirection.Out.value else "ended"


def status_words(value: Any) -> str:
    """A call's moment in words, from the call (or its JSON) or from `call_status`'s key."""
    return STATUSES[value if isinstance(value, str) and value in STATUSES
                    else call_status(value)]


FILTERS = {"disposition_words": disposition_words, "direction_words": direction_words,
           "state_words": state_words, "call_status": call_status,
           "status_words": status_words}
