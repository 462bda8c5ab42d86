"""The WooCommerce sandbox's orders: created, listed, changed and what each status does to stock.

Written from WooCommerce's REST orders controller (``WC_REST_Orders_V2_Controller``: how a body is
applied, ``set_paid``, the errors it raises), its stock functions and the real captures 72-74
(``tests/fixtures/platforms/woocommerce/real-captures``):

* an order becoming ``processing``, ``completed`` or ``on-hold`` (or paid with ``set_paid``) takes
  each line's units from the product or variation that manages the stock, once: the order keeps a
  flag, and each line a ``_reduced_stock`` meta entry (captured); a second such change takes nothing;
* becoming ``cancelled`` or ``pending`` again gives back what the lines took and drops the meta
  entries (captured: 40 -> 42); ``completed`` or ``refunded`` give nothing back;
* a stock change saves the product (its ``date_modified`` moves, ``product.updated`` fires);
* a line needs ``product_id``, ``variation_id`` or ``sku`` (else 400
  ``woocommerce_rest_required_product_reference``); a product id that does not exist is **not**
  refused: WooCommerce adds a line without a product (``product_id`` 0, ``sku`` null, totals 0), as
  its source does and its issue #50698 reports; a line of quantity 0 is left out;
* parameters are checked by type as WordPress does (400 ``rest_invalid_param`` naming the parameter
  and, in ``details``, the item at fault); fields WordPress does not know are ignored, as it does.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.woocommerce.sandbox_store import WooStore
from connectors.woocommerce.sandbox_values import price_number

__all__ = ["ORDER_STATUSES", "WooOrderBook", "order_problem"]

#: The statuses ``POST``/``PUT /orders`` take (the wc/v3 OpenAPI ``status`` enum of a write).
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
#: Statuses the ``status`` filter of ``GET /orders`` takes (``any`` and ``trash`` besides).
LIST_STATUSES = ("any", "trash", *ORDER_STATUSES)
#: Statuses whose arrival takes stock (``wc_maybe_reduce_stock_levels``) and gives it back.
_TAKES_STOCK = frozenset({"processing", "completed", "on-hold"})
_GIVES_BACK = frozenset({"cancelled", "pending"})
#: Statuses ``payment_complete`` moves to ``processing``.
_AWAITING_PAYMENT = frozenset({"on-hold", "pending", "failed", "cancelled"})
_ADDRESS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country")
_SCALARS = ("customer_note", "payment_method", "payment_method_title", "transaction_id", "currency")
_LINK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_TRUE = (True, "true", "1", 1)
_FALSE = (False, "false", "0", 0)


def order_problem(code: str, message: str, status: int = 400, **data: Any) -> dict[str, Any]:
    """A refused order write, as the route answers it whole."""
    return {"error": {"code": code, "message": message, "data": {"status": status, **data}}}


def _invalid_param(top: str, where: str, message: str, code: str) -> dict[str, Any]:
    """WordPress's 400 for a parameter that fails its schema (``where`` is the item at fault)."""
    return order_problem(
        "rest_invalid_param",
        f"Invalid parameter(s): {top}",
        params={top: message},
        details={top: {"code": code, "message": message, "data": {"param": where}}},
    )


