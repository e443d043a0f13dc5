"""Human words for the contract's call enums, for pages people read.

The store and the API keep the contract's values (`no_answer`, `in`); pages say what they mean.
A value this release does not know (a newer script's, or a row from elsewhere) is shown as it
is, never hidden: the words are a courtesy, the value is the truth.
"""

from __future__ import annotations

from typing import Any

from sandbox.api import VoipCallDirection, VoipCallDisposition

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


WORD_FILTERS = {"disposition": disposition_words, "direction": direction_words}
