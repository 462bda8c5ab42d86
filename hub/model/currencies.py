"""How many decimals each currency has: the precision prices are read, compared and written at.

A price finer than its currency's minor unit cannot be charged, and a platform that stores money
at that precision (Shopify) rounds it: 12.345 EUR is kept as 12.34, the hub sees a difference
again on the next run and pushes 12.345 again, for ever. Knowing each currency's exponent lets
the model refuse such a price where it is read, with the reason, instead.

The exponents are ISO 4217's "minor unit" column (list one, as published by SIX, the ISO 4217
maintenance agency); only the currencies whose exponent is not 2 are listed. A code that is not
listed (most currencies, and any code ISO 4217 does not know) has 2 decimals. Codes without a
minor unit in ISO 4217 (gold, special drawing rights, test codes) are not sold in, and read as 2.
"""

from __future__ import annotations

__all__ = ["minor_units"]

#: ISO 4217 currencies whose minor unit is not two decimals.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_units(currency: str) -> int:
    """The decimals of an (upper-case, ISO 4217) currency code: EUR 2, JPY 0, KWD 3."""
    return _EXPONENTS.get(currency, 2)
