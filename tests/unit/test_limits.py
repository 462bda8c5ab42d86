"""What a platform can hold (``out_of_range``, per change before sending) and what only the source
of truth is held to (``check_truth``, per record pulled from it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.csv import CsvConnector
from connectors.shopify import ShopifyConnector
from connectors.woocommerce import WooCommerceConnector
from hub.model.base import Entity, Record, RecordInvalid
from hub.model.catalogue import Price, StockLevel
from hub.model.customers import Customer
from hub.model.limits import ValueLimits, check_truth, out_of_range
from hub.plugins.contract import Change

SHOPIFY = ShopifyConnector.value_limits


def _change(entity: Entity, values: dict[str, Any], record: Record | None = None) -> Change:
    return Change(entity, "SKU-1@web", "shop", values, {}, record, {}, "idem")


def test_shopify_declares_the_quantities_its_schema_allows() -> None:
    """``INVALID_QUANTITY_TOO_HIGH``/``_TOO_LOW`` in the Admin schemas: at most 1,000,000,000 either way."""
    assert (SHOPIFY.quantity_min, SHOPIFY.quantity_max) == (-1_000_000_000, 1_000_000_000)


def test_connectors_that_declare_nothing_hold_what_the_model_reads_back() -> None:
    assert CsvConnector.value_limits == WooCommerceConnector.value_limits == ValueLimits()
    assert (ValueLimits().quantity_min, ValueLimits().quantity_max) == (-(2**31), 2**31 - 1)


@pytest.mark.parametrize(
    ("available", "reason"),
    [
        (2**31, "value out of range for shop: available 2147483648 is above 1000000000, its most"),
        (1_000_000_001, "value out of range for shop: available 1000000001 is above 1000000000, its most"),
        (-1_000_000_001, "value out of range for shop: available -1000000001 is below -1000000000, its least"),
    ],
)
def test_a_quantity_the_target_cannot_hold_is_refused_with_the_reason(available: int, reason: str) -> None:
    assert out_of_range(_change(Entity.stock, {"available": available}), SHOPIFY, "shop") == reason


@pytest.mark.parametrize("available", [0, 7, 1_000_000_000, -1_000_000_000])
def test_a_quantity_within_the_target_s_range_passes(available: int) -> None:
    assert out_of_range(_change(Entity.stock, {"available": available}), SHOPIFY, "shop") is None


def test_the_same_sum_fits_one_target_and_not_another() -> None:
    """Two warehouses of 1.5 billion each feed one channel: 3 billion fits no 32-bit platform."""
    change = _change(Entity.stock, {"available": 1_500_000_000})
    assert out_of_range(change, ValueLimits(), "web") is None
    assert out_of_range(change, SHOPIFY, "shop") is not None
    assert "above 2147483647" in (
        out_of_range(_change(Entity.stock, {"available": 3 * 10**9}), ValueLimits(), "web") or ""
    )


def test_a_price_finer_than_its_currency_is_refused_for_every_target() -> None:
    """A 10% markup on 1000 JPY gives 1100.00, on 1001 JPY 1101.10: no yen has decimals."""
    golden = Price(sku="SKU-1", amount="1001", currency="JPY")
    marked_up = golden.model_copy(update={"amount": Decimal("1101.10")})
    change = _change(Entity.prices, {"amount": Decimal("1101.10")}, marked_up)
    reason = "value out of range for shop: amount 1101.10 JPY has more decimals than JPY's 0"
    assert out_of_range(change, SHOPIFY, "shop") == reason
    exact = _change(Entity.prices, {"amount": Decimal("1100.00")}, marked_up)
    assert out_of_range(exact, SHOPIFY, "shop") is None


def test_a_price_past_the_limit_is_refused_and_a_missing_one_is_no_value() -> None:
    record = Price(sku="SKU-1", amount="1.00")
    huge = _change(Entity.prices, {"amount": Decimal("1000000000000.00"), "compare_at": None}, record)
    assert out_of_range(huge, SHOPIFY, "shop") == (
        "value out of range for shop: amount 1000000000000.00 is not below 1000000000000"
    )
    assert (
        out_of_range(_change(Entity.prices, {"amount": Decimal("9.99"), "compare_at": None}, record), SHOPIFY, "shop")
        is None
    )


def test_a_change_without_a_record_is_checked_against_the_ranges_only() -> None:
    assert out_of_range(_change(Entity.prices, {"amount": Decimal("12.345")}), SHOPIFY, "shop") is None
    assert out_of_range(_change(Entity.prices, {"amount": Decimal("10") ** 13}), SHOPIFY, "shop") is not None


def test_fields_that_are_no_quantity_or_amount_are_not_checked() -> None:
    assert out_of_range(_change(Entity.customers, {"loyalty_points": 2**40, "tags": ("a",)}), SHOPIFY, "shop") is None


@pytest.mark.parametrize(("available", "on_hand"), [(-5, None), (-5, 3), (-7, -5)])
def test_negative_stock_from_the_source_of_truth_is_refused_naming_the_field(
    available: int, on_hand: int | None
) -> None:
    """A negative on hand comes with a negative available (available never exceeds it)."""
    record = StockLevel(sku="SKU-1", location="main-wh", available=available, on_hand=on_hand)
    with pytest.raises(RecordInvalid) as caught:
        check_truth(record)
    assert caught.value.field == "available"
    assert caught.value.key == "SKU-1@main-wh"
    assert caught.value.reason == (
        f"available: {available} is negative; the source of truth must give stock of 0 or more "
        "(a negative count would reach every channel as 0)"
    )


@pytest.mark.parametrize(
    "record",
    [
        StockLevel(sku="SKU-1", location="main-wh", available=0, on_hand=0),
        StockLevel(sku="SKU-1", location="main-wh", available=2**31 - 1),
        Price(sku="SKU-1", amount="0"),
        Customer(email="a@example.com", loyalty_points=-3),
    ],
)
def test_what_the_truth_may_give_passes(record: Record) -> None:
    assert check_truth(record) is None  # a refusal raises
