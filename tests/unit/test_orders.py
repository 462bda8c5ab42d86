"""Orders in the canonical model: every platform status maps as its table documents, an unknown one
is refused, and lines and times validate."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.shopify.orders import SHOPIFY_FINANCIAL_STATUSES, SHOPIFY_FULFILLMENT_STATUSES, shopify_order_status
from connectors.woocommerce.orders import WOOCOMMERCE_STATUSES, woocommerce_order, woocommerce_order_status
from hub.model.base import Entity, RecordInvalid
from hub.model.orders import Order, OrderLine, OrderStatus
from hub.model.values import QUANTITY_MAX

S = OrderStatus
SCHEMAS = Path(__file__).resolve().parents[2] / "connectors" / "shopify" / "schemas"
WOO = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce"
OPENAPI = WOO / "wc-v3-openapi.yml"


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", S.pending),
        ("processing", S.open),
        ("on-hold", S.open),
        ("completed", S.fulfilled),
        ("cancelled", S.cancelled),
        ("refunded", S.refunded),
        ("failed", S.pending),
        ("checkout-draft", S.pending),
        ("trash", S.cancelled),
    ],
)
def test_every_woocommerce_status_maps(word: str, status: OrderStatus) -> None:
    assert woocommerce_order_status(word) is status


def test_the_woocommerce_statuses_that_reduce_stock_are_the_ones_that_reserve() -> None:
    """WooCommerce reduces stock on processing, completed and on-hold; of those, only the unshipped
    ones (processing, on-hold) still hold units (completed ones have left the shelf)."""
    reserving = {word for word, status in WOOCOMMERCE_STATUSES.items() if status.reserves}
    assert reserving == {"processing", "on-hold"}


def test_the_woocommerce_table_covers_the_openapi_status_enum() -> None:
    text = OPENAPI.read_text()
    for word in ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash"):
        assert f"- {word}\n" in text
        assert word in WOOCOMMERCE_STATUSES


@pytest.mark.parametrize("word", ["Processing", "shipped", "", None, 3, "wc-processing"])
def test_an_unknown_woocommerce_status_is_refused_with_the_reason(word: object) -> None:
    with pytest.raises(RecordInvalid) as refused:
        woocommerce_order_status(word)
    assert "unknown WooCommerce order status" in refused.value.reason
    assert "processing" in refused.value.reason  # the words it knows


def _schema_enum(name: str) -> set[str]:
    found: list[set[str]] = []
    for path in sorted(SCHEMAS.glob("admin-*.introspection.json.gz")):
        data = json.loads(gzip.decompress(path.read_bytes()))
        types = data.get("data", data)["__schema"]["types"]
        found += [{v["name"] for v in t["enumValues"]} for t in types if t["name"] == name]
    assert found, f"{name} not in the shipped introspections"
    assert all(values == found[0] for values in found), f"{name} differs between the shipped versions"
    return found[0]


def test_the_shopify_tables_cover_the_shipped_schema_enums() -> None:
    assert set(SHOPIFY_FULFILLMENT_STATUSES) == _schema_enum("OrderDisplayFulfillmentStatus")
    assert set(SHOPIFY_FINANCIAL_STATUSES) == _schema_enum("OrderDisplayFinancialStatus")


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("UNFULFILLED", S.open),
        ("PARTIALLY_FULFILLED", S.open),
        ("PENDING_FULFILLMENT", S.open),
        ("OPEN", S.open),
        ("IN_PROGRESS", S.open),
        ("ON_HOLD", S.open),
        ("SCHEDULED", S.open),
        ("REQUEST_DECLINED", S.open),
        ("FULFILLED", S.fulfilled),
        ("RESTOCKED", S.cancelled),
    ],
)
def test_every_shopify_fulfillment_status_maps(word: str, status: OrderStatus) -> None:
    assert shopify_order_status(None, word, "PAID") is status
    assert shopify_order_status(None, word) is status  # displayFinancialStatus is nullable


@pytest.mark.parametrize("financial", sorted(set(SHOPIFY_FINANCIAL_STATUSES) - {"REFUNDED"}))
def test_a_shopify_financial_status_short_of_refunded_leaves_the_fulfillment_its_say(financial: str) -> None:
    assert shopify_order_status(None, "UNFULFILLED", financial) is S.open
    assert shopify_order_status(None, "FULFILLED", financial) is S.fulfilled


def test_shopify_cancelled_and_refunded_orders_hold_nothing() -> None:
    assert shopify_order_status("2026-11-30T10:00:00Z", "UNFULFILLED", "PAID") is S.cancelled
    assert shopify_order_status("2026-11-30T10:00:00Z", "UNFULFILLED", "REFUNDED") is S.cancelled
    assert shopify_order_status(None, "UNFULFILLED", "REFUNDED") is S.refunded
    assert not any(s.reserves for s in (S.cancelled, S.refunded, S.fulfilled, S.pending))
    assert S.open.reserves


@pytest.mark.parametrize(
    ("fulfillment", "financial", "vocabulary"),
    [
        ("SHIPPED", "PAID", "displayFulfillmentStatus"),
        (None, "PAID", "displayFulfillmentStatus"),
        ("UNFULFILLED", "CHARGED_BACK", "displayFinancialStatus"),
        ("unfulfilled", "PAID", "displayFulfillmentStatus"),
    ],
)
def test_an_unknown_shopify_status_is_refused_even_when_cancelled(
    fulfillment: object, financial: object, vocabulary: str
) -> None:
    for cancelled_at in (None, "2026-11-30T10:00:00Z"):
        with pytest.raises(RecordInvalid) as refused:
            shopify_order_status(cancelled_at, fulfillment, financial)
        assert vocabulary in refused.value.reason


NOW = datetime(2026, 11, 30, 9, 50, 37, tzinfo=UTC)


def order(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "channel": "woo",
        "order_id": 248,
        "status": "open",
        "created_at": "2026-11-30T09:50:37",
        "updated_at": "2026-11-30T09:50:37",
        "lines": [{"sku": " RW-S-0011 ", "quantity": "2", "line_id": 8}],
    }
    values.update(changes)
    return values


def test_an_order_validates_and_normalizes() -> None:
    parsed = Order.parse(order())
    assert parsed.key == "woo:248"
    assert parsed.order_id == "248"
    assert parsed.status is S.open
    assert parsed.created_at == NOW and parsed.created_at.tzinfo is UTC  # naive GMT read as UTC
    assert parsed.lines == (OrderLine(sku="RW-S-0011", quantity=2, line_id="8"),)
    assert parsed.location is None and parsed.pickup is False


def test_an_aware_time_is_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    parsed = Order.parse(order(updated_at=datetime(2026, 11, 30, 10, 50, 37, tzinfo=paris)))
    assert parsed.updated_at == NOW
    assert parsed.updated_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"sku": "A", "quantity": 0}, "lines.0.quantity"),
        ({"sku": "A", "quantity": -1}, "lines.0.quantity"),
        ({"sku": "A", "quantity": QUANTITY_MAX + 1}, "lines.0.quantity"),
        ({"sku": "A", "quantity": 1.5}, "lines.0.quantity"),
        ({"sku": "A", "quantity": "1e3"}, "lines.0.quantity"),
        ({"sku": "", "quantity": 1}, "lines.0.sku"),
        ({"sku": None, "quantity": 1}, "lines.0.sku"),
        ({"sku": "A@store", "quantity": 1}, "lines.0.sku"),
        ({"sku": "A", "quantity": 1, "price": "9.90"}, "lines.0.price"),
    ],
)
def test_a_bad_line_is_refused_naming_the_field(line: dict[str, object], field: str) -> None:
    with pytest.raises(RecordInvalid) as refused:
        Order.parse(order(lines=[line]))
    assert refused.value.field == field
    assert refused.value.key == "248"


def test_a_line_may_order_up_to_the_32_bit_bound() -> None:
    assert OrderLine(sku="A", quantity=QUANTITY_MAX).quantity == QUANTITY_MAX


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "processing"}, "status"),  # a platform word, not the canonical vocabulary
        ({"channel": " "}, "channel"),
        ({"order_id": None}, "order_id"),
        ({"created_at": None}, "created_at"),
        ({"pickup": True}, "record"),
    ],
)
def test_a_bad_order_is_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(RecordInvalid) as refused:
        Order.parse(order(**changes))
    assert refused.value.field == field


def test_a_pickup_order_names_its_store() -> None:
    parsed = Order.parse(order(pickup=True, location="store-milano"))
    assert parsed.pickup and parsed.location == "store-milano"


def test_orders_are_not_yet_an_entity_jobs_could_name() -> None:
    assert "orders" not in {e.value for e in Entity}


def _stock_note(name: str) -> dict[str, tuple[int, int]]:
    """``simple RW-S-0010: 42 -> 40`` lines of a capture's ``.stock`` note, by SKU."""
    moves = {}
    for line in (WOO / "real-captures" / f"{name}.stock").read_text().splitlines():
        sku, _, change = line.split(" ", 1)[1].partition(": ")
        before, after = change.split(" -> ")
        moves[sku] = (int(before), int(after))
    return moves