def _as_integer(value: Any) -> int | None:
    """WordPress's integer check: an int, or a string of digits; ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def _php_number(value: Decimal) -> int | float:
    """A PHP float as ``json_encode`` writes it: ``25`` for a whole number, ``100.99`` otherwise."""
    return int(value) if value == value.to_integral_value() else float(value)


def _blank_address(with_email: bool) -> dict[str, str]:
    fields = dict.fromkeys(_ADDRESS, "")
    if with_email:
        fields["email"] = ""
    fields["phone"] = ""
    return fields


class WooOrderBook(WooStore):
    """The store with orders (ids from the same sequence as products, as WordPress posts share one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.orders: dict[int, dict[str, Any]] = {}
        self._item_id = 0
        self._meta_id = 0
        self._keys = random.Random(13)

    # ------------------------------------------------------------------ ids

    def _next_item_id(self) -> int:
        self._item_id += 1
        return self._item_id

    def _next_meta_id(self) -> int:
        self._meta_id += 1
        return self._meta_id

    # ------------------------------------------------------------------ validation (WordPress's)

    def _check(self, body: Mapping[str, Any], creating: bool) -> dict[str, Any] | None:
        if "status" in body and body["status"] not in ORDER_STATUSES:
            message = f"status is not one of {', '.join(ORDER_STATUSES)}."
            return _invalid_param("status", "status", message, "rest_not_in_enum")
        if "set_paid" in body and body["set_paid"] not in (*_TRUE, *_FALSE):
            return _invalid_param("set_paid", "set_paid", "set_paid is not of type boolean.", "rest_invalid_type")
        if "customer_id" in body and _as_integer(body["customer_id"]) is None:
            message = "customer_id is not of type integer."
            return _invalid_param("customer_id", "customer_id", message, "rest_invalid_type")
        for part in ("billing", "shipping"):
            if part in body and not isinstance(body[part], Mapping):
                return _invalid_param(part, part, f"{part} is not of type object.", "rest_invalid_type")
        for name in ("line_items", "shipping_lines"):
            if name not in body:
                continue
            items = body[name]
            if not isinstance(items, list):
                return _invalid_param(name, name, f"{name} is not of type array.", "rest_invalid_type")
            for index, item in enumerate(items):
                where = f"{name}[{index}]"
                if not isinstance(item, Mapping):
                    return _invalid_param(name, where, f"{where} is not of type object.", "rest_invalid_type")
                problem = self._check_item(name, where, item, creating)
                if problem is not None:
                    return problem
        return None

    def _check_item(self, name: str, where: str, item: Mapping[str, Any], creating: bool) -> dict[str, Any] | None:
        integers = ("id", "product_id", "variation_id", "quantity") if name == "line_items" else ("id",)
        strings = ("sku", "name") if name == "line_items" else ("method_id", "method_title", "instance_id")
        for field in integers:
            if field in item and item[field] is not None and _as_integer(item[field]) is None:
                message = f"{where}[{field}] is not of type integer."
                return _invalid_param(name, f"{where}[{field}]", message, "rest_invalid_type")
        for field in strings:
            if field in item and item[field] is not None and not isinstance(item[field], str):
                message = f"{where}[{field}] is not of type string."
                return _invalid_param(name, f"{where}[{field}]", message, "rest_invalid_type")
        if name == "line_items" and (_as_integer(item.get("quantity", 1)) or 0) < 0:
            # Not seen on a real store: a negative line would give stock back on payment.
            message = f"{where}[quantity] must be greater than or equal to 0"
            return _invalid_param(name, f"{where}[quantity]", message, "rest_out_of_bounds")
        if name == "shipping_lines" and creating and not item.get("id") and not item.get("method_id"):
            return order_problem("woocommerce_rest_invalid_shipping_item", "Shipping method ID is required.")
        named = item.get("sku") or item.get("product_id") or item.get("variation_id")
        if name == "line_items" and not item.get("id") and not named:
            return order_problem("woocommerce_rest_required_product_reference", "Product ID or SKU is required.")
        return None

    # ------------------------------------------------------------------ lines

    def _product_for(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """``get_product_id``: the SKU first, then the product id (without a variation), then the variation."""
        if item.get("sku"):
            found = [r for r in (*self.products.values(), *self.variations.values()) if r.get("sku") == item["sku"]]
            return found[0] if found and found[0].get("status") != "trash" else None
        if item.get("product_id") and not item.get("variation_id"):
            record = self.products.get(_as_integer(item["product_id"]) or 0)
        else:
            record = self.variations.get(_as_integer(item.get("variation_id")) or 0)
        return record if record is not None and record.get("status") != "trash" else None

    def _line(self, item: Mapping[str, Any]) -> dict[str, Any]:
        product = self._product_for(item)
        quantity = _as_integer(item.get("quantity", 1)) or 0
        line: dict[str, Any] = {
            "id": self._next_item_id(),
            "name": "",
            "product_id": 0,
            "variation_id": 0,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": "0.00",
            "subtotal_tax": "0.00",
            "total": "0.00",
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": None,
            "global_unique_id": "",
            "price": 0,
            "image": {"id": "", "src": ""},
            "parent_name": None,
        }
        if product is not None:
            self._set_product(line, product)
        if isinstance(item.get("name"), str):
            line["name"] = item["name"]
        return line

    def _set_product(self, line: dict[str, Any], product: Mapping[str, Any]) -> None:
        price = price_number(str(product.get("price") or "")) or Decimal(0)
        total = price * line["quantity"]
        line.update(
            sku=product.get("sku") or "",
            global_unique_id=product.get("global_unique_id") or "",
            total=_money(total),
            subtotal=_money(total),
            price=_php_number(price),
        )
        if product.get("type") == "variation":
            parent = self.products.get(product.get("parent_id", 0), {})
            options = [a.get("option", "") for a in product.get("attributes") or []]
            line.update(
                product_id=parent.get("id", 0),
                variation_id=product["id"],
                name=f"{parent.get('name', '')} - {', '.join(options)}" if options else parent.get("name", ""),
                parent_name=parent.get("name"),
                image={"id": 0, "src": ""},
            )
            for attribute in product.get("attributes") or []:
                key = attribute.get("slug") or str(attribute.get("name", "")).lower()
                line["meta_data"].append(
                    {
                        "id": self._next_meta_id(),
                        "key": key,
                        "value": attribute.get("option", ""),
                        "display_key": attribute.get("name", key),
                        "display_value": attribute.get("option", ""),
                    }
                )
        else:
            line.update(product_id=product["id"], name=product.get("name", ""))

    def _line_record(self, line: Mapping[str, Any]) -> dict[str, Any] | None:
        if line.get("variation_id"):
            return self.variations.get(line["variation_id"])
        return self.products.get(line.get("product_id") or 0)

    def _shipping_line(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": self._next_item_id(),
            "method_title": item.get("method_title") or "",
            "method_id": item.get("method_id") or "",
            "instance_id": str(item.get("instance_id") or "0"),
            "total": _money(price_number(str(item.get("total") or "")) or Decimal(0)),
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
        }

    # ------------------------------------------------------------------ stock

    def _reduce_stock(self, order: dict[str, Any]) -> None:
        """``wc_maybe_reduce_stock_levels``: once per order, each line from its stock holder."""
        if order["_stock_reduced"]:
            return
        order["_stock_reduced"] = True
        for line in order["line_items"]:
            record = self._line_record(line)
            holder = self._stock_holder(record) if record is not None else None
            if holder is None or line["quantity"] <= 0:
                continue
            self._move_stock(holder, record, -line["quantity"])
            amount = str(line["quantity"])
            line["meta_data"].append(
                {
                    "id": self._next_meta_id(),
                    "key": "_reduced_stock",
                    "value": amount,
                    "display_key": "_reduced_stock",
                    "display_value": amount,
                }
            )

    def _restore_stock(self, order: dict[str, Any]) -> None:
        """``wc_maybe_increase_stock_levels``: what each line took comes back, its meta entry goes."""
        if not order["_stock_reduced"]:
            return
        order["_stock_reduced"] = False
        for line in order["line_items"]:
            taken = [m for m in line["meta_data"] if m["key"] == "_reduced_stock"]
            line["meta_data"] = [m for m in line["meta_data"] if m["key"] != "_reduced_stock"]
            record = self._line_record(line)
            holder = self._stock_holder(record) if record is not None else None
            if holder is not None and taken:
                self._move_stock(holder, record, int(taken[0]["value"]))

    def _move_stock(self, holder: dict[str, Any], record: dict[str, Any] | None, delta: int) -> None:
        holder["stock_quantity"] = int(holder.get("stock_quantity") or 0) + delta
        self._settle(holder)
        self._touch(holder)
        if record is not None and record is not holder:
            self._touch(record)

    # ------------------------------------------------------------------ status

    def _set_status(self, order: dict[str, Any], status: str) -> None:
        previous = order["status"]
        order["status"] = status
        if status == previous:
            return
        stamp = self.now()
        if status in ("processing", "completed") and order["date_paid_gmt"] is None:
            order["date_paid"] = order["date_paid_gmt"] = stamp
        if status == "completed":
            order["date_completed"] = order["date_completed_gmt"] = stamp
        if status in _TAKES_STOCK:
            self._reduce_stock(order)
        elif status in _GIVES_BACK:
            self._restore_stock(order)

    def _settle_order(self, order: dict[str, Any]) -> None:
        lines = sum((Decimal(line["total"]) for line in order["line_items"]), Decimal(0))
        shipping = sum((Decimal(line["total"]) for line in order["shipping_lines"]), Decimal(0))
        order["shipping_total"] = _money(shipping)
        order["total"] = _money(lines + shipping)
        order["is_editable"] = order["status"] in ("pending", "on-hold", "auto-draft")
        order["needs_payment"] = order["status"] in ("pending", "failed") and lines + shipping > 0
        order["needs_processing"] = bool(order["line_items"])

    # ------------------------------------------------------------------ writes

    def _apply_fields(self, order: dict[str, Any], body: Mapping[str, Any]) -> None:
        for part in ("billing", "shipping"):
            for key, value in (body.get(part) or {}).items():
                if key in order[part]:
                    order[part][key] = "" if value is None else str(value)
        for field in _SCALARS:
            if isinstance(body.get(field), str):
                order[field] = body[field]
        if "customer_id" in body:
            order["customer_id"] = _as_integer(body["customer_id"]) or 0
        for meta in body.get("meta_data") or []:
            if isinstance(meta, Mapping) and "key" in meta:
                order["meta_data"].append({"id": self._next_meta_id(), "key": meta["key"], "value": meta.get("value")})

    def _apply_lines(self, order: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
        for item in body.get("line_items") or []:
            if item.get("id"):
                line = next((li for li in order["line_items"] if li["id"] == _as_integer(item["id"])), None)
                if line is None:
                    return order_problem(
                        "woocommerce_rest_invalid_item_id", "Order item ID provided is not associated with order."
                    )
                self._change_line(order, line, item)
            elif _as_integer(item.get("quantity", 1)) != 0:
                order["line_items"].append(self._line(item))
        for item in body.get("shipping_lines") or []:
            if not item.get("id"):
                order["shipping_lines"].append(self._shipping_line(item))
        return None

    def _change_line(self, order: dict[str, Any], line: dict[str, Any], item: Mapping[str, Any]) -> None:
        """An existing line's new quantity (0 removes it); on an order that took stock the
        difference is taken or given back (``wc_maybe_adjust_line_item_product_stock``)."""
        quantity = _as_integer(item.get("quantity", line["quantity"])) or 0
        taken = next((m for m in line["meta_data"] if m["key"] == "_reduced_stock"), None)
        record = self._line_record(line)
        holder = self._stock_holder(record) if record is not None else None
        if taken is not None and holder is not None and quantity != int(taken["value"]):
            self._move_stock(holder, record, int(taken["value"]) - quantity)
            taken["value"] = taken["display_value"] = str(quantity)
        if quantity == 0:
            order["line_items"].remove(line)
            return
        line["quantity"] = quantity
        if record is not None:
            self._set_product(line, record)

    def _blank_order(self) -> dict[str, Any]:
        order_id = self._new_id()
        stamp = self.now()
        key = "wc_order_" + "".join(self._keys.choices(string.ascii_letters + string.digits, k=13))
        return {
            "id": order_id,
            "parent_id": 0,
            "status": "pending",
            "currency": "EUR",
            "version": "11.0.1",
            "prices_include_tax": False,
            "date_created": stamp,
            "date_modified": stamp,
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": "0.00",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": "0.00",
            "total_tax": "0.00",
            "customer_id": 0,
            "order_key": key,
            "billing": _blank_address(with_email=True),
            "shipping": _blank_address(with_email=False),
            "payment_method": "",
            "payment_method_title": "",
            "transaction_id": "",
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": "rest-api",
            "customer_note": "",
            "date_completed": None,
            "date_paid": None,
            "cart_hash": "",
            "number": str(order_id),
            "meta_data": [],
            "line_items": [],
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "payment_url": f"/checkout/order-pay/{order_id}/?pay_for_order=true&key={key}",
            "is_editable": True,
            "needs_payment": False,
            "needs_processing": False,
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "date_completed_gmt": None,
            "date_paid_gmt": None,
            "currency_symbol": "€",
            "_stock_reduced": False,
        }

    def create_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /orders``: the new order as shown, or ``{"error": ...}``."""
        problem = self._check(body, creating=True)
        if problem is None and body.get("customer_id") and _as_integer(body["customer_id"]) not in self.customers:
            problem = order_problem("woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
        if problem is not None:
            return problem
        order = self._blank_order()
        self._apply_fields(order, body)
        self._apply_lines(order, body)
        self.orders[order["id"]] = order
        self.events.append(("order.created", order["id"]))
        self._finish(order, body, creating=True)
        return self.order_view(order)

    def update_order(self, order_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /orders/{id}``: the order as shown after the change, or ``{"error": ...}``."""
        order = self.orders.get(order_id)
        if order is None:
            return order_problem("woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        problem = self._check(body, creating=False)
        if problem is not None:
            return problem
        self._apply_fields(order, body)
        problem = self._apply_lines(order, body)
        if problem is not None:
            return problem
        self.events.append(("order.updated", order["id"]))
        self._finish(order, body, creating=False)
        return self.order_view(order)

    def _finish(self, order: dict[str, Any], body: Mapping[str, Any], creating: bool) -> None:
        """The status last, then ``set_paid`` (``payment_complete``), as ``save_object`` does."""
        if body.get("status"):
            self._set_status(order, str(body["status"]))
        if body.get("set_paid") in _TRUE and (creating or order["status"] in ("pending", "failed")):
            if order["status"] in _AWAITING_PAYMENT:
                self._set_status(order, "processing")
            if order["date_paid_gmt"] is None:
                order["date_paid"] = order["date_paid_gmt"] = self.now()
            self._reduce_stock(order)
        order["date_modified"] = order["date_modified_gmt"] = self.now()
        self._settle_order(order)

    def delete_order(self, order_id: int, force: bool) -> dict[str, Any]:
        """``DELETE /orders/{id}``: to the trash (stock untouched), or gone with ``force``."""
        order = self.orders.get(order_id)
        if order is None:
            return order_problem("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        shown = self.order_view(order)
        if force:
            del self.orders[order_id]
        else:
            order["status"] = "trash"
            order["date_modified"] = order["date_modified_gmt"] = self.now()
        self.events.append(("order.deleted", order_id))
        return shown

    # ------------------------------------------------------------------ reading

    def order_view(self, order: Mapping[str, Any]) -> dict[str, Any]:
        """An order as the API shows it (without the store's own bookkeeping)."""
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        shown["billing"], shown["shipping"] = dict(order["billing"]), dict(order["shipping"])
        shown["line_items"] = [{**li, "meta_data": [dict(m) for m in li["meta_data"]]} for li in order["line_items"]]
        return shown

    def order_payload(self, shown: Mapping[str, Any], site: str) -> dict[str, Any]:
        """An order as shown with its ``_links`` (``site`` is the site root, ending in ``/``)."""
        base = f"{site}wp-json/wc/v3"
        out = dict(shown)
        out["payment_url"] = f"{site}{str(shown['payment_url']).lstrip('/')}"
        links: dict[str, Any] = {
            "self": [{"href": f"{base}/orders/{shown['id']}", "targetHints": {"allow": _LINK_METHODS}}],
            "collection": [{"href": f"{base}/orders"}],
            "email_templates": [{"embeddable": True, "href": f"{base}/orders/{shown['id']}/actions/email_templates"}],
        }
        if shown.get("customer_id"):
            links["customer"] = [{"href": f"{base}/customers/{shown['customer_id']}"}]
        out["_links"] = links
        return out

    def webhook_payload(self, topic: str, resource_id: int, site: str = "/") -> dict[str, Any]:
        """The body of a delivery: the resource as the REST API shows it, ``{"id": N}`` once deleted."""
        resource, _, event = topic.partition(".")
        if event == "deleted":
            return {"id": resource_id}
        if resource == "order":
            order = self.orders.get(resource_id)
            return self.order_payload(self.order_view(order), site) if order else {"id": resource_id}
        record = self.products.get(resource_id) or self.variations.get(resource_id)
        if record is None:
            return {"id": resource_id}
        base = f"{site}wp-json/wc/v3/products"
        out = self.view(record)
        out["_links"] = {
            "self": [{"href": f"{base}/{resource_id}", "targetHints": {"allow": _LINK_METHODS}}],
            "collection": [{"href": base}],
        }
        if record.get("type") == "variation":
            out["_links"]["up"] = [{"href": f"{base}/{record['parent_id']}"}]
        return out
