"""The catalogue records, keyed by SKU: ``Product`` (a sellable variant), ``Price`` and ``StockLevel``.

Keys are the identity that holds across platforms: the SKU of a sellable variant, the SKU plus a
canonical location code for a stock level. Each class has a ``_fast`` path (plain Python, the very
value functions of ``hub.model.values``) for the shapes most rows have; pydantic decides the rest.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from hub.model.base import Entity, Record
from hub.model.values import (
    at_currency_precision,
    barcode_value,
    currency_value,
    money_value,
    normalize_sku,
    optional_text,
    quantity_value,
)

__all__ = ["Price", "Product", "StockLevel"]


Sku = Annotated[str, Field(min_length=1, max_length=255)]


class _SkuKeyed(Record):
    sku: Sku

    @field_validator("sku", mode="before")
    @classmethod
    def _sku(cls, value: Any) -> str:
        return normalize_sku(value)


class Product(_SkuKeyed):
    """One sellable variant. ``group`` is the parent product that variants share."""

    entity: ClassVar[Entity] = Entity.products
    compared_fields: ClassVar[tuple[str, ...]] = ("title", "barcode", "status")

    title: str | None = None
    barcode: str | None = None
    group: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    status: Literal["active", "draft", "archived"] = "active"

    @property
    def key(self) -> str:
        return self.sku

    @field_validator("barcode", mode="before")
    @classmethod
    def _barcode(cls, value: Any) -> str | None:
        return barcode_value(value)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Product | None:
        sku = values.get("sku")
        options = values.get("options")
        status = values.get("status", "active")
        if (
            not values.keys() <= _PRODUCT_FIELDS
            or type(sku) is not str
            or status not in _STATUSES
            or ("options" in values and options != {})
        ):
            return None  # options (a nested dict) and everything unusual: pydantic
        sku = normalize_sku(sku)
        if len(sku) > 255:
            return None
        fields = {
            "sku": sku,
            "title": optional_text(values.get("title")),
            "barcode": barcode_value(values.get("barcode")),
            "group": optional_text(values.get("group")),
            "options": {},
            "status": status,
        }
        return cls._install(fields, values)


class Price(_SkuKeyed):
    """The selling price of a variant in one currency; ``compare_at`` is the struck-through price."""

    entity: ClassVar[Entity] = Entity.prices
    compared_fields: ClassVar[tuple[str, ...]] = ("amount", "compare_at")

    amount: Decimal
    currency: str = "EUR"
    compare_at: Decimal | None = None
    #: What a customer pays as the platform derived it (WooCommerce's read-only ``price``), where it
    #: keeps one apart from the written fields: a product saved halfway shows the new ``amount``
    #: while still charging the old price, and only this field tells. Read, compared, never written.
    effective: Decimal | None = None

    @property
    def key(self) -> str:
        return self.sku

    @field_validator("amount", "compare_at", "effective", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        """Exact decimals only (no floats), never negative: one validator, as it runs per record."""
        return money_value(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        return currency_value(value)

    @model_validator(mode="after")
    def _currency_precision(self) -> Price:
        """Amounts at the currency's precision (known only once both are read), or an error that
        names the amount at fault."""
        fields = self.__dict__
        for name in ("amount", "compare_at", "effective"):
            value = fields[name]
            if value is None:
                continue
            try:
                fields[name] = at_currency_precision(value, self.currency)
            except ValueError as exc:
                error = PydanticCustomError("currency_precision", "{reason}", {"reason": str(exc)})
                raise ValidationError.from_exception_data(
                    type(self).__name__, [InitErrorDetails(type=error, loc=(name,), input=value)]
                ) from None
        return self

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> Price | None:
        sku = values.get("sku")
        if not values.keys() <= _PRICE_FIELDS or type(sku) is not str or "effective" in values:
            return None  # (a platform's derived price: few channels, pydantic's path)
        sku = normalize_sku(sku)
        amount = money_value(values.get("amount"))
        if amount is None or len(sku) > 255:
            return None  # a missing amount: pydantic says so
        currency = values.get("currency")
        currency = "EUR" if currency is None and "currency" not in values else currency_value(currency)
        compare_at = money_value(values.get("compare_at"))
        fields = {
            "sku": sku,
            "amount": at_currency_precision(amount, currency),
            "currency": currency,
            "compare_at": None if compare_at is None else at_currency_precision(compare_at, currency),
            "effective": None,
        }
        return cls._install(fields, values)


class StockLevel(_SkuKeyed):
    """Stock of one SKU at one canonical location (``milano-store``, ``web-warehouse``)."""

    entity: ClassVar[Entity] = Entity.stock
    compared_fields: ClassVar[tuple[str, ...]] = ("available",)

    location: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]  # as _LOCATION
    available: int
    on_hand: int | None = None
    #: The platform's own in-stock flag where it keeps one beside the quantity (WooCommerce's
    #: ``stock_status``); ``None`` where it has none or allows backorders. A flag that disagrees
    #: with the quantity is a half-saved item: read, compared, repaired by writing the quantity.
    in_stock: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.sku}@{self.location}"

    @field_validator("available", "on_hand", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> int | None:
        return quantity_value(value)

    @classmethod
    def _fast(cls, values: dict[str, Any]) -> StockLevel | None:
        sku = values.get("sku")
        location = values.get("location")
        if (
            not values.keys() <= _STOCK_FIELDS
            or type(sku) is not str
            or type(location) is not str
            or values.get("in_stock") is not None
        ):
            return None
        sku = normalize_sku(sku)
        location = location.strip()
        available = quantity_value(values.get("available"))
        on_hand = quantity_value(values.get("on_hand"))
        if (
            available is None
            or len(sku) > 255
            or not _LOCATION.fullmatch(location)
            or (on_hand is not None and available > on_hand)
        ):
            return None  # pydantic says what is wrong
        fields = {"sku": sku, "location": location, "available": available, "on_hand": on_hand, "in_stock": None}
        return cls._install(fields, values)

    @field_validator("on_hand")
    @classmethod
    def _available_within_on_hand(cls, value: int | None, info: ValidationInfo) -> int | None:
        """Checked on ``on_hand`` (declared after ``available``), so the error names a field."""
        available = info.data.get("available")
        if value is not None and available is not None and available > value:
            raise ValueError(f"available ({available}) exceeds on_hand ({value})")
        return value


_PRODUCT_FIELDS = frozenset(Product.model_fields)
_STATUSES = frozenset({"active", "draft", "archived"})
_PRICE_FIELDS = frozenset(Price.model_fields)
_STOCK_FIELDS = frozenset(StockLevel.model_fields)
_LOCATION = re.compile(r"[A-Za-z0-9_.:-]+")
