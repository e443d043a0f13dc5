"""Human words for dispositions and directions: every contract value has its own, and a value
this release does not know is shown as it is rather than hidden."""

from __future__ import annotations

import jinja2

from runtime.console.words import WORD_FILTERS, direction_words, disposition_words
from sandbox.injected import VoipCallDirection, VoipCallDisposition


def test_every_contract_value_has_its_own_words() -> None:
    dispositions = {disposition_words(member) for member in VoipCallDisposition}
    assert len(dispositions) == len(VoipCallDisposition)
    assert all("_" not in words for words in dispositions)
    directions = {direction_words(member.value) for member in VoipCallDirection}
    assert directions == {"incoming", "outgoing", "internal"}


def test_known_unknown_and_missing_values() -> None:
    assert disposition_words("no_answer") == "no answer"
    assert disposition_words(VoipCallDisposition.Busy) == "busy"
    assert direction_words("out") == "outgoing"
    assert disposition_words("carrier_says_maybe") == "carrier_says_maybe"
    assert direction_words(None) == "" and disposition_words(None) == ""


def test_filters_escape_what_they_pass_through() -> None:
    env = jinja2.Environment(autoescape=True)
    env.filters.update(WORD_FILTERS)
    rendered = env.from_string("{{ a | disposition }} / {{ b | direction }}").render(
        a="<b>odd</b>", b="in")
    assert rendered == "&lt;b&gt;odd&lt;/b&gt; / incoming"
