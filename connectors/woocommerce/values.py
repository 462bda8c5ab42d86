"""Values checked before they are written, and written values checked in WooCommerce's answer.

WooCommerce refuses nothing: it stores a bad value in a mangled form (captured on 11.0.1: a price
``"abc"`` is stored as ``""``, ``"12,50"`` as ``"1250"``, ``"-5"`` as -5; a quantity ``"abc"`` as 0,
``7.5`` as 7; a sale price above the regular one is dropped). So every price and quantity is
checked here before it leaves, written in the one form WooCommerce reads as meant (plain digits
and a dot, no exponent), and a write counts as done only when the record WooCommerce answers with
holds the value sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["price_text", "stock_amount", "unstored"]


def price_text(value: Any, field: str) -> str:
    """``value`` as a price string WooCommerce stores unchanged, or ``ValueError`` saying why not."""
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"{field} {value!r} is not a number; WooCommerce would store it mangled") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{field} {value!r} must be a number of 0 or more; WooCommerce would store it as sent")
    return format(number, "f")


def stock_amount(value: Any) -> int:
    """``value`` as a whole quantity of 0 or more, or ``ValueError`` saying why not."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"cannot set stock to {value!r}: WooCommerce takes a whole number of 0 or more")
    return value


def _same(sent: Any, stored: Any) -> bool:
    if isinstance(sent, str) and isinstance(stored, str) and sent and stored:
        try:
            return Decimal(sent) == Decimal(stored)
        except InvalidOperation:
            return False
    return sent == stored


def unstored(sent: Mapping[str, Any], record: Mapping[str, Any], fields: tuple[str, ...]) -> str | None:
    """Which of ``fields`` WooCommerce's answer does not hold as sent (``None`` when all are)."""
    wrong = [
        f"{f} {record.get(f)!r} (sent {sent[f]!r})" for f in fields if f in sent and not _same(sent[f], record.get(f))
    ]
    if not wrong:
        return None
    return "WooCommerce stored " + ", ".join(wrong) + "; the value was not kept as written"
