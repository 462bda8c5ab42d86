"""What a platform can hold, and what only the source of truth is held to.

The model (``hub.model.values``) refuses, where a value is read, what no platform means: a quantity past
a signed 32-bit integer, a price of more than 12 digits or finer than its currency. Two checks
depend on who holds the value, so they are separate functions the engine calls:

- ``out_of_range(change, limits, connector)``, per change before it is sent: a value the hub
  computed for a target (the sum of the warehouses a channel sells from, a price after a markup)
  that this target cannot hold. Refused there, it fails that record alone; sent, it fails the
  whole call it travels in (Shopify refuses an ``inventorySetQuantities`` document that holds one
  quantity past 32 bits, and none of the other changes of the call land).
- ``check_truth(record)``, per record pulled from a job's source of truth: negative stock. A target
  may report it (Shopify's ``available`` of an oversold item) and it is read as reported; as the
  golden value it would be written to every channel as 0 without a word, so it is refused and
  quarantined with its origin and reason, for the source to be fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from hub.model.base import Record, RecordInvalid
from hub.model.catalogue import StockLevel
from hub.model.values import PRICE_LIMIT, QUANTITY_MAX, QUANTITY_MIN, at_currency_precision

if TYPE_CHECKING:
    from hub.plugins.contract import Change

__all__ = ["ValueLimits", "check_truth", "out_of_range"]

_QUANTITIES = frozenset({"available", "on_hand"})
_AMOUNTS = frozenset({"amount", "compare_at"})


@dataclass(frozen=True, slots=True)
class ValueLimits:
    """The values one platform can hold. The defaults are the model's bounds (what the hub reads
    back); a connector declares narrower ones as its ``value_limits``. Prices are always checked at
    their currency's precision: a finer one could not be read back."""

    #: The smallest and the largest quantity the platform stores.
    quantity_min: int = QUANTITY_MIN
    quantity_max: int = QUANTITY_MAX
    #: Prices must stay below this.
    price_limit: Decimal = PRICE_LIMIT


def out_of_range(change: Change, limits: ValueLimits, connector: str) -> str | None:
    """Why ``connector`` cannot hold a value of ``change`` (``None`` when it can hold them all).

    The reason reads ``value out of range for <connector>: ...``, for the change's failure and the
    mismatch's detail. Prices are checked at the currency of the change's record; a change without
    a record is checked against the ranges only."""
    currency = getattr(change.record, "currency", None)
    for name, value in change.values.items():
        if value is None:
            continue
        if name in _QUANTITIES:
            if value > limits.quantity_max:
                return f"value out of range for {connector}: {name} {value} is above {limits.quantity_max}, its most"
            if value < limits.quantity_min:
                return f"value out of range for {connector}: {name} {value} is below {limits.quantity_min}, its least"
        elif name in _AMOUNTS:
            if value >= limits.price_limit:
                return f"value out of range for {connector}: {name} {value} is not below {limits.price_limit}"
            if isinstance(currency, str):
                try:
                    at_currency_precision(value, currency)
                except ValueError as exc:
                    return f"value out of range for {connector}: {name} {exc}"
    return None


def check_truth(record: Record) -> None:
    """Refuse a record no source of truth may give: negative stock (``RecordInvalid``, for the
    quarantine). ``available`` is checked: it never exceeds ``on_hand``, so a negative on hand has a
    negative available too. What a target reports is not checked here: it is read as it is."""
    if isinstance(record, StockLevel) and record.available < 0:
        raise RecordInvalid(
            f"available: {record.available} is negative; the source of truth must give stock of 0 or more "
            "(a negative count would reach every channel as 0)",
            key=record.key,
            field="available",
        )
