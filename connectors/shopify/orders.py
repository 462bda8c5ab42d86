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

#: ``displayFulfillmentStatus`` -> what it means for stock. Open: everything short of shipped holds
#: stock; PARTIALLY_FULFILLED for the lines not shipped yet (per-line quantities come with the pull),
#: REQUEST_DECLINED because a declined fulfillment request still leaves the units to ship. RESTOCKED:
#: every item was put back in stock, nothing left to ship.
_OPEN = ("UNFULFILLED", "PARTIALLY_FULFILLED", "PENDING_FULFILLMENT", "OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED")
SHOPIFY_FULFILLMENT_STATUSES: dict[str, OrderStatus] = {
    **dict.fromkeys((*_OPEN, "REQUEST_DECLINED"), OrderStatus.open),
    "FULFILLED": OrderStatus.fulfilled,
    "RESTOCKED": OrderStatus.cancelled,
}

#: ``displayFinancialStatus`` values: only REFUNDED decides; the rest leave the fulfillment's say.
SHOPIFY_FINANCIAL_STATUSES: dict[str, OrderStatus | None] = {
    **dict.fromkeys(("PENDING", "AUTHORIZED", "PARTIALLY_PAID", "PAID", "PARTIALLY_REFUNDED", "VOIDED", "EXPIRED")),
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
