"""The sandbox's mutations: variant prices, inventory quantities, customers and bulk operations.

They answer as Shopify does: ``userErrors`` (with Shopify's codes) for a negative price, an unknown
variant or one of another product, a stale compare quantity, an item not stocked at a location;
``inventorySetQuantities`` all or nothing, with the compare field of the version served and the
``@idempotent`` key it requires from 2026-04 (a repeated key answers what the first call did).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLResolveInfo

from connectors.shopify.sandbox_state import Customer, InventoryItem, Level, ShopState, Variant, gid

if TYPE_CHECKING:
    from connectors.shopify.sandbox_resolvers import Resolvers

__all__ = ["IDEMPOTENT_REQUIRED_SINCE", "Mutations", "user_error"]

#: From this version ``inventorySetQuantities`` refuses a call without ``@idempotent(key:)``
#: (optional in 2026-01, where the directive first exists).
IDEMPOTENT_REQUIRED_SINCE = "2026-04"
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


def user_error(code: str | None, field: list[str] | None, message: str) -> dict[str, Any]:
    """One entry of a mutation's ``userErrors``."""
    return {"code": code, "field": field, "message": message}


class Mutations:
    """The mutation fields of the root value (``_Root`` in ``sandbox_resolvers`` mixes them in)."""

    r: Resolvers
    state: ShopState
    version: str
    base_url: str

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
                "userErrors": [user_error("PRODUCT_DOES_NOT_EXIST", ["productId"], "Product does not exist")],
            }
        errors, valid = [], []
        for i, change in enumerate(variants):
            variant = self.state.nodes.get(change.get("id") or "")
            if not isinstance(variant, Variant):
                errors.append(
                    user_error(
                        "PRODUCT_VARIANT_DOES_NOT_EXIST", ["variants", str(i), "id"], "Product variant does not exist"
                    )
                )
                continue
            if variant.product is not product:
                errors.append(
                    user_error(
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
                errors.append(user_error("NEGATIVE_PRICE_VALUE", ["variants", str(i), bad], "Price can't be negative"))
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
                user_error(
                    "INVALID_NAME", ["input", "name"], "The quantity name must be either 'available' or 'on_hand'."
                )
            )
        if data["reason"] not in _REASONS:
            errors.append(user_error("INVALID_REASON", ["input", "reason"], "The specified reason is invalid."))
        planned = []
        for i, q in enumerate(data["quantities"]):
            level, problem = self._quantity_target(data, q, ["input", "quantities", str(i)], new_style)
            if problem is not None:
                errors.append(problem)
            elif level is not None:
                planned.append((level, q["quantity"]))
        if errors:  # all or nothing, as Shopify does
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        for level, quantity in planned:
            self.state.stock_writes.append((level.item.sku, level.location.code, quantity))
            if data["name"] == "available":
                self.state.set_available(level, quantity)
            else:  # on hand moves available with it: what is committed to orders stays committed
                delta = quantity - level.on_hand
                self.state.move(level, available=delta, on_hand=delta)
        group = {"id": gid("InventoryAdjustmentGroup", int(time.time() * 1000)), "reason": data["reason"]}
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def _quantity_target(
        self, data: dict[str, Any], q: dict[str, Any], where: list[str], new_style: bool
    ) -> tuple[Level | None, dict[str, Any] | None]:
        """The level one ``quantities`` entry sets, or the user error that refuses it."""
        item = self.state.nodes.get(q["inventoryItemId"])
        if not isinstance(item, InventoryItem):
            message = "The specified inventory item could not be found."
            return None, user_error("INVALID_INVENTORY_ITEM", [*where, "inventoryItemId"], message)
        if q["locationId"] not in self.state.location_by_id:
            message = "The specified location could not be found."
            return None, user_error("INVALID_LOCATION", [*where, "locationId"], message)
        level = item.levels.get(q["locationId"])
        if level is None:
            message = "The specified inventory item is not stocked at the location."
            return None, user_error("ITEM_NOT_STOCKED_AT_LOCATION", [*where, "locationId"], message)
        if q["quantity"] < 0 and data["name"] == "on_hand":
            return None, user_error(
                "INVALID_QUANTITY_NEGATIVE", [*where, "quantity"], "The quantity can't be negative."
            )
        return level, self._compare_problem(data, q, level, where, new_style)

    @staticmethod
    def _compare_problem(
        data: dict[str, Any], q: dict[str, Any], level: Level, where: list[str], new_style: bool
    ) -> dict[str, Any] | None:
        """The compare-and-set check: ``changeFromQuantity`` from 2026-01, ``compareQuantity`` before."""
        compare_field = "changeFromQuantity" if new_style else "compareQuantity"
        stale_code = "CHANGE_FROM_QUANTITY_STALE" if new_style else "COMPARE_QUANTITY_STALE"
        current = level.available if data["name"] == "available" else level.on_hand
        compare = q.get(compare_field)
        if data.get("ignoreCompareQuantity"):
            return None
        if compare is None:
            message = (
                f"The {compare_field} argument must be given to each quantity or ignored using ignoreCompareQuantity."
            )
            return user_error("COMPARE_QUANTITY_REQUIRED", [*where, compare_field], message)
        if compare != current:
            message = f"The {compare_field} argument no longer matches the persisted quantity."
            return user_error(stale_code, [*where, compare_field], message)
        return None

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
            return {
                "customer": None,
                "userErrors": [user_error("INVALID", ["input", "customerId"], "Customer not found")],
            }
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
            return {"bulkOperation": None, "userErrors": [user_error("OPERATION_IN_PROGRESS", None, message)]}
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
