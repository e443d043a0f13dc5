"""Record ids: Crockford base32 over the ULID layout, ordered by creation."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import time
from typing import Any

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


def test_ids_stay_in_creation_order_when_the_clock_steps_back(monkeypatch: Any) -> None:
    # An NTP step, a VM resumed with a clock ahead then corrected: ids made after it must
    # still sort after the ones made before (listings ordered by id, their tie-breaker).
    now = [time.time_ns()]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    before = [ids.new_id(ids.CALL) for _ in range(50)]
    now[0] -= 3_600 * 1_000_000_000  # an hour back
    after = [ids.new_id(ids.CALL) for _ in range(50)]
    made = before + after
    assert sorted(made) == made
    assert len(set(made)) == len(made)


def test_an_id_spells_its_time_and_random_bits_exactly(monkeypatch: Any) -> None:
    # Every one of the 26 digits, against a plain base32 of the 128 bits (RFC 4648 pads the
    # last digit with zero bits as the ids do), with the bits chosen here.
    random_bits = bytes(range(0xF6, 0x100))  # 10 bytes, every bit position exercised
    millis = 0xFEDC_BA98_7654  # 48 bits
    monkeypatch.setattr(ids, "_random", random_bits * 2)
    monkeypatch.setattr(ids, "_random_at", 0)
    monkeypatch.setattr(ids, "_last_value", 0)
    monkeypatch.setattr(ids.time, "time_ns", lambda: millis * 1_000_000 + 999_999)
    value = millis << 80 | int.from_bytes(random_bits)
    plain = base64.b32encode(value.to_bytes(16)).decode().rstrip("=")
    crockford = plain.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                              ids._CROCKFORD))
    assert ids.new_id(ids.CALL) == f"call_{crockford}"
    assert decode(crockford) == value


def test_the_call_columns_name_every_call_field() -> None:
    # The INSERT/UPDATE statements and the decoder are built from the one column list: a
    # field of Call without its column would never be stored.
    assert sorted(c.field for c in tables.CALLS.columns) == sorted(
        f.name for f in dataclasses.fields(Call))


def random_part(text: str) -> int:
    return decode(text.split("_", 1)[1]) & ((1 << 80) - 1)


def test_random_bits_do_not_repeat_across_the_blocks_drawn_from_the_os() -> None:
    # The random bits are drawn from the OS a block at a time; ids made across several blocks
    # still carry 80 bits each that no other id has.
    made = [ids.new_id(ids.CALL) for _ in range(3 * ids._RANDOM_BLOCK // ids._RANDOM_BYTES)]
    assert len({random_part(text) for text in made}) == len(made)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.new_id(ids.CALL)  # the parent holds a block of random bits now
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without any cleanup of the parent's
        os.close(reader)
        os.write(writer, " ".join(ids.new_id(ids.CALL) for _ in range(5)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [ids.new_id(ids.CALL) for _ in range(5)]
    assert len(child) == 5
    assert not {random_part(text) for text in child} & {random_part(text) for text in parent}
