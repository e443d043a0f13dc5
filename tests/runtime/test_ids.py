"""Record ids: Crockford base32 over the ULID layout, ordered by creation."""

from __future__ import annotations

import dataclasses
import re
import time

from runtime import ids
from runtime.store import tables
from runtime.store.models import Call


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ids._CROCKFORD.index(char)
    return value >> 2  # the last digit carries 3 bits and 2 of padding


def test_an_id_is_its_prefix_and_26_crockford_digits() -> None:
    assert re.fullmatch(r"call_[0-9a-hjkmnp-tv-z]{26}", ids.new_id(ids.CALL))


def test_ids_carry_their_creation_millisecond_and_sort_in_creation_order() -> None:
    before = time.time_ns() // 1_000_000
    made = [ids.new_id(ids.EXECUTION) for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    for text in (made[0], made[-1]):
        millis = decode(text.split("_", 1)[1]) >> 80
        assert before <= millis <= after


def test_the_call_columns_name_every_call_field() -> None:
    # The INSERT/UPDATE statements and the decoder are built from the one column list: a
    # field of Call without its column would never be stored.
    assert sorted(c.field for c in tables.CALLS.columns) == sorted(
        f.name for f in dataclasses.fields(Call))
