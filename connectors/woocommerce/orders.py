"""WooCommerce's order statuses in the hub's vocabulary (``OrderStatus``): which of them hold stock.

Sources: the ``status`` enum of ``GET /orders`` in the wc/v3 OpenAPI (``pending``, ``processing``,
``on-hold``, ``completed``, ``cancelled``, ``refunded``, ``failed``, ``trash``) plus the block
checkout's ``checkout-draft``; WooCommerce's stock functions (``wc_maybe_reduce_stock_levels`` runs
when an order becomes ``processing``, ``completed`` or ``on-hold``; ``wc_maybe_increase_stock_levels``
when it is ``cancelled`` or back to ``pending``), and the real captures 72-74 (a paid order took
42 -> 40, cancelling it gave the 2 back).
"""

from __future__ import annotations

from typing import Any

from hub.sdk import Order, OrderStatus, RecordInvalid, status_from_table

__all__ = ["WOOCOMMERCE_STATUSES", "woocommerce_order", "woocommerce_order_status"]

#: WooCommerce order status -> what it means for stock.
WOOCOMMERCE_STATUSES: dict[str, OrderStatus] = {
    # Awaiting payment: WooCommerce has not reduced stock (and restores it when an order goes back here).
    "pending": OrderStatus.pending,
    # Paid, to be shipped: stock reduced, units spoken for.
    "processing": OrderStatus.open,
    # Awaiting a payment the shop confirms by hand (bank transfer): WooCommerce reduces stock already.
    "on-hold": OrderStatus.open,
    # Shipped or handed over.
    "completed": OrderStatus.fulfilled,
    # Cancelled by the shop or the customer: stock restored.
    "cancelled": OrderStatus.cancelled,
    "refunded": OrderStatus.refunded,
    # Payment failed: no stock taken; the customer may pay again, which makes it processing.
    "failed": OrderStatus.pending,
    # A block-checkout cart not yet submitted: not an order a customer placed.
    "checkout-draft": OrderStatus.pending,
    # Moved to the bin: no longer a sale anyone will ship.
    "trash": OrderStatus.cancelled,
}


def woocommerce_order_status(value: Any) -> OrderStatus:
    """The canonical status of a WooCommerce order ``status``; an unknown one is a ``RecordInvalid``."""
    return status_from_table(WOOCOMMERCE_STATUSES, value, vocabulary="WooCommerce order status")


def woocommerce_order(channel: str, payload: dict[str, Any]) -> Order:
    """A wc/v3 order (``GET /orders``, the ``order.*`` webhook body) as the hub's ``Order``, or a
    ``RecordInvalid`` naming what is wrong. Times are the ``*_gmt`` fields (naive, in UTC); the
    location and pickup are left to the per-connector rule that maps shipping methods to stores."""
    order_id = payload.get("id")
    try:
        status = woocommerce_order_status(payload.get("status"))
    except RecordInvalid as error:
        raise RecordInvalid(error.reason, key=None if order_id is None else str(order_id), field="status") from None
    lines = [
        {"sku": line.get("sku"), "quantity": line.get("quantity"), "line_id": line.get("id")}
        for line in payload.get("line_items") or []
        if isinstance(line, dict)
    ]
    return Order.parse(
        {
            "channel": channel,
            "order_id": order_id,
            "status": status,
            "created_at": payload.get("date_created_gmt"),
            "updated_at": payload.get("date_modified_gmt"),
            "lines": lines,
        }
    )
