"""Shopify's order states (``cancelledAt``, fulfillment and financial status) in the hub's ``OrderStatus``.

Sources: the ``OrderDisplayFulfillmentStatus`` and ``OrderDisplayFinancialStatus`` enums of the
Admin GraphQL introspections shipped in ``connectors/shopify/schemas/`` (2025-01, 2025-10, 2026-07:
the same values in each). Shopify commits an order's units when it is placed, paid or not, so every
fulfillment state short of FULFILLED still holds stock; the financial status only matters when it
says the money went back (REFUNDED).
"""

from __future__ import annotations

from typing import Any

from hub.sdk import OrderStatus, status_from_table

__all__ = ["SHOPIFY_FINANCIAL_STATUSES", "SHOPIFY_FULFILLMENT_STATUSES", "shopify_order_status"]

#: ``displayFulfillmentStatus`` -> what it means for stock.
SHOPIFY_FULFILLMENT_STATUSES: dict[str, OrderStatus] = {
    "UNFULFILLED": OrderStatus.open,
    # Some lines shipped: the rest still holds stock (per-line fulfilled quantities come with the pull).
    "PARTIALLY_FULFILLED": OrderStatus.open,
    "PENDING_FULFILLMENT": OrderStatus.open,
    "OPEN": OrderStatus.open,
    "IN_PROGRESS": OrderStatus.open,
    "ON_HOLD": OrderStatus.open,
    "SCHEDULED": OrderStatus.open,
    # A fulfillment service declined the request: the units are still to be shipped by someone.
    "REQUEST_DECLINED": OrderStatus.open,
    "FULFILLED": OrderStatus.fulfilled,
    # Every item was put back in stock: nothing left to ship.
    "RESTOCKED": OrderStatus.cancelled,
}

#: ``displayFinancialStatus`` values: only REFUNDED decides; the rest leave the fulfillment's say.
SHOPIFY_FINANCIAL_STATUSES: dict[str, OrderStatus | None] = {
    "PENDING": None,
    "AUTHORIZED": None,
    "PARTIALLY_PAID": None,
    "PAID": None,
    "PARTIALLY_REFUNDED": None,
    "VOIDED": None,
    "EXPIRED": None,
    "REFUNDED": OrderStatus.refunded,
}


def shopify_order_status(cancelled_at: Any, fulfillment: Any, financial: Any = None) -> OrderStatus:
    """The canonical status of a Shopify order. Both enums are checked first, so an unknown value
    is refused (``RecordInvalid``) even when ``cancelledAt`` would decide; then a cancelled order is
    cancelled, a refunded one refunded, and the rest is what its fulfillment says."""
    by_fulfillment = status_from_table(
        SHOPIFY_FULFILLMENT_STATUSES, fulfillment, vocabulary="Shopify displayFulfillmentStatus"
    )
    by_financial = None
    if financial is not None:  # nullable in the schema: an order without a payment yet
        known = {name: OrderStatus.pending for name in SHOPIFY_FINANCIAL_STATUSES}
        status_from_table(known, financial, vocabulary="Shopify displayFinancialStatus")
        by_financial = SHOPIFY_FINANCIAL_STATUSES[financial]
    if cancelled_at:
        return OrderStatus.cancelled
    return by_financial or by_fulfillment
