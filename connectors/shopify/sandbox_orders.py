"""The sandbox's orders: ``orderCreate``, ``orderCancel``, ``orderMarkAsPaid``, ``fulfillmentCreate``
and the ``orders`` connection, with what each does to inventory.

From Shopify's Admin GraphQL reference (the input types are the shipped schemas'):

* ``orderCreate(order: OrderCreateOrderInput!, options: OrderCreateOptionsInput)``:
  ``options.inventoryBehaviour`` decides whether the order claims stock: ``BYPASS`` (the default)
  claims none, ``DECREMENT_IGNORING_POLICY`` claims whatever is there, ``DECREMENT_OBEYING_POLICY``
  refuses (``INVENTORY_CLAIM_FAILED``) what is not available. A claimed unit moves from
  ``available`` to ``committed`` at the location the order is assigned to; ``on_hand`` is unchanged.
  The order is assigned, as Shopify's default order routing does, to the first location (in the
  store's order) that stocks every line with enough available, else to the first location.
  ``fulfillmentStatus: FULFILLED`` with ``fulfillment.locationId`` creates it already fulfilled there.
* ``orderCancel(orderId, reason, restock, ...)``: ``restock: true`` puts the units still to ship
  back to ``available``; without it they leave ``on_hand`` (the sandbox's reading: they are not put
  back for sale). Cancelling closes (archives) the order.
* ``fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [...]})``: the units shipped leave
  ``committed`` and ``on_hand``. A fully fulfilled order is archived (Shopify's default setting).
* ``orders(first, after, query, sortKey, reverse)``: ``query`` understands ``updated_at:>'...'``,
  ``created_at:>'...'`` and ``status:open|closed|cancelled|any``; ``sortKey`` ``UPDATED_AT``,
  ``CREATED_AT``, ``ID`` (the default).

Click and collect: a storefront checkout can choose store pickup, which ``orderCreate`` cannot
express. ``ShopState``'s checkout is ``checkout(lines, location=..., pickup=True)`` here, served as
``POST /_sandbox/checkout`` (sandbox-only): the order is assigned to that location with a fulfillment
order whose ``deliveryMethod.methodType`` is ``PICK_UP``, and claims its units as a checkout does.

Every change emits its webhook topics (``orders/create``, ``orders/updated``, ``orders/paid``,
``orders/cancelled``, ``orders/fulfilled``, ``orders/partially_fulfilled``) with the order as the
REST Admin API writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from connectors.shopify.sandbox_state import Level, Location, ShopState, Variant, gid, legacy_id, rest_time

__all__ = ["FulfillmentOrder", "LineItem", "Order", "OrderMutations", "checkout", "install_orders", "order_payload"]

_CLAIMS = ("DECREMENT_IGNORING_POLICY", "DECREMENT_OBEYING_POLICY")
_OPEN_FO = ("OPEN", "IN_PROGRESS")


@dataclass(eq=False)
class LineItem:
    id: str
    variant: Variant
    quantity: int
    #: Units removed (a restocking cancel): ``currentQuantity`` is ``quantity`` less these.
    removed: int = 0
    fulfilled: int = 0

    @property
    def sku(self) -> str | None:
        return self.variant.sku

    @property
    def title(self) -> str:
        return self.variant.displayName

    @property
    def currentQuantity(self) -> int:
        return self.quantity - self.removed

    @property
    def unfulfilledQuantity(self) -> int:
        return self.currentQuantity - self.fulfilled

    @property
    def fulfillableQuantity(self) -> int:
        return self.unfulfilledQuantity


@dataclass(eq=False)
class FulfillmentOrderLineItem:
    id: str
    lineItem: LineItem

    @property
    def remainingQuantity(self) -> int:
        return self.lineItem.unfulfilledQuantity

    @property
    def totalQuantity(self) -> int:
        return self.lineItem.currentQuantity


@dataclass(eq=False)
class FulfillmentOrder:
    id: str
    location: Location
    method_type: str
    line_items: list[FulfillmentOrderLineItem]
    status: str = "OPEN"
    order: Any = None

    @property
    def assignedLocation(self) -> dict[str, Any]:
        return {"location": self.location, "name": self.location.name, "countryCode": "US"}

    @property
    def deliveryMethod(self) -> dict[str, Any]:
        return {"id": self.id.replace("FulfillmentOrder", "DeliveryMethod"), "methodType": self.method_type}


@dataclass(eq=False)
class Order:
    id: str
    number: int
    createdAt: str
    updatedAt: str
    line_items: list[LineItem]
    fulfillment_orders: list[FulfillmentOrder]
    financial: str = "PENDING"
    #: Whether the order claimed stock (``committed``) when it was placed.
    claimed: bool = True
    cancelledAt: str | None = None
    cancelReason: str | None = None
    closedAt: str | None = None
    processedAt: str = ""
    fulfillments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def legacyResourceId(self) -> str:
        return str(legacy_id(self.id))

    @property
    def closed(self) -> bool:
        return self.closedAt is not None

    @property
    def displayFinancialStatus(self) -> str:
        return self.financial

    @property
    def displayFulfillmentStatus(self) -> str:
        done = sum(line.fulfilled for line in self.line_items)
        left = sum(line.unfulfilledQuantity for line in self.line_items)
        if done and not left:
            return "FULFILLED"
        return "PARTIALLY_FULFILLED" if done else "UNFULFILLED"


def _order_error(code: str | None, where: list[str], message: str) -> dict[str, Any]:
    return {"code": code, "field": where, "message": message}


def _level(state: ShopState, variant: Variant, location: Location) -> Level | None:
    return variant.inventoryItem.levels.get(location.id)


def _route(state: ShopState, wanted: list[tuple[Variant, int]]) -> Location:
    """Shopify's default routing: the first location that can ship every line, else the first one."""
    for location in state.locations:
        if all((lvl := _level(state, v, location)) is not None and lvl.available >= n for v, n in wanted):
            return location
    return state.locations[0]


