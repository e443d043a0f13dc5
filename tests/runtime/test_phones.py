"""Phone normalisation (contract §5.3): one number however it is written, None for non-numbers."""

from __future__ import annotations

import pytest

from runtime.phones import normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "+79161234567",
        "+7 916 123-45-67",
        "79161234567",  # international without "+", as most providers send it
        "89161234567",  # national, with the trunk prefix
        "8 (916) 123-45-67",
        "9161234567",  # national, without the trunk prefix
        "7 916 123 45 67",
        "  +7 (916) 123.45.67  ",
        "８９１６１２３４５６７",  # full-width digits
        "tel:+7-916-123-45-67",
    ],
)
def test_one_russian_number_however_written(raw: str) -> None:
    assert normalize_phone(raw, "RU") == "+79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "0079161234567",  # the ITU international prefix, which RU's own dialling plan lacks
        "00 7 916 123-45-67",
        "00 (7) 916 123 45 67",
        "sip:+79161234567@pbx.example",  # SIP URIs, as PBXs and SIP trunks give caller ids
        "sip:79161234567@10.0.0.1:5060",
        "sip:89161234567@pbx.example;user=phone",
        "SIP:8-916-123-45-67@pbx.example",
        "sips:+7 916 123 45 67@pbx.example",
        "<sip:79161234567@pbx.example>",
        '"Иван Петров" <sip:+79161234567@pbx.example>;tag=a1b2',
        "sip:0079161234567@pbx.example",
        "tel:79161234567",
        "79161234567@sip.example",  # the address without its scheme
        "<+79161234567@10.0.0.1:5060>",
        "tel:+7-916-123-45-67;ext=101",
    ],
)
def test_international_prefix_and_uri_caller_ids(raw: str) -> None:
    assert normalize_phone(raw, "RU") == "+79161234567"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("00375 29 123-45-67", "RU", "+375291234567"),
        ("00447911123456", "US", "+447911123456"),
        ("0049 151 12345678", "DE", "+4915112345678"),  # DE's own prefix: read as before
        ("sip:015112345678@pbx.example", "DE", "+4915112345678"),
        ("sip:+14155552671@trunk.example", "RU", "+14155552671"),
    ],
)
def test_international_prefix_and_uris_in_other_regions(
    raw: str, region: str, expected: str
) -> None:
    assert normalize_phone(raw, region) == expected


def test_region_is_read_case_insensitively() -> None:
    assert normalize_phone("89161234567", "ru") == "+79161234567"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("4915112345678", "DE", "+4915112345678"),  # country code first, though DE allows long
        ("015112345678", "DE", "+4915112345678"),
        ("0049 151 12345678", "DE", "+4915112345678"),
        ("14155552671", "US", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("447911123456", "GB", "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("74951112233", "RU", "+74951112233"),
    ],
)
def test_digits_starting_with_the_country_code_in_any_region(
    raw: str, region: str, expected: str
) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("375291234567", "RU", "+375291234567"),  # a Belarusian caller, sent without "+"
        ("447911123456", "RU", "+447911123456"),
        ("+447911123456", "RU", "+447911123456"),
        ("+79161234567", "US", "+79161234567"),
    ],
)
def test_foreign_numbers(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("region", ["", "ZZ", "XX"])
def test_an_unknown_region_still_reads_international_numbers(region: str) -> None:
    assert normalize_phone("+79161234567", region) == "+79161234567"
    assert normalize_phone("79161234567", region) == "+79161234567"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "unknown",
        "restricted",
        "101",  # an internal extension
        "2001",
        "0",
        "00000",
        "+",
        "sip:101@pbx.example",  # an extension, however addressed
        "sip:anonymous@anonymous.invalid",
        "<sip:101@10.0.0.1>",
        "sip:@pbx.example",
        "sip:",
        "00",
        "00101",
        "sip:+7 916@pbx.example",
        "101@pbx.example",
        "ivan@example.com",
        "+7 916",  # too short
        "+7 000 000 00 00",  # possible length, no such range
        "1" * 300,
    ],
)
def test_not_a_phone_number(raw: str) -> None:
    assert normalize_phone(raw, "RU") is None
