"""How the sandbox answers each field: connections, filters, mutations and bulk operations.

Resolvers read the store from ``info.context["state"]``, so one schema object serves every
sandbox app in the process. Connection arguments follow Shopify: ``first`` or ``last`` is
required (at most 250) except inside a bulk operation, cursors are opaque, and ``query`` filters
on ``updated_at:>'...'``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, parse, validate
from graphql.execution import execute

from connectors.shopify.sandbox_bulk import bulk_limit_problem
from connectors.shopify.sandbox_schema import schema_for
from connectors.shopify.sandbox_state import (
    BulkOp,
    Customer,
    InventoryItem,
    Level,
    Location,
    ShopState,
    Variant,
    gid,
)

__all__ = ["Resolvers", "flatten_bulk"]

#: Shopify's largest page.
PAGE_SIZE = 250
#: From this version ``inventorySetQuantities`` refuses a call without ``@idempotent(key:)``
#: (optional in 2026-01, where the directive first exists).
IDEMPOTENT_REQUIRED_SINCE = "2026-04"
_UPDATED_AFTER = re.compile(r"updated_at:\s*>\s*'?([0-9T:\-.+Z]+)'?")
_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
_TYPE_NAMES = {
    Variant: "ProductVariant",
    InventoryItem: "InventoryItem",
    Location: "Location",
    Customer: "Customer",
    BulkOp: "BulkOperation",
    Level: "InventoryLevel",
}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"last_id": position})).decode()


def _position(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(orjson.loads(base64.urlsafe_b64decode(cursor.encode()))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


def connection(
    info: GraphQLResolveInfo,
    items: Iterable[Any],
    stamp_of: Callable[[Any], str],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    query: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """A page of ``items`` (already in id order) as a Relay connection."""
    matched = list(enumerate(items))
    if query and (m := _UPDATED_AFTER.search(query)):
        since = m.group(1)
        matched = [(i, x) for i, x in matched if stamp_of(x) > since]
    if info.context.get("bulk"):
        page, more = matched, False
    else:
        size = first if first is not None else last
        if size is None:
            raise GraphQLError("you must provide one of first or last")
        if size > PAGE_SIZE or size < 0:
            raise GraphQLError(f"The maximum number of items per page is {PAGE_SIZE}")
        start = _position(after)
        rest = [(i, x) for i, x in matched if i > start]
        page, more = rest[:size], len(rest) > size
    nodes = [x for _, x in page]
    edges = [{"node": x, "cursor": _cursor(i)} for i, x in page]
    return {
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": bool(after),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _error(code: str | None, field: list[str] | None, message: str) -> dict[str, Any]:
    return {"code": code, "field": field, "message": message}


def _install(schema: GraphQLSchema) -> None:
    """Resolvers of fields that take arguments on non-root types (once per schema object)."""
    if getattr(schema, "_shopify_sandbox", False):
        return
    types = schema.type_map

    def levels_at_location(loc: Location, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        state: ShopState = info.context["state"]
        levels = [lvl for v in state.variants if (lvl := v.inventoryItem.levels.get(loc.id)) is not None]
        return connection(info, levels, lambda lvl: lvl.updatedAt, **args)

    def levels_of_item(item: InventoryItem, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, list(item.levels.values()), lambda lvl: lvl.updatedAt, **args)

    def level_of_item(item: InventoryItem, info: GraphQLResolveInfo, locationId: str, **_: Any) -> Level | None:
        return item.levels.get(locationId)

    def quantities(level: Level, info: GraphQLResolveInfo, names: list[str], **_: Any) -> list[dict[str, Any]]:
        values = {"available": level.available, "on_hand": level.on_hand, "committed": level.on_hand - level.available}
        return [
            {"id": f"{level.id}&name={n}", "name": n, "quantity": values.get(n, 0), "updatedAt": level.updatedAt}
            for n in names
        ]

    types["Location"].fields["inventoryLevels"].resolve = levels_at_location  # type: ignore[union-attr]
    types["InventoryItem"].fields["inventoryLevels"].resolve = levels_of_item  # type: ignore[union-attr]
    types["InventoryItem"].fields["inventoryLevel"].resolve = level_of_item  # type: ignore[union-attr]
    types["InventoryLevel"].fields["quantities"].resolve = quantities  # type: ignore[union-attr]
    types["Node"].resolve_type = lambda obj, info, type_: _TYPE_NAMES.get(type(obj))  # type: ignore[union-attr]
    schema._shopify_sandbox = True  # type: ignore[attr-defined]


def flatten_bulk(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A bulk query's result as Shopify's JSONL rows: nested connections become rows of their own
    carrying ``__parentId``, each right after its parent."""
    rows: list[dict[str, Any]] = []

    def nodes_of(conn: dict[str, Any]) -> list[dict[str, Any]]:
        if "nodes" in conn:
            return list(conn["nodes"])
        return [e["node"] for e in conn.get("edges") or []]

    def strip(obj: dict[str, Any], children: list[dict[str, Any]]) -> dict[str, Any]:
        out = {}
        for key, value in obj.items():
            if isinstance(value, dict) and ("edges" in value or "nodes" in value):
                children.extend(nodes_of(value))
            elif isinstance(value, dict):
                out[key] = strip(value, children)
            else:
                out[key] = value
        return out

    def emit(node: dict[str, Any], parent: str | None) -> None:
        children: list[dict[str, Any]] = []
        row = strip(node, children)
        if parent is not None:
            row["__parentId"] = parent
        rows.append(row)
        for child in children:
            emit(child, node.get("id"))

    for value in data.values():
        if isinstance(value, dict):
            for node in nodes_of(value):
                emit(node, None)
    return rows


