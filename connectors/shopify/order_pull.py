"""A Shopify ``Order`` node (the ``orders`` query of ``order_queries``) read into the hub's ``Order``.

* Status: ``shopify_order_status`` (``orders``): Shopify commits an order's units when it is placed,
  paid or not, so an open unpaid order reserves.
* Lines: the units still to ship (``unfulfilledQuantity``); lines with none left are left out, and
  so are lines without a variant (a custom item holds no stock). A variant line without a SKU
  cannot be matched to stock and refuses the order.
* Location: the assigned location of the order's first fulfillment order still to ship (any one
  when all are done), mapped by the connector's ``locations`` setting (gid -> canonical code);
  ``pickup`` when its delivery method is ``PICK_UP``. An order that reserves stock at a location
  the setting does not map is refused with the gid and the setting to fix; one that reserves
  nothing keeps ``location`` empty instead, so its release still reaches the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.shopify.order_queries import ORDER_LINES
from connectors.shopify.orders import shopify_order_status
from hub.sdk import Order, RecordInvalid, dig

__all__ = ["shopify_order"]

#: Fulfillment order statuses with units still to ship from their location.
_TO_SHIP = frozenset({"OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED", "INCOMPLETE"})


def _fulfillment_order(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    found = [fo for fo in dig(node, "fulfillmentOrders.nodes") or [] if isinstance(fo, Mapping)]
    return next((fo for fo in found if fo.get("status") in _TO_SHIP), found[0] if found else None)


def shopify_order(channel: str, node: Mapping[str, Any], locations: Mapping[str, str]) -> Order:
    """The hub's ``Order`` of one ``orders`` node; ``RecordInvalid`` says why one cannot be read."""
    order_id = str(node.get("id") or "")
    status = shopify_order_status(
        node.get("cancelledAt"), node.get("displayFulfillmentStatus"), node.get("displayFinancialStatus")
    )
    if dig(node, "lineItems.pageInfo.hasNextPage"):
        raise RecordInvalid(f"more than {ORDER_LINES} lines: the pull reads that many per order", field="lines")
    lines = []
    for line in dig(node, "lineItems.nodes") or []:
        left = line.get("unfulfilledQuantity")
        if not left or line.get("variant") is None:
            continue
        if not str(line.get("sku") or "").strip():
            variant = dig(line, "variant.id")
            raise RecordInvalid(f"line {line.get('id')} (variant {variant}) has no SKU to match stock by", field="sku")
        lines.append({"sku": line["sku"], "quantity": left, "line_id": line.get("id")})
    fo = _fulfillment_order(node)
    gid = dig(fo, "assignedLocation.location.id") if fo else None
    location = locations.get(gid) if gid else None
    if location is None and status.reserves and lines:
        where = f"location {gid}" if gid else "no location"
        raise RecordInvalid(
            f"the order is assigned to {where}, which the `locations` setting does not map: "
            "add it (Shopify location gid -> canonical location code)",
            field="location",
        )
    pickup = location is not None and dig(fo, "deliveryMethod.methodType") == "PICK_UP"
    return Order.parse(
        {
            "channel": channel,
            "order_id": order_id,
            "status": status,
            "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"),
            "lines": lines,
            "location": location,
            "pickup": pickup,
        }
    )
