"""Phone numbers compared as numbers (contract §5.3), with the `phonenumbers` library.

`normalize_phone` gives E.164 (`+79161234567`), or None when the text is not a phone number:
a hidden caller id, `anonymous`, an internal extension such as `101`, anything invalid.
`+7 916 123-45-67`, `79161234567` and `89161234567` read in region RU are one number, and so
are `0079161234567` (the `00` international prefix, in any region) and the caller ids SIP
trunks and PBXs send, `sip:+79161234567@pbx.example` or `tel:89161234567`.
Readings of the common shape `+digits` get the library's answer from runtime/phones_fast.py,
without the library's generic parse.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from runtime import phones_fast

# What people and providers put between digits; removing it tells "digits only" apart from
# text such as `anonymous` or `sip:101@pbx`.
FORMATTING = re.compile(r"[\s().\-/]")
# phonenumbers refuses longer input anyway; stop earlier than it does, cheaply.
MAX_INPUT_CHARS = 250
# A SIP or tel URI, bare or in angle brackets with a display name (`"Ivan" <sip:...>;tag=1`):
# its user part, up to the host, a parameter or a header, is the number. The library reads
# `tel:` URIs (with their `phone-context`) but not `sip:`, whose user part is all it needs.
URI_USER = re.compile(r"(?<![\w.+-])(sips?|tel):([^@;>?]*)", re.IGNORECASE)
# The same address without its scheme, as some PBXs give it: `79161234567@sip.example`.
ADDRESS_USER = re.compile(r"<?([^<>@\s;]+)@[^@\s]+")
# The ITU's international prefix, which many regions' own dialling plans do not have (RU's is
# 810), though providers and people everywhere write `00 7 916 ...`.
ITU_PREFIX = "00"


def normalize_phone(raw: str, region: str) -> str | None:
    """E.164 for a valid phone number, else None. `region`: ISO 3166 code, e.g. "RU"."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        return None
    region = region.strip().upper()
    for candidate in candidates(text, region):
        e164 = read(candidate, region)
        if e164 is not None:
            return e164
    return None


def read(candidate: str, region: str) -> str | None:
    """One reading: E.164 if `candidate` parses in `region` as a valid number, else None.
    `+` and digits the fast path answers, as the library would (runtime/phones_fast.py)."""
    fast = phones_fast.e164(candidate)
    if fast is not phones_fast.Fallback.ASK_LIBRARY:
        return fast
    return read_with_library(candidate, region)


def read_with_library(candidate: str, region: str) -> str | None:
    """The same reading, all by the library: any text."""
    number = parse(candidate, region)
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return None


def candidates(text: str, region: str) -> list[str]:
    """The readings of `text` to try, most likely first.

    Providers commonly send international numbers without the `+` (`79161234567`). Read as a
    national number that can look valid too (in DE `4915112345678` parses as a long national
    number), so digits that begin with the region's own country code are read as international
    first. Digits that are valid only with a `+` (a foreign caller, `375291234567` in RU) are
    tried last, after the national reading. Digits after `00` are tried as international last
    of all, where the region's own prefix did not read them. A SIP or tel URI is read by its
    user part.
    """
    # (The containment tests spare the common `+digits` and digits the regular expressions.)
    uri = URI_USER.search(text) if ":" in text else None
    if uri is not None:
        user = uri.group(2).strip()
        readings = candidates(user, region) if user else []
        # tel: as written first: the library honours its phone-context
        return [text, *readings] if uri.group(1).lower() == "tel" else readings
    address = ADDRESS_USER.fullmatch(text) if "@" in text else None
    if address is not None:
        return candidates(address.group(1), region)
    if "+" in text:  # never digits only, whatever the formatting: read as written
        return [text]
    digits = FORMATTING.sub("", text)
    if not digits.isdigit():
        return [text]  # has a `+`, letters or other text: the library reads it as written
    international = "+" + digits
    country_code = str(phonenumbers.country_code_for_region(region))
    if country_code != "0" and digits.startswith(country_code):
        return [international, text]
    if digits.startswith(ITU_PREFIX):
        return [text, "+" + digits.removeprefix(ITU_PREFIX)]
    return [text, international]


def parse(text: str, region: str) -> PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def contact_number(raw: str, normalized: str) -> str:
    """How a contact made from a caller writes the number (contract §5.3: named after it): as
    the provider gave it, except a SIP or tel URI or a user@host address, whose host and
    parameters are the trunk's and no part of the client's number: then its E.164 form."""
    text = raw.strip()
    if (":" in text and URI_USER.search(text) is not None) or (
            "@" in text and ADDRESS_USER.fullmatch(text) is not None):
        return normalized
    return raw