def test_a_real_paid_order_reserves_what_woocommerce_took_off_the_shelf() -> None:
    """Capture 72: a paid order (processing) of 2 + 1 units; WooCommerce reduced stock by exactly them."""
    placed = woocommerce_order("woo", json.loads((WOO / "real-captures" / "72_order_create_paid.json").read_text()))
    assert placed.key == "woo:247"
    assert placed.status is S.open and placed.status.reserves
    assert placed.created_at == datetime(2026, 11, 30, 9, 50, 21, tzinfo=UTC)
    units = {line.sku: line.quantity for line in placed.lines}
    assert units == {sku: before - after for sku, (before, after) in _stock_note("72_order_create_paid").items()}


def test_a_real_cancelled_order_releases_what_woocommerce_put_back() -> None:
    """Capture 74: the same order cancelled; WooCommerce gave the units back, the order holds none."""
    cancelled = woocommerce_order("woo", json.loads((WOO / "real-captures" / "74_order_cancel.json").read_text()))
    assert cancelled.key == "woo:247"
    assert cancelled.status is S.cancelled and not cancelled.status.reserves
    assert cancelled.updated_at > cancelled.created_at
    units = {line.sku: line.quantity for line in cancelled.lines}
    assert units == {sku: after - before for sku, (before, after) in _stock_note("74_order_cancel").items()}


def test_every_real_order_listed_or_delivered_reads() -> None:
    listed = json.loads((WOO / "real-captures" / "73_orders_list_after.json").read_text())
    delivered = json.loads((WOO / "real-webhooks" / "02_order_created.body").read_bytes())
    orders = [woocommerce_order("woo", row) for row in [*listed, delivered]]
    assert [o.order_id for o in orders] == ["241", "242", "243", "247", "248"]
    assert all(o.status is S.open and o.lines for o in orders)


def test_a_woocommerce_order_with_an_unknown_status_is_refused_with_its_id() -> None:
    row = json.loads((WOO / "real-captures" / "72_order_create_paid.json").read_text())
    with pytest.raises(RecordInvalid) as refused:
        woocommerce_order("woo", {**row, "status": "wc-shipped"})
    assert refused.value.key == "247"
    assert refused.value.field == "status"
