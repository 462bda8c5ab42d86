"""The order record: a sale on one channel, its lines of SKU and quantity, and the status that decides reservations.

A platform's order statuses are many and differ between platforms; the hub keeps one small
vocabulary (``OrderStatus``) whose only job is to say whether an order still holds stock. Each
connector maps its platform's words onto it with a table (``status_from_table``), and a word the
table does not know is refused with the reason: guessing "open" would reserve stock nobody bought,
guessing "closed" would let two channels sell the last unit.

``Order`` is not yet an ``Entity``: the engine cannot pull or reconcile orders, and registering it
would let a ``jobs:`` entry name an entity no stage handles.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from hub.model.base import RecordInvalid
from hub.model.values import QUANTITY_MAX, normalize_sku, parse_whole

__all__ = ["Order", "OrderLine", "OrderStatus", "status_from_table"]


class OrderStatus(enum.StrEnum):
    """What an order means for stock, whatever the platform calls it."""

    #: Placed and not yet paid (or its payment failed): no platform has taken stock for it yet, and
    #: the customer may still pay or walk away. Reserves nothing.
    pending = "pending"
    #: Placed (paid or on hold awaiting payment) and not yet fulfilled: its units are spoken for.
    open = "open"
    #: Shipped or picked up: the units have left, the source of truth's on-hand already shows it.
    fulfilled = "fulfilled"
    #: Cancelled (or deleted): its units are back for sale.
    cancelled = "cancelled"
    #: Refunded: the sale is undone, nothing left to ship.
    refunded = "refunded"

    @property
    def reserves(self) -> bool:
        """Whether an order in this status holds stock at the location it will leave from."""
        return self is OrderStatus.open


def status_from_table(table: Mapping[str, OrderStatus], value: Any, *, vocabulary: str) -> OrderStatus:
    """``value`` looked up in a platform's ``table``; a value the table lacks is a ``RecordInvalid``
    naming the ``vocabulary`` and the words it knows, so the table gets the new word instead of the
    hub guessing what it means for stock."""
    status = table.get(value) if isinstance(value, str) else None
    if status is None:
        known = ", ".join(sorted(table))
        raise RecordInvalid(f"unknown {vocabulary} {value!r} (known: {known})", field="status")
    return status


class OrderLine(BaseModel):
    """One line of an order: a SKU, how many units, and the platform's id of the line if it has one."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sku: str
    quantity: int
    line_id: str | None = None

    @field_validator("sku", mode="before")
    @classmethod
    def _sku(cls, value: Any) -> str:
        return normalize_sku(value)

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> int:
        """A positive whole number within the model's 32-bit bound: a line of zero or fewer units
        reserves nothing and is a broken payload, not an order."""
        quantity = parse_whole(value)
        if not 1 <= quantity <= QUANTITY_MAX:
            raise ValueError(f"{quantity} is not a quantity a line can order (1 to {QUANTITY_MAX})")
        return quantity

    @field_validator("line_id", mode="before")
    @classmethod
    def _line_id(cls, value: Any) -> str | None:
        return None if value is None or value == "" else str(value)


class Order(BaseModel):
    """A sale on one channel, keyed by the channel (connector name) and the platform's order id."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    channel: str
    order_id: str
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    lines: tuple[OrderLine, ...] = ()
    #: The canonical location the order leaves from (shipped or picked up), when the platform says.
    location: str | None = None
    #: Click-and-collect: the customer picks the order up at ``location``.
    pickup: bool = False

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.order_id}"

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Order:
        """Validate ``values`` into an order, or raise ``RecordInvalid`` naming the fields at fault
        (the quarantine's error, as for every other record)."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as error:
            order_id = values.get("order_id")
            raise RecordInvalid.from_validation(error, None if order_id is None else str(order_id)) from None

    @field_validator("channel", "order_id", mode="before")
    @classmethod
    def _identity(cls, value: Any) -> str:
        text = "" if value is None else str(value).strip()
        if not text:
            raise ValueError("is empty")
        return text

    @field_validator("created_at", "updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """Aware and in UTC; a naive time is read as UTC, as WooCommerce's ``*_gmt`` fields are."""
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _pickup_has_location(self) -> Order:
        """A pickup order must say where: its stock is reserved in that store, nowhere else."""
        if self.pickup and self.location is None:
            raise ValueError("a pickup order names the location it is picked up from")
        return self