def _place(
    state: ShopState,
    wanted: list[tuple[Variant, int]],
    location: Location,
    *,
    method: str,
    financial: str,
    claim: bool,
) -> Order:
    """A new order of ``wanted`` assigned to ``location``; claims its units when ``claim``."""
    n = len(state.orders) + 1
    now = state.tick()
    lines = [LineItem(gid("LineItem", n * 1000 + i), v, q) for i, (v, q) in enumerate(wanted, 1)]
    fo = FulfillmentOrder(
        gid("FulfillmentOrder", n),
        location,
        method,
        [FulfillmentOrderLineItem(gid("FulfillmentOrderLineItem", n * 1000 + i), li) for i, li in enumerate(lines, 1)],
    )
    order = Order(gid("Order", n), state.next_order_number, now, now, lines, [fo], financial, claim, processedAt=now)
    fo.order = order
    state.next_order_number += 1
    state.orders.append(order)
    state.nodes[order.id] = order
    state.nodes[fo.id] = fo
    for line in lines:
        state.nodes[line.id] = line
    if claim:
        for line in lines:
            level = _level(state, line.variant, location)
            if level is not None:
                state.move(level, available=-line.quantity)
    state.emit("orders/create", order_payload(order))
    if financial == "PAID":
        state.emit("orders/paid", order_payload(order))
    return order


def checkout(
    state: ShopState, lines: list[tuple[str, int]], *, location: str | None = None, pickup: bool = False
) -> Order:
    """A storefront checkout (paid): ``lines`` of (SKU, units), shipped from or picked up at
    ``location`` (a gid or a location code; routed as ``orderCreate`` is when not given)."""
    with state.lock:
        wanted = [(state.variant(sku), int(n)) for sku, n in lines]
        if location is None:
            where = _route(state, wanted)
        else:
            found = state.location_by_id.get(location) or state.location_by_code.get(location)
            if found is None:
                raise KeyError(location)
            where = found
        return _place(state, wanted, where, method="PICK_UP" if pickup else "SHIPPING", financial="PAID", claim=True)


