"""How WooCommerce stores the values a write hands it: silently coerced, never refused.

Seen on a real WooCommerce 11.0.1 (captures 53-56 in ``tests/fixtures/platforms/woocommerce``) and
explained by its PHP: prices go through ``wc_format_decimal``, which keeps only digits, ``.`` and
``-`` (``"abc"`` becomes ``""``, ``"12,50"`` becomes ``"1250"``, ``"-5"`` stays); quantities go through
``wc_stock_amount``, which is PHP's ``intval`` (``"abc"`` becomes 0, ``7.5`` becomes 7). The sandbox
applies the same rules so that a client which sends such a value sees the damage a real store does.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["is_on_sale", "php_intval", "price_number", "stored_price"]

_NOT_DECIMAL = re.compile(r"[^0-9.\-]")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


def stored_price(value: Any) -> str:
    """A price as ``wc_format_decimal`` keeps it (PHP turns a JSON number into its decimal text)."""
    if value is None or isinstance(value, bool):
        return ""
    text = format(value, "f").rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return _NOT_DECIMAL.sub("", text)


def php_intval(value: Any) -> int:
    """PHP's ``intval``: the leading integer of a string (0 if none), a float truncated."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group(1)) if match else 0
    return 0


def price_number(text: str) -> Decimal | None:
    """A stored price as a number (``None`` for an empty or malformed one such as ``"1.2.3"``)."""
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def is_on_sale(regular: str, sale: str) -> bool:
    """WooCommerce keeps a sale price only below the regular one (``WC_Product::is_on_sale``)."""
    low, high = price_number(sale), price_number(regular)
    return low is not None and (high is None or low < high)
