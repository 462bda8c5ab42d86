"""The value rules of the canonical model: how amounts, quantities, SKUs, e-mails and currencies are read and bounded.

Money is ``Decimal`` (never float) with an ISO 4217 currency, at that currency's precision
(``hub.model.currencies``); quantities are whole numbers within a signed 32-bit range. A value
outside these bounds is refused where it is read, so one bad cell is quarantined with its origin
instead of stopping a push. The record classes (``hub.model.catalogue``, ``hub.model.customers``)
and their fast paths call these very functions, so both paths refuse the same values.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.model.currencies import minor_units

__all__ = [
    "PRICE_LIMIT",
    "QUANTITY_MAX",
    "QUANTITY_MIN",
    "RULES_VERSION",
    "at_currency_precision",
    "barcode_value",
    "canonical_text",
    "currency_value",
    "money_value",
    "normalize_email",
    "normalize_sku",
    "optional_text",
    "parse_decimal",
    "parse_whole",
    "quantity_value",
]


#: The version of the value rules below (bounds, plain-digit text, currency precision). It salts every
#: mapping's fingerprint, so rows stored under older, looser rules are read again once under these
#: instead of being trusted by their unchanged hash.
RULES_VERSION = b"values/2"


_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_sku(value: Any) -> str:
    """Trim a SKU; case is preserved because platforms treat ``ab-1`` and ``AB-1`` as different."""
    if value is None:
        raise ValueError("SKU is missing")
    sku = str(value).strip()
    if not sku:
        raise ValueError("SKU is empty")
    if "@" in sku:
        raise ValueError(f"SKU {sku!r} contains '@', which is reserved for stock keys (SKU@location)")
    return sku


def normalize_email(value: Any) -> str:
    """Trim and lowercase an e-mail address: the customer key across every platform."""
    if value is None:
        raise ValueError("e-mail is missing")
    email = str(value).strip().lower()
    if not _EMAIL.match(email):
        raise ValueError(f"{email!r} is not an e-mail address")
    return email


def parse_decimal(value: Any, *, decimal_comma: bool = False) -> Decimal:
    """Parse a money amount from a platform or a file, exactly.

    Floats are refused on purpose: ``79.9`` as a float is not ``79.90`` and a hub that compares
    prices must not invent differences. ``decimal_comma`` reads Italian/German exports
    (``1.234,50``). Text is plain digits only: ``Decimal`` (like ``int``) would also read ``1e30``,
    ``1_000.00`` and non-ASCII digits (``٥``), none of which a feed means as an amount.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        if not decimal_comma and value.isascii() and "e" not in value and "E" not in value and "_" not in value:
            # Most amounts are plain ("79.90"): Decimal reads them, and any outer whitespace, as the
            # thorough path does; anything it refuses ("1 234.50") goes the thorough path.
            try:
                result = Decimal(value)
            except InvalidOperation:
                pass
            else:
                if result.is_finite():
                    return result
        result = _parse_decimal_text(value, decimal_comma)
    elif isinstance(value, float):
        raise ValueError(f"{value!r} is a float; money must be given as a decimal string")
    else:
        raise ValueError(f"{value!r} is not a decimal number")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def money_value(value: Any) -> Decimal | None:
    """An exact, finite, non-negative amount below ``PRICE_LIMIT`` (``None`` for no amount): the one
    money check, shared by the model's validator and its fast path."""
    if type(value) is Decimal and value.is_finite():  # the common case first: a parsed amount
        amount = value
    elif value is None or value == "":
        return None
    else:
        amount = parse_decimal(value)
    if amount < _ZERO:
        raise ValueError(f"{amount} is negative")
    if amount >= PRICE_LIMIT:
        raise ValueError(f"{amount} is too large for a price (at most {_PRICE_DIGITS} digits before the point)")
    return amount


def at_currency_precision(amount: Decimal, currency: str) -> Decimal:
    """``amount`` written at ``currency``'s precision (79.9 EUR as 79.90, 1000.00 JPY as 1000), or
    refused when it has more decimals than the currency: a platform that keeps money at that
    precision would round it and every run would push it again. Refused rather than rounded, so
    the source gets fixed instead of the hub choosing a price nobody set."""
    places = minor_units(currency)
    step = _STEPS[places]
    if amount.same_quantum(step):  # the common case: written with the currency's decimals
        return amount
    exact = amount.quantize(step)
    if exact != amount:
        raise ValueError(f"{amount} {currency} has more decimals than {currency}'s {places}")
    return exact