def _touch(state: ShopState, order: Order, *topics: str) -> None:
    order.updatedAt = state.tick()
    body = order_payload(order)
    for topic in (*topics, "orders/updated"):
        state.emit(topic, body)


def order_payload(order: Order) -> dict[str, Any]:
    """The order as the REST Admin API (and so every ``orders/*`` webhook body) writes it."""
    status = order.displayFulfillmentStatus
    fo = order.fulfillment_orders[0] if order.fulfillment_orders else None
    return {
        "id": legacy_id(order.id),
        "admin_graphql_api_id": order.id,
        "name": order.name,
        "order_number": order.number,
        "created_at": rest_time(order.createdAt),
        "updated_at": rest_time(order.updatedAt),
        "processed_at": rest_time(order.processedAt),
        "cancelled_at": rest_time(order.cancelledAt) if order.cancelledAt else None,
        "cancel_reason": order.cancelReason.lower() if order.cancelReason else None,
        "closed_at": rest_time(order.closedAt) if order.closedAt else None,
        "financial_status": order.financial.lower(),
        "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(status),
        "location_id": legacy_id(fo.location.id) if fo else None,
        "line_items": [
            {
                "id": legacy_id(line.id),
                "admin_graphql_api_id": line.id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "current_quantity": line.currentQuantity,
                "fulfillable_quantity": line.fulfillableQuantity,
                "fulfillment_status": (
                    "fulfilled"
                    if line.fulfilled and not line.unfulfilledQuantity
                    else "partial"
                    if line.fulfilled
                    else None
                ),
                "variant_id": legacy_id(line.variant.id),
                "product_id": legacy_id(line.variant.product.id),
                "price": line.variant.price,
            }
            for line in order.line_items
        ],
    }