class _Root:
    def __init__(self, resolvers: Resolvers, version: str, base_url: str) -> None:
        self.r = resolvers
        self.state = resolvers.state
        self.version = version
        self.base_url = base_url

    # -------------------------------------------------------------- queries

    def shop(self, info: GraphQLResolveInfo, **_: Any) -> dict[str, str]:
        return {"name": self.state.shop.split(".")[0], "myshopifyDomain": self.state.shop}

    def node(self, info: GraphQLResolveInfo, id: str, **_: Any) -> Any:
        found = self.state.nodes.get(id) or self.state.bulk_ops.get(id)
        if isinstance(found, BulkOp):
            self.r.refresh(found)
        return found

    def productVariants(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, self.state.variants, lambda v: v.updatedAt, **args)

    def productVariantsCount(
        self, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = 10000, **_: Any
    ) -> dict[str, Any]:
        items = self.state.variants
        if query and (m := _UPDATED_AFTER.search(query)):
            items = [v for v in items if v.updatedAt > m.group(1)]
        if limit is None or len(items) <= limit:
            return {"count": len(items), "precision": "EXACT"}
        return {"count": limit, "precision": "AT_LEAST"}

    def locations(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        args.pop("includeInactive", None)
        args.pop("includeLegacy", None)
        return connection(info, self.state.locations, lambda loc: "", **args)

    def location(self, info: GraphQLResolveInfo, id: str | None = None, **_: Any) -> Location | None:
        return self.state.location_by_id.get(id) if id else self.state.locations[0]

    def inventoryItem(self, info: GraphQLResolveInfo, id: str, **_: Any) -> InventoryItem | None:
        found = self.state.nodes.get(id)
        return found if isinstance(found, InventoryItem) else None

    def customers(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        return connection(info, self.state.customers, lambda c: c.updatedAt, **args)

    def customersCount(self, info: GraphQLResolveInfo, query: str | None = None, **_: Any) -> dict[str, Any]:
        return {"count": len(self.state.customers), "precision": "EXACT"}

    def currentBulkOperation(self, info: GraphQLResolveInfo, type: str | None = None, **_: Any) -> BulkOp | None:
        if not self.state.bulk_ops:
            return None
        op = list(self.state.bulk_ops.values())[-1]
        self.r.refresh(op)
        return op

    # -------------------------------------------------------------- mutations

    def productVariantsBulkUpdate(
        self,
        info: GraphQLResolveInfo,
        productId: str,
        variants: list[dict[str, Any]],
        allowPartialUpdates: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        product = self.state.nodes.get(productId)
        if product is None or type(product).__name__ != "Product":
            return {
                "product": None,
                "productVariants": None,
                "userErrors": [_error("PRODUCT_DOES_NOT_EXIST", ["productId"], "Product does not exist")],
            }
        errors, valid = [], []
        for i, change in enumerate(variants):
            variant = self.state.nodes.get(change.get("id") or "")
            if not isinstance(variant, Variant):
                errors.append(
                    _error(
                        "PRODUCT_VARIANT_DOES_NOT_EXIST", ["variants", str(i), "id"], "Product variant does not exist"
                    )
                )
                continue
            if variant.product is not product:
                errors.append(
                    _error(
                        "MUST_BE_FOR_THIS_PRODUCT",
                        ["variants", str(i), "id"],
                        "Product variant is not for this product",
                    )
                )
                continue
            bad = next(
                (f for f in ("price", "compareAtPrice") if change.get(f) is not None and Decimal(str(change[f])) < 0),
                None,
            )
            if bad:
                errors.append(_error("NEGATIVE_PRICE_VALUE", ["variants", str(i), bad], "Price can't be negative"))
                continue
            valid.append((variant, change))
        if errors and not allowPartialUpdates:
            valid = []
        for variant, change in valid:
            if "price" in change and change["price"] is not None:
                variant.price = _money(change["price"])
            if "compareAtPrice" in change:
                variant.compareAtPrice = (
                    _money(change["compareAtPrice"]) if change["compareAtPrice"] is not None else None
                )
            if "barcode" in change:
                variant.barcode = change["barcode"]
            variant.updatedAt = self.state.tick()
        return {"product": product, "productVariants": [v for v, _ in valid], "userErrors": errors}

    def inventorySetQuantities(self, info: GraphQLResolveInfo, input: dict[str, Any], **_: Any) -> dict[str, Any]:
        # The served schema says which compare field exists: ``changeFromQuantity`` from 2026-01.
        new_style = "changeFromQuantity" in info.schema.type_map["InventoryQuantityInput"].fields  # type: ignore[union-attr]
        key = _directive_argument(info, "idempotent", "key")
        if self.version >= IDEMPOTENT_REQUIRED_SINCE and key is None:
            raise GraphQLError("The @idempotent directive is required for this mutation.")
        if key is not None and key in self.state.idempotency:
            return self.state.idempotency[key]
        result = self._set_quantities(input, new_style)
        if key is not None:
            self.state.idempotency[key] = result
        return result

    def _set_quantities(self, data: dict[str, Any], new_style: bool) -> dict[str, Any]:
        errors = []
        if data["name"] not in ("available", "on_hand"):
            errors.append(
                _error("INVALID_NAME", ["input", "name"], "The quantity name must be either 'available' or 'on_hand'.")
            )
        if data["reason"] not in _REASONS:
            errors.append(_error("INVALID_REASON", ["input", "reason"], "The specified reason is invalid."))
        compare_field = "changeFromQuantity" if new_style else "compareQuantity"
        stale_code = "CHANGE_FROM_QUANTITY_STALE" if new_style else "COMPARE_QUANTITY_STALE"
        planned = []
        for i, q in enumerate(data["quantities"]):
            where = ["input", "quantities", str(i)]
            item = self.state.nodes.get(q["inventoryItemId"])
            if not isinstance(item, InventoryItem):
                errors.append(
                    _error(
                        "INVALID_INVENTORY_ITEM",
                        [*where, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    )
                )
                continue
            if q["locationId"] not in self.state.location_by_id:
                errors.append(
                    _error("INVALID_LOCATION", [*where, "locationId"], "The specified location could not be found.")
                )
                continue
            level = item.levels.get(q["locationId"])
            if level is None:
                errors.append(
                    _error(
                        "ITEM_NOT_STOCKED_AT_LOCATION",
                        [*where, "locationId"],
                        "The specified inventory item is not stocked at the location.",
                    )
                )
                continue
            if q["quantity"] < 0 and data["name"] == "on_hand":
                errors.append(
                    _error("INVALID_QUANTITY_NEGATIVE", [*where, "quantity"], "The quantity can't be negative.")
                )
                continue
            current = level.available if data["name"] == "available" else level.on_hand
            compare = q.get(compare_field)
            if compare is None and not data.get("ignoreCompareQuantity"):
                errors.append(
                    _error(
                        "COMPARE_QUANTITY_REQUIRED",
                        [*where, compare_field],
                        f"The {compare_field} argument must be given to each quantity or ignored using "
                        "ignoreCompareQuantity.",
                    )
                )
                continue
            if compare is not None and compare != current and not data.get("ignoreCompareQuantity"):
                errors.append(
                    _error(
                        stale_code,
                        [*where, compare_field],
                        f"The {compare_field} argument no longer matches the persisted quantity.",
                    )
                )
                continue
            planned.append((level, q["quantity"]))
        if errors:  # all or nothing, as Shopify does
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        for level, quantity in planned:
            self.state.stock_writes.append((level.item.sku, level.location.code, quantity))
            if data["name"] == "available":
                self.state.set_available(level, quantity)
            else:
                level.on_hand = quantity
                level.updatedAt = self.state.tick()
        group = {"id": gid("InventoryAdjustmentGroup", int(time.time() * 1000)), "reason": data["reason"]}
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def customerCreate(self, info: GraphQLResolveInfo, input: dict[str, Any], **_: Any) -> dict[str, Any]:
        email = (input.get("email") or "").strip().lower() or None
        if email and any(c.email == email for c in self.state.customers):
            return {"customer": None, "userErrors": [{"field": ["email"], "message": "Email has already been taken"}]}
        if not (email or input.get("phone") or input.get("firstName") or input.get("lastName")):
            return {
                "customer": None,
                "userErrors": [{"field": None, "message": "A name, phone number, or email address must be present"}],
            }
        consent = input.get("emailMarketingConsent") or {"marketingState": "NOT_SUBSCRIBED"}
        customer = Customer(
            gid("Customer", len(self.state.customers) + 1),
            email,
            input.get("firstName"),
            input.get("lastName"),
            input.get("phone"),
            list(input.get("tags") or []),
            self.state.tick(),
            {"marketingOptInLevel": None, "consentUpdatedAt": None, **consent},
        )
        self.state.customers.append(customer)
        self.state.nodes[customer.id] = customer
        return {"customer": customer, "userErrors": []}

    def customerUpdate(self, info: GraphQLResolveInfo, input: dict[str, Any], **_: Any) -> dict[str, Any]:
        customer = self.state.nodes.get(input.get("id") or "")
        if not isinstance(customer, Customer):
            return {"customer": None, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]}
        if "emailMarketingConsent" in input:
            return {
                "customer": None,
                "userErrors": [
                    {
                        "field": ["emailMarketingConsent"],
                        "message": "To update emailMarketingConsent, please use the "
                        "customerEmailMarketingConsentUpdate Mutation instead",
                    }
                ],
            }
        for name in ("email", "firstName", "lastName", "phone"):
            if name in input:
                setattr(customer, name, input[name])
        if "tags" in input:
            customer.tags = list(input["tags"] or [])
        customer.updatedAt = self.state.tick()
        return {"customer": customer, "userErrors": []}

    def customerEmailMarketingConsentUpdate(
        self, info: GraphQLResolveInfo, input: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        customer = self.state.nodes.get(input["customerId"])
        if not isinstance(customer, Customer):
            return {"customer": None, "userErrors": [_error("INVALID", ["input", "customerId"], "Customer not found")]}
        customer.consent = {
            "marketingOptInLevel": None,
            "consentUpdatedAt": self.state.tick(),
            **input["emailMarketingConsent"],
        }
        customer.updatedAt = self.state.tick()
        return {"customer": customer, "userErrors": []}

    def bulkOperationRunQuery(self, info: GraphQLResolveInfo, query: str, **_: Any) -> dict[str, Any]:
        for op in self.state.bulk_ops.values():
            self.r.refresh(op)
        running = [op for op in self.state.bulk_ops.values() if not op.done and not op.failed]
        if running:
            message = f"A bulk query operation for this app and shop is already in progress: {running[0].id}."
            return {"bulkOperation": None, "userErrors": [_error("OPERATION_IN_PROGRESS", None, message)]}
        return self.r.start_bulk(query, self.version, self.base_url)


def _money(value: Any) -> str:
    # Shopify answers Money as a decimal string with the currency's two places.
    return f"{Decimal(str(value)):.2f}"


def _directive_argument(info: GraphQLResolveInfo, directive: str, argument: str) -> Any:
    for node in info.field_nodes:
        for found in node.directives or ():
            if found.name.value != directive:
                continue
            for arg in found.arguments:
                if arg.name.value == argument:
                    value = arg.value
                    if value.kind == "variable":
                        return info.variable_values.get(value.name.value)  # type: ignore[attr-defined]
                    return getattr(value, "value", None)
    return None


class Resolvers:
    """Builds the root value for each request and runs bulk operations."""

    def __init__(self, state: ShopState, *, bulk_delay: float = 0.0) -> None:
        self.state = state
        self.bulk_delay = bulk_delay

    def root(self, version: str, base_url: str) -> _Root:
        _install(schema_for(version))
        return _Root(self, version, base_url)

    def context(self, version: str, *, bulk: bool = False) -> dict[str, Any]:
        return {"state": self.state, "version": version, "bulk": bulk}

    def refresh(self, op: BulkOp) -> None:
        """A bulk operation completes once its delay has passed."""
        if not op.done and not op.failed and time.monotonic() >= op.ready_at:
            op.done = True
            op.completedAt = self.state.tick()

    def start_bulk(self, query: str, version: str, base_url: str) -> dict[str, Any]:
        schema = schema_for(version)
        try:
            document = parse(query)
        except GraphQLError as exc:
            return {"bulkOperation": None, "userErrors": [_error("INVALID", ["query"], exc.message)]}
        problems = validate(schema, document)
        if problems:
            return {"bulkOperation": None, "userErrors": [_error("INVALID", ["query"], problems[0].message)]}
        if limit := bulk_limit_problem(schema, document):
            return {"bulkOperation": None, "userErrors": [_error("INVALID", ["query"], limit)]}
        result = execute(
            schema, document, root_value=self.root(version, base_url), context_value=self.context(version, bulk=True)
        )
        if result.errors or result.data is None:
            message = result.errors[0].message if result.errors else "no data"
            return {"bulkOperation": None, "userErrors": [_error("INVALID", ["query"], message)]}
        rows = flatten_bulk(result.data)
        n = len(self.state.bulk_ops) + 1
        op = BulkOp(gid("BulkOperation", n), query, self.state.tick(), time.monotonic() + self.bulk_delay)
        op.body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        op.objectCount = len(rows)
        op.rootObjectCount = sum(1 for row in rows if "__parentId" not in row)
        op.pending_url = f"{base_url}/bulk-results/{n}.jsonl" if rows else None
        self.state.bulk_ops[op.id] = op
        return {"bulkOperation": op, "userErrors": []}
