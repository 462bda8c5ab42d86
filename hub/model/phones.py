"""Phone numbers in one canonical form, so that two spellings of one number are one value.

Platforms keep what people typed: ``347 123 4567`` in a shop's form, ``+39 347 1234567`` in the
CRM, ``0039 347 123 4567`` in a spreadsheet. Compared as text they differ, and the hub would
report a customer mismatch that is none. ``normalize_phone`` writes each as E.164
(``+393471234567``) with libphonenumber's metadata (the ``phonenumbers`` package), reading a
number without a country code as one of the hub's country (``hub.country``).

A number that does not parse as a possible one (no country code and no hub country, too short,
letters) is kept as given, trimmed: nothing is dropped, and it is compared as written. So is a
number with an extension, which E.164 cannot hold.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

__all__ = ["is_country", "normalize_phone"]

#: The international call prefix of most countries: ``0039 ...`` is ``+39 ...``. Tried when the
#: number does not parse otherwise (with no hub country, or one whose prefix differs, as 011 in the US).
_INTERNATIONAL_PREFIX = "00"


def is_country(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 alpha-2 country code (upper case) with a numbering plan."""
    return code in phonenumbers.SUPPORTED_REGIONS


def normalize_phone(value: object, country: str | None = None) -> str | None:
    """``value`` as E.164 when it is a possible phone number, read in ``country`` when it has no
    country code; otherwise the text as given, trimmed. ``None`` for no number (blank)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    e164 = _e164(text, country)
    if e164 is None and text.startswith(_INTERNATIONAL_PREFIX):
        e164 = _e164("+" + text.removeprefix(_INTERNATIONAL_PREFIX), None)
    return text if e164 is None else e164


def _e164(text: str, country: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, country)
    except NumberParseException:
        return None
    if number.extension or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)
