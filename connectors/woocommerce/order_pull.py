"""A wc/v3 order (``GET /orders``) read into the hub's ``Order``, with where it leaves from.

* Status: ``woocommerce_order_status`` (``orders``): ``processing`` and ``on-hold`` hold stock.
* Lines: each line's ``sku`` is the SKU its product or variation has *now* (WooCommerce reads it
  from the product when it answers), so an empty one means the product has no SKU and there is
  nothing cheaper to look it up by: the order is refused with the line and product named. A line
  without any product (``product_id`` and ``variation_id`` 0: a product since deleted, or one that
  never existed) holds no stock, as WooCommerce took none for it, and is left out.
* Location: click and collect is a shipping method. The ``pickup_locations`` setting maps
  ``method_id:instance_id`` (first) or ``method_id`` to a canonical location: a mapped method makes
  the order a pickup there. Otherwise the order leaves from the connector's ``location`` (the
  store's single stock pool). A pickup method (``local_pickup``, ``pickup_location``) the setting
  does not map refuses an order that holds stock, saying what to add; it is never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.woocommerce.orders import WOOCOMMERCE_STATUSES, woocommerce_order, woocommerce_order_status
from hub.sdk import Order, OrderStatus, RecordInvalid

__all__ = ["HOLDING_STATUSES", "PICKUP_METHODS", "order_origin", "read_order"]

#: The WooCommerce statuses of orders that hold stock (asked for by a pull without a cursor).
HOLDING_STATUSES = tuple(s for s, meaning in WOOCOMMERCE_STATUSES.items() if meaning is OrderStatus.open)
#: WooCommerce's own pickup shipping methods: "Local pickup" (classic) and the block checkout's.
PICKUP_METHODS = frozenset({"local_pickup", "pickup_location"})


def order_origin(payload: Mapping[str, Any]) -> str:
    return f"woocommerce order {payload.get('id')}"


def _pickup(payload: Mapping[str, Any], pickup_locations: Mapping[str, str], reserves: bool) -> tuple[str | None, bool]:
    """The mapped pickup location of the order's shipping lines, if any (and ``True``); ``None``
    when it has no pickup method; ``RecordInvalid`` for an unmapped pickup of an order holding stock."""
    for line in payload.get("shipping_lines") or []:
        if not isinstance(line, Mapping):
            continue
        method = str(line.get("method_id") or "").strip()
        instance = str(line.get("instance_id") or "").strip()
        for key in (f"{method}:{instance}", method):
            if key in pickup_locations:
                return pickup_locations[key], True
        if method in PICKUP_METHODS and reserves:
            title = line.get("method_title") or method
            raise RecordInvalid(
                f"shipping method {method}:{instance} ({title}) is a pickup that the `pickup_locations` "
                f"setting does not map: add `{method}:{instance}` (or `{method}`) with the location code "
                "of the store it is picked up from",
                field="location",
            )
    return None, False


def read_order(
    channel: str, payload: Mapping[str, Any], *, location: str, pickup_locations: Mapping[str, str]
) -> Order:
    """The hub's ``Order`` of one wc/v3 order; ``RecordInvalid`` says why one cannot be read."""
    order_id = payload.get("id")
    key = None if order_id is None else str(order_id)
    status = woocommerce_order_status(payload.get("status"))
    lines = []
    for line in payload.get("line_items") or []:
        if not isinstance(line, Mapping):
            continue
        product, variation = line.get("product_id") or 0, line.get("variation_id") or 0
        if not product and not variation:
            continue  # no product behind it: WooCommerce took no stock for it
        if not str(line.get("sku") or "").strip():
            which = f"variation {variation} of product {product}" if variation else f"product {product}"
            raise RecordInvalid(
                f"line {line.get('id')} ({which}) has no SKU to match stock by: give the product a SKU",
                key=key,
                field="sku",
            )
        lines.append(line)
    where, pickup = _pickup(payload, pickup_locations, status.reserves)
    base = woocommerce_order(channel, {**payload, "line_items": lines})
    return Order.parse(
        {**base.model_dump(), "location": where if pickup else location, "pickup": pickup},
    )
