"""The fast reading of `+digits` gives the library's answer (runtime/phones_fast.py).

Checked over numbers of every region and non-geographic code the library knows: its example
numbers of every type, and those numbers broken in the ways real input is (too short, too long,
a digit changed, a national prefix or a zero after the country code, random digits), each
compared with what phonenumbers.parse + is_valid_number + format_number give.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from runtime import phones_fast
from runtime.phones import candidates, normalize_phone, read_with_library
from runtime.phones_fast import Fallback

TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int)]


def examples() -> Iterator[tuple[str, str]]:
    """(region, E.164) of the library's example numbers of every type, every region."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                yield region, phonenumbers.format_number(number, PhoneNumberFormat.E164)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            yield "001", phonenumbers.format_number(number, PhoneNumberFormat.E164)


def variants(e164: str, rng: random.Random) -> set[str]:
    """The number, and the number broken the ways input is."""
    digits = e164[1:]
    code = str(phonenumbers.parse(e164).country_code)
    nsn = digits[len(code):]
    out = {e164, "+" + digits[:-1], "+" + digits[:-2], "+" + digits + "0", "+" + digits + "99",
           "+" + code + "8" + nsn, "+" + code + "0" + nsn, "+" + code + "1" + nsn,
           "+" + code + nsn[1:], "+" + code, "+" + code + "1", "+" + code + "12"}
    for position in (0, 1, len(nsn) - 1):
        if 0 <= position < len(nsn):
            for d in "0123456789":
                out.add("+" + code + nsn[:position] + d + nsn[position + 1:])
    for _ in range(6):
        size = rng.randint(1, 18)
        out.add("+" + code + "".join(rng.choice("0123456789") for _ in range(size)))
    return out


def test_plus_digits_read_as_the_library_reads_them() -> None:
    rng = random.Random(16)
    outcomes: Counter[str] = Counter()
    for region, e164 in examples():
        for text in variants(e164, rng):
            fast = phones_fast.e164(text)
            if fast is Fallback.ASK_LIBRARY:
                outcomes["asked the library"] += 1
                continue
            assert fast == read_with_library(text, region), (text, region)
            outcomes["valid" if fast is not None else "invalid"] += 1
    # The fast path answers most of them, both ways; the rest are the library's.
    assert outcomes["valid"] > 2000 and outcomes["invalid"] > 10000
    assert outcomes["asked the library"] < outcomes["valid"] + outcomes["invalid"]


def test_random_plus_digits_of_any_country_code() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        text = "+" + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
        fast = phones_fast.e164(text)
        if fast is not Fallback.ASK_LIBRARY:
            assert fast == read_with_library(text, "RU"), text


@pytest.mark.parametrize("region", ["RU", "US", "DE", "KZ", "IT", "001", "", "ZZ"])
def test_the_region_does_not_change_a_plus_number(region: str) -> None:
    rng = random.Random(3)
    for _, e164 in list(examples())[::7]:
        for text in variants(e164, rng):
            fast = phones_fast.e164(text)
            if fast is not Fallback.ASK_LIBRARY:
                assert fast == read_with_library(text, region), (text, region)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+79161234567", "+79161234567"),
        ("+375291234567", "+375291234567"),
        ("+70000000000", Fallback.ASK_LIBRARY),  # a zero after the code: the library's way
        ("+78161234567", Fallback.ASK_LIBRARY),  # RU's national prefix: the parse may strip it
        ("+79", Fallback.ASK_LIBRARY),  # too short to read here
        ("+7916123456", None),  # a digit short
        ("+7 916 123-45-67", Fallback.ASK_LIBRARY),  # formatting: the library reads it
        ("+７９１６１２３４５６７", Fallback.ASK_LIBRARY),  # full-width digits likewise
        ("+73001234567", None),  # a possible length, no such range
        ("+999123456789", Fallback.ASK_LIBRARY),  # no such country code
    ],
)
def test_what_the_fast_path_answers(text: str, expected: object) -> None:
    assert phones_fast.e164(text) == expected


@pytest.mark.parametrize("text", [
    "+79161234567", "+", "", "79161234567", "++7916", "+7916x", "+7916 ", " +7916", "+7916\n",
    "+٣٤٥٦٧٨٩٠١٢٣", "+¹²³⁴⁵⁶⁷⁸⁹⁰", "+７９１６１２３４５６７", "+0", "-7916", "+-7916",
])
def test_the_fast_path_reads_only_a_plus_and_ascii_digits(text: str) -> None:
    # What the pattern r"\+[0-9]+" took, and nothing else: other scripts' digits, which
    # str.isdigit takes too, go to the library.
    fast = phones_fast.e164(text)
    if re.fullmatch(r"\+[0-9]+", text) is None:
        assert fast is Fallback.ASK_LIBRARY
    assert phones_fast.is_plus_digits(text, text[1:]) is (
        re.fullmatch(r"\+[0-9]+", text) is not None)


def normalize_with_library(raw: str, region: str) -> str | None:
    """runtime.phones.normalize_phone as it was, all by the library."""
    text = raw.strip()
    region = region.strip().upper()
    for candidate in candidates(text, region):
        e164 = read_with_library(candidate, region)
        if e164 is not None:
            return e164
    return None


def test_digits_without_plus_normalise_as_before() -> None:
    """Digits as providers send them (no `+`): international or national, both readings."""
    rng = random.Random(11)
    for region, e164 in list(examples())[::6]:
        for text in variants(e164, rng):
            for raw in (text, text[1:]):
                for reading_region in (region, "RU"):
                    assert normalize_phone(raw, reading_region) == normalize_with_library(
                        raw, reading_region), (raw, reading_region)
