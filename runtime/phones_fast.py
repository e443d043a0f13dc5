"""The `phonenumbers` library's answer for `+` and digits (`+79161234567`), without its parse.

`e164("+79161234567")` gives what `phonenumbers.parse` then `is_valid_number` then
`format_number(..., E164)` give for that text: the E.164 form of a valid number, None for an
invalid one, or ASK_LIBRARY when the text is not of the one shape read here, or takes a turn
of the library's parse not repeated here (a national prefix after the country code, a
leading zero, an unknown country code, a length the parse refuses).

Why: the library's generic parse (any text, any formatting, IDD prefixes, extensions) and its
validity check (a dozen patterns looked up in `re`'s cache on every call) were about 220,000
instructions per new number, more than a whole execution-row unit of work; this path is about
a tenth of that.

How it stays the library's answer: it walks the library's own metadata the way the library
does, step for step (the country code split of `_extract_country_code`; the number's region as
`region_code_for_number` finds it; `is_valid_number_for_region`'s check that the number matches
the general description and one of the types', lengths first, as `_number_type_helper` does).
tests/runtime/test_phones_fast.py checks it against the library over numbers of every region.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import PhoneMetadata


class Fallback(enum.Enum):
    """e164's "ask the library"."""

    ASK_LIBRARY = "ask the library"


Answer = str | None | Literal[Fallback.ASK_LIBRARY]

# The library's bounds on a national significant number (phonenumberutil._MIN_LENGTH_FOR_NSN,
# _MAX_LENGTH_FOR_NSN); the short ones it refuses in several ways, so those go to it. 3 also
# keeps the library's "too short after the plus" refusal (2 digits or fewer) on its side.
MIN_NSN = 3
MAX_NSN = 17
MAX_COUNTRY_CODE = 3
# The region of numbers that belong to no country (+800, +808, ...).
NON_GEO = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY


@dataclass(frozen=True, slots=True)
class Desc:
    """A PhoneNumberDesc, ready: its possible lengths and its compiled pattern (a desc with
    no pattern matches nothing, and is left out)."""

    lengths: frozenset[int]  # empty: any length
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Region:
    """One region's metadata, as validity needs it."""

    code: str
    leading_digits: re.Pattern[str] | None
    general: Desc | None
    # The types a valid number matches one of (_number_type_helper: premium rate ... fixed
    # line, and mobile unless its pattern is the fixed line's). Which one does not matter
    # here, so the common ones come first.
    types: tuple[Desc, ...]
    country_code_ok: bool  # is_valid_number_for_region's check of the country code

    def valid(self, nsn: str) -> bool:
        """_number_type_helper(nsn, metadata) != UNKNOWN; as _is_number_matching_desc, the
        lengths first (a full match is a match, so the pattern's fullmatch alone)."""
        size = len(nsn)
        general = self.general
        if general is None or (general.lengths and size not in general.lengths) or (
                general.pattern.fullmatch(nsn) is None):
            return False
        for desc in self.types:
            if (not desc.lengths or size in desc.lengths) and desc.pattern.fullmatch(nsn):
                return True
        return False


@dataclass(frozen=True, slots=True)
class CountryCode:
    """A country calling code: its regions, and the metadata the parse uses for it."""

    code: int
    regions: tuple[Region | None, ...]  # None: no metadata for that region
    national_prefix: re.Pattern[str] | None  # national_prefix_for_parsing

    def region_for(self, nsn: str) -> Region | None:
        """region_code_for_number, given the country code's regions."""
        if len(self.regions) == 1:
            return self.regions[0]
        for region in self.regions:
            if region is None:
                continue
            if region.leading_digits is not None:
                if region.leading_digits.match(nsn):
                    return region
            elif region.valid(nsn):
                return region
        return None


def e164(text: str) -> Answer:
    """E.164 for a valid `+digits` number, None for an invalid one, else ASK_LIBRARY."""
    digits = text[1:]
    if not is_plus_digits(text, digits):
        return Fallback.ASK_LIBRARY
    split = _split(digits)
    if split is None:
        return Fallback.ASK_LIBRARY
    country, nsn = split
    if not MIN_NSN <= len(nsn) <= MAX_NSN or nsn[0] == "0":
        return Fallback.ASK_LIBRARY  # refused, or an Italian leading zero: the library's way
    if country.national_prefix is not None and country.national_prefix.match(nsn):
        return Fallback.ASK_LIBRARY  # the parse may strip it (e.g. +7 8...)
    region = country.region_for(nsn)
    if region is None or not region.country_code_ok or not region.valid(nsn):
        return None
    return text


def is_plus_digits(text: str, digits: str) -> bool:
    """Whether `text` is the one shape read here, a plus and ASCII digits (`digits` is the text
    after the plus): nothing else. Not a pattern's match: two string checks cost a tenth of
    it (every new number comes this way). str.isdigit also takes other scripts' digits, which
    the library first converts: isascii keeps them out (an empty text is no digits)."""
    return text[:1] == "+" and digits.isascii() and digits.isdigit()


def _split(digits: str) -> tuple[CountryCode, str] | None:
    """The country code and the rest (phonenumberutil._extract_country_code)."""
    if digits[0] == "0":
        return None
    for size in range(1, MAX_COUNTRY_CODE + 1):
        prefix = digits[:size]
        country = _COUNTRIES.get(prefix, _UNSEEN)
        if country is _UNSEEN:
            country = _COUNTRIES[prefix] = _country(int(prefix))
        if country is not None:
            return country, digits[size:]
    return None


# Country codes by their digits, made ready when first seen (None: no such code).
_COUNTRIES: dict[str, CountryCode | None] = {}
_UNSEEN = CountryCode(code=0, regions=(), national_prefix=None)


def _country(code: int) -> CountryCode | None:
    """A country code's metadata, ready (None: no such code)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
    if regions is None:
        return None
    # The metadata the parse reads a number of this code with (its main region's).
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code))
    prefix = main.national_prefix_for_parsing if main is not None else None
    return CountryCode(
        code=code, regions=tuple(_region(code, r, len(regions) > 1) for r in regions),
        national_prefix=re.compile(prefix) if prefix else None)


def _region(code: int, region_code: str, shared: bool) -> Region | None:
    if shared:
        # _region_code_for_number_from_list reads by region only; the validity check after it
        # by region or calling code, which for a listed region is the same metadata.
        metadata = PhoneMetadata.metadata_for_region(region_code.upper(), None)
    else:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region_code.upper())
    if metadata is None:
        return None
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    return Region(
        code=region_code,
        leading_digits=(re.compile(metadata.leading_digits)
                        if metadata.leading_digits is not None else None),
        general=_desc(metadata.general_desc),
        types=tuple(desc for desc in map(_desc, (
            metadata.fixed_line, None if same else metadata.mobile, metadata.premium_rate,
            metadata.toll_free, metadata.shared_cost, metadata.voip, metadata.personal_number,
            metadata.pager, metadata.uan, metadata.voicemail)) if desc is not None),
        country_code_ok=(region_code == NON_GEO
                         or code == phonenumbers.country_code_for_valid_region(region_code)))


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> Desc | None:
    """None for no desc or one without a pattern (_match_national_number: no match)."""
    if desc is None or not desc.national_number_pattern:
        return None
    return Desc(lengths=frozenset(desc.possible_length or ()),
                pattern=re.compile(desc.national_number_pattern))