class OrderMutations:
    """The order mutation fields of the root value (mixed into ``_Root``)."""

    state: ShopState

    def orderCreate(
        self, info: GraphQLResolveInfo, order: dict[str, Any], options: dict[str, Any] | None = None, **_: Any
    ) -> dict[str, Any]:
        behaviour = (options or {}).get("inventoryBehaviour") or "BYPASS"
        wanted, errors = [], []
        for i, line in enumerate(order.get("lineItems") or []):
            variant = self.state.nodes.get(line.get("variantId") or "")
            if not isinstance(variant, Variant):
                errors.append(
                    _order_error("INVALID", ["order", "lineItems", str(i), "variantId"], "Variant is invalid")
                )
            elif line["quantity"] < 1:
                errors.append(
                    _order_error("INVALID", ["order", "lineItems", str(i), "quantity"], "Quantity must be at least 1")
                )
            else:
                wanted.append((variant, line["quantity"]))
        if not order.get("lineItems"):
            errors.append(_order_error("INVALID", ["order", "lineItems"], "Line items must have at least one item"))
        status = order.get("fulfillmentStatus")
        if status not in (None, "FULFILLED"):
            raise GraphQLError(f"the sandbox does not model orderCreate with fulfillmentStatus {status}")
        fulfilment = order.get("fulfillment") or {}
        location = self.state.location_by_id.get(fulfilment.get("locationId") or "")
        if fulfilment and location is None:
            errors.append(_order_error("INVALID", ["order", "fulfillment", "locationId"], "Location is invalid"))
        if errors:
            return {"order": None, "userErrors": errors}
        where = location or _route(self.state, wanted)
        if behaviour == "DECREMENT_OBEYING_POLICY":
            for i, (variant, n) in enumerate(wanted):
                level = _level(self.state, variant, where)
                if level is None or level.available < n:
                    where_ = ["order", "lineItems", str(i)]
                    message = f"Unable to claim inventory for {variant.displayName}: not enough available"
                    return {"order": None, "userErrors": [_order_error("INVENTORY_CLAIM_FAILED", where_, message)]}
        financial = order.get("financialStatus") or "PENDING"
        placed = _place(self.state, wanted, where, method="SHIPPING", financial=financial, claim=behaviour in _CLAIMS)
        if status == "FULFILLED":
            self._fulfil(placed.fulfillment_orders[0], None)
        return {"order": placed, "userErrors": []}

    def orderMarkAsPaid(self, info: GraphQLResolveInfo, input: dict[str, Any], **_: Any) -> dict[str, Any]:
        order = self.state.nodes.get(input["id"])
        if not isinstance(order, Order):
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        if order.financial == "PAID" or order.cancelledAt:
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order can't be marked as paid."}]}
        order.financial = "PAID"
        _touch(self.state, order, "orders/paid")
        return {"order": order, "userErrors": []}

    def orderCancel(
        self,
        info: GraphQLResolveInfo,
        orderId: str,
        reason: str,
        restock: bool,
        refund: bool | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        order = self.state.nodes.get(orderId)
        if not isinstance(order, Order):
            return _cancel_refused("NOT_FOUND", "Order does not exist")
        if order.cancelledAt:
            return _cancel_refused("INVALID", "Order has already been cancelled")
        if order.displayFulfillmentStatus == "FULFILLED":
            return _cancel_refused("INVALID", "Cannot cancel a fulfilled order")
        for fo in order.fulfillment_orders:
            for fo_line in fo.line_items:
                line = fo_line.lineItem
                left = line.unfulfilledQuantity
                if left and order.claimed and (level := _level(self.state, line.variant, fo.location)) is not None:
                    if restock:
                        self.state.move(level, available=left)
                    else:
                        self.state.move(level, on_hand=-left)
                line.removed += left if restock else 0
            fo.status = "CLOSED" if any(li.lineItem.fulfilled for li in fo.line_items) else "CANCELLED"
        order.cancelledAt = order.closedAt = self.state.tick()
        order.cancelReason = reason
        if refund and order.financial in ("PAID", "PARTIALLY_PAID"):
            order.financial = "REFUNDED"
        _touch(self.state, order, "orders/cancelled")
        job = {"id": gid("Job", f"cancel-{legacy_id(order.id)}"), "done": True, "query": None}
        return {"job": job, "orderCancelUserErrors": [], "userErrors": []}

    def fulfillmentCreate(self, info: GraphQLResolveInfo, fulfillment: dict[str, Any], **_: Any) -> dict[str, Any]:
        plan: list[tuple[FulfillmentOrder, dict[str, int] | None]] = []
        for i, group in enumerate(fulfillment["lineItemsByFulfillmentOrder"]):
            fo = self.state.nodes.get(group["fulfillmentOrderId"])
            where = ["fulfillment", "lineItemsByFulfillmentOrder", str(i)]
            if not isinstance(fo, FulfillmentOrder):
                return _fulfil_refused([*where, "fulfillmentOrderId"], "Fulfillment order does not exist.")
            if fo.status not in _OPEN_FO:
                return _fulfil_refused([*where, "fulfillmentOrderId"], f"Fulfillment order is {fo.status.lower()}.")
            wanted = None
            if group.get("fulfillmentOrderLineItems"):
                wanted = {}
                lines = {li.id: li for li in fo.line_items}
                for entry in group["fulfillmentOrderLineItems"]:
                    fo_line = lines.get(entry["id"])
                    if fo_line is None or not 0 < entry["quantity"] <= fo_line.remainingQuantity:
                        return _fulfil_refused(
                            [*where, "fulfillmentOrderLineItems"], "Invalid fulfillment order line item quantity."
                        )
                    wanted[entry["id"]] = entry["quantity"]
            plan.append((fo, wanted))
        made = None
        for fo, wanted in plan:
            made = self._fulfil(fo, wanted)
        return {"fulfillment": made, "userErrors": []}

    def _fulfil(self, fo: FulfillmentOrder, wanted: dict[str, int] | None) -> dict[str, Any]:
        """Ship ``wanted`` (fulfillment order line id -> units; ``None``: everything left)."""
        order: Order = fo.order
        for fo_line in fo.line_items:
            units = fo_line.remainingQuantity if wanted is None else wanted.get(fo_line.id, 0)
            if not units:
                continue
            fo_line.lineItem.fulfilled += units
            level = _level(self.state, fo_line.lineItem.variant, fo.location)
            if level is not None:
                # A claimed unit leaves committed and on hand; an unclaimed one leaves available too.
                self.state.move(level, on_hand=-units, available=0 if order.claimed else -units)
        fo.status = "CLOSED" if not any(li.remainingQuantity for li in fo.line_items) else "IN_PROGRESS"
        now = self.state.tick()
        made = {"id": gid("Fulfillment", len(order.fulfillments) + 1 + 100 * legacy_id(order.id)), "status": "SUCCESS"}
        made["createdAt"] = now
        order.fulfillments.append(made)
        done = order.displayFulfillmentStatus == "FULFILLED"
        if done:
            order.closedAt = now
        _touch(self.state, order, "orders/fulfilled" if done else "orders/partially_fulfilled")
        return made


def _cancel_refused(code: str, message: str) -> dict[str, Any]:
    errors = [{"code": code, "field": ["orderId"], "message": message}]
    return {"job": None, "orderCancelUserErrors": errors, "userErrors": [{"field": ["orderId"], "message": message}]}


def _fulfil_refused(where: list[str], message: str) -> dict[str, Any]:
    return {"fulfillment": None, "userErrors": [{"field": where, "message": message}]}


def orders_matching(state: ShopState, query: str | None, sort_key: str | None, reverse: bool) -> list[Order]:
    """The orders a search ``query`` selects, in ``sortKey`` order."""
    found = list(state.orders)
    for term in re.findall(r"(\w+):\s*([<>]?=?)\s*'?([^'\s]+)'?", query or ""):
        name, op, value = term
        if name in ("updated_at", "created_at"):
            attr = "updatedAt" if name == "updated_at" else "createdAt"
            value = value.replace("+00:00", "Z")
            compare = {">": str.__gt__, ">=": str.__ge__, "<": str.__lt__, "<=": str.__le__, "": str.__eq__}[op]
            found = [o for o in found if compare(getattr(o, attr), value)]
        elif name == "status":
            keep = {
                "open": lambda o: not o.closed and not o.cancelledAt,
                "closed": lambda o: o.closed,
                "cancelled": lambda o: bool(o.cancelledAt),
                "not_closed": lambda o: not o.closed,
                "any": lambda o: True,
            }.get(value.lower())
            if keep is None:
                raise GraphQLError(f"Invalid search field value for status: {value}")
            found = [o for o in found if keep(o)]
    key = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt", "PROCESSED_AT": "processedAt"}.get(sort_key or "ID")
    if key is not None:
        found.sort(key=lambda o: (getattr(o, key), o.number))
    elif sort_key not in (None, "ID", "ORDER_NUMBER", "RELEVANCE"):
        raise GraphQLError(f"the sandbox does not sort orders by {sort_key}")
    return found[::-1] if reverse else found


def install_orders(schema: GraphQLSchema, connection: Any) -> None:
    """Resolvers of the order fields that take arguments (``connection`` pages a list)."""
    types = schema.type_map

    def line_items(order: Order, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, order.line_items, lambda x: "", **args)

    def fulfillment_orders(order: Order, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        args.pop("displayable", None)
        return connection(info, order.fulfillment_orders, lambda x: "", **args)

    def fo_line_items(fo: FulfillmentOrder, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, fo.line_items, lambda x: "", **args)

    types["Order"].fields["lineItems"].resolve = line_items  # type: ignore[union-attr]
    types["Order"].fields["fulfillmentOrders"].resolve = fulfillment_orders  # type: ignore[union-attr]
    types["FulfillmentOrder"].fields["lineItems"].resolve = fo_line_items  # type: ignore[union-attr]
