"""Phone numbers in one canonical form: every spelling of one number is one E.164 value, read in the
hub's country when it has no country code; what does not parse is kept as written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.model.phones import is_country, normalize_phone


@pytest.mark.parametrize(
    "spelling",
    ["347 123 4567", "3471234567", "+39 347 1234567", "+39-347-123-4567", "0039 347 123 4567", "(+39) 347.123.4567"],
)
def test_spellings_of_one_italian_mobile_are_one_value(spelling: str) -> None:
    assert normalize_phone(spelling, "IT") == "+393471234567"


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("02 1234 5678", "IT", "+390212345678"),  # the trunk 0 of an Italian land line is kept
        ("020 7946 0958", "GB", "+442079460958"),  # the trunk 0 of a British number is dropped
        ("(555) 123-4567", "US", "+15551234567"),
        ("+39 347 1234567", "US", "+393471234567"),  # a country code wins over the hub's country
        ("0039 02 1234 5678", "US", "+390212345678"),  # 00 read as + where the country's prefix is 011
        ("0039 02 1234 5678", None, "+390212345678"),
        ("+1 (555) 123-4567", None, "+15551234567"),
        ("tel:+39-347-1234567", None, "+393471234567"),
    ],
)
def test_numbers_become_e164(raw: str, country: str | None, expected: str) -> None:
    assert normalize_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("347 123 4567", None),  # no country code and no hub country: nobody knows which country
        ("ext. 12", "IT"),  # parses as +3912, which no Italian number can be
        ("123", "IT"),
        ("+0 123 4567 89", None),
        ("+1 555 123 4567 ext. 12", None),  # E.164 has no room for the extension
        ("call the shop", "IT"),
    ],
)
def test_what_does_not_parse_is_kept_as_given_trimmed(raw: str, country: str | None) -> None:
    assert normalize_phone(f"  {raw} ", country) == raw


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_no_number_is_none(blank: str | None) -> None:
    assert normalize_phone(blank, "IT") is None


@given(st.text(alphabet="0123456789 +-().x", max_size=20), st.sampled_from([None, "IT", "US", "GB"]))
def test_normalizing_twice_changes_nothing(raw: str, country: str | None) -> None:
    once = normalize_phone(raw, country)
    assert normalize_phone(once, country) == once
    assert normalize_phone(once, None) == once  # a record read back without the hub's country is the same


def test_countries_are_iso_3166_alpha_2_codes() -> None:
    assert is_country("IT") and is_country("GB") and is_country("US")
    assert not is_country("UK") and not is_country("it") and not is_country("ITA")