#: Prices have at most this many digits before the decimal point: no shop sells at a trillion, and
#: a value past it is a broken feed (a barcode in the price column, a missing decimal point).
_PRICE_DIGITS = 12
PRICE_LIMIT = Decimal(10**_PRICE_DIGITS)
#: ISO 4217 exponents (0 to 4) -> the smallest amount of a currency with that many decimals.
_STEPS = {places: Decimal(1).scaleb(-places) for places in range(5)}


def currency_value(value: Any) -> str:
    known = _CURRENCIES_SEEN.get(value) if type(value) is str else None
    if known is not None:
        return known
    text = str(value).strip().upper()
    if not _CURRENCY.match(text):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    if type(value) is str and len(_CURRENCIES_SEEN) < 1000:
        _CURRENCIES_SEEN[value] = text
    return text


_ZERO = Decimal(0)
#: Currency spellings already checked (``"eur "`` -> ``"EUR"``): a catalogue repeats a handful of
#: them hundreds of thousands of times. Bounded, in case a feed puts something else in the column.
_CURRENCIES_SEEN: dict[str, str] = {}


def parse_whole(value: Any) -> int:
    """A whole number from a platform or a file: an int, an integral float or decimal, or text of
    plain digits (``"7"``, ``"-2"``, ``"7.0"``, ``"1 000"``). ``int()`` would also read ``1_000``
    and ``٥``, and ``Decimal`` ``1e3``: a feed means none of them as a count, so they are refused
    with the reason."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # the common case: "40"
            return int(text)
        number = parse_decimal(text)
    elif isinstance(value, int):
        return int(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    elif isinstance(value, Decimal):
        number = value
    else:
        raise ValueError(f"{value!r} is not a whole number")
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def quantity_value(value: Any) -> int | None:
    """A whole quantity within ``QUANTITY_MIN``..``QUANTITY_MAX`` (``None`` for none). Negatives pass:
    a target may report them (Shopify's ``available`` of an oversold item); the source of truth may
    not, and ``hub.model.limits.check_truth`` refuses them there."""
    if type(value) is int:
        quantity = value
    elif value is None or value == "":
        return None
    else:
        quantity = parse_whole(value)
    if not QUANTITY_MIN <= quantity <= QUANTITY_MAX:
        raise ValueError(f"{quantity} is out of range for a quantity ({QUANTITY_MIN} to {QUANTITY_MAX})")
    return quantity


#: Quantities are signed 32-bit integers: no platform holds more (Shopify's GraphQL ``Int`` is 32
#: bits and refuses the whole ``inventorySetQuantities`` call for one value past it).
QUANTITY_MIN = -(2**31)
QUANTITY_MAX = 2**31 - 1


def barcode_value(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise ValueError(f"{text!r} is not a GTIN (8, 12, 13 or 14 digits)")
    return text


def optional_text(value: Any) -> str | None:
    """An optional string field as the model keeps it (stripped); anything else is for pydantic."""
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError("not a string")
    return value.strip()


def _parse_decimal_text(value: str, decimal_comma: bool) -> Decimal:
    """The thorough reading of an amount written as text: no-break and plain spaces between
    thousands dropped, ``1.234,50`` read with a decimal comma, then plain digits only."""
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if decimal_comma:
        text = text.replace(".", "").replace(",", ".")
    if not _PLAIN_NUMBER.fullmatch(text):
        raise ValueError(_not_plain(value, text))
    return Decimal(text)


#: What an amount or a quantity may look like once spaces are dropped: digits 0-9, a point, a sign.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


def _not_plain(value: str, text: str) -> str:
    """Why ``value`` (``text`` once spaces are dropped) is not a plain number, so the feed can be fixed."""
    if _EXPONENT.fullmatch(text):
        return f"{value!r} is in exponent notation; write it in plain digits"
    if "_" in text and _PLAIN_NUMBER.fullmatch(text.replace("_", "")):
        return f"{value!r} has an underscore; write it in plain digits (a space may separate thousands)"
    if any(char.isdigit() and not char.isascii() for char in text):
        return f"{value!r} has digits other than 0-9; write it in plain digits"
    return f"{value!r} is not a decimal number"


def canonical_text(text: str) -> str:
    """Text as compared across platforms: Unicode NFC (an accented letter typed as one character or
    as a letter plus an accent is one letter) and every run of white space as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())
