"""The WooCommerce sandbox's data: products, variations and customers, and how writes change them.

Seeded from a platform-neutral ``hub.sandbox.seed.Catalogue`` (``sandbox_seeding``). What a write
does is what a real WooCommerce 11.0.1 was seen doing (``tests/fixtures/platforms/woocommerce/real-captures``):

* values are coerced, never refused (``sandbox_values``): ``"abc"`` wipes a price, ``"12,50"`` is
  stored as ``"1250"``, a quantity ``"abc"`` as 0; a sale price not below the regular one is
  dropped; a quantity sent to an item that does not manage stock is ignored;
* a change to a variation also moves its parent's ``date_modified_gmt`` and derived ``price``;
* a variation that does not manage stock while its parent does shows ``manage_stock: "parent"``
  and the parent's quantity and status: the parent holds one pool for all of them, and a sale of
  any of them takes from it (WooCommerce's ``WC_Product_Variation::get_manage_stock``);
* a deleted product goes to the trash and out of listings; creates get the next id.

Thread-safe: tests call ``sale`` from their own thread while the server answers in another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.woocommerce.sandbox_seeding import STAMP, WooSeeding
from connectors.woocommerce.sandbox_values import is_on_sale, php_intval, price_number, stored_price
from hub.sdk import Catalogue

__all__ = ["WooStore", "item_error"]

_VARIATION_PATH = "/products/&lt;product_id&gt;/variations/&lt;id&gt;"
#: Fields a product or variation write sets as given (prices and stock have rules of their own).
_PLAIN_FIELDS = ("name", "status", "global_unique_id", "attributes")


def item_error(item_id: Any, code: str, message: str, status: int = 400, **data: Any) -> dict[str, Any]:
    """A failed batch item, as WooCommerce answers it inside a 200."""
    return {"id": item_id, "error": {"code": code, "message": message, "data": {"status": status, **data}}}


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class WooStore(WooSeeding):
    """Products (simple and variable), variations and customers, keyed by WooCommerce id."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        location_code: str | None = None,
        variable_products: bool = True,
        clock: Callable[[], datetime] | None = None,
        first_id: int = 10,
    ) -> None:
        self.location_code = location_code or (catalogue.locations[0] if catalogue.locations else "web-warehouse")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        #: What happened since the routes last sent webhooks: (topic, resource id), in order.
        self.events: list[tuple[str, int]] = []
        self._next_id = first_id
        self._seed(catalogue, variable_products)

    # ------------------------------------------------------------------ ids

    def _new_id(self) -> int:
        item_id = self._next_id
        self._next_id += 1
        return item_id

    # ------------------------------------------------------------------ reading

    def now(self) -> str:
        return self._clock().astimezone(UTC).strftime(STAMP)

    def _find(self, sku: str) -> dict[str, Any]:
        for record in (*self.products.values(), *self.variations.values()):
            if record.get("sku") == sku and record.get("status") != "trash":
                return record
        raise KeyError(sku)

    def by_sku(self, skus: Iterable[str]) -> list[dict[str, Any]]:
        """Products, variable parents and variations whose SKU is one of ``skus``, case ignored."""
        wanted = {s.casefold() for s in skus}
        items = [*self.products.values(), *self.variations.values()]
        return [r for r in items if r.get("sku") and r["sku"].casefold() in wanted]

    def view(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record as the API shows it: a variation whose parent holds the stock shows the pool."""
        out = dict(record)
        if record.get("type") == "variation" and not record.get("manage_stock"):
            parent = self.products.get(record.get("parent_id", 0))
            if parent is not None and parent.get("manage_stock"):
                out["manage_stock"] = "parent"
                out["stock_quantity"] = parent.get("stock_quantity")
                out["stock_status"] = parent.get("stock_status")
        return out

    def item(self, sku: str) -> dict[str, Any]:
        """The product or variation with ``sku`` as the API shows it (``KeyError`` if none)."""
        with self.lock:
            return self.view(self._find(sku))

    def quantities(self) -> dict[str, int | None]:
        """SKU -> stock quantity of every sellable item as shown (a pooled variation shows its pool)."""
        with self.lock:
            items = [*self.products.values(), *self.variations.values()]
            return {i["sku"]: self.view(i)["stock_quantity"] for i in items if i["type"] != "variable"}

    def prices(self) -> dict[str, tuple[str, str]]:
        """SKU -> (regular_price, sale_price) of every sellable item."""
        with self.lock:
            items = [*self.products.values(), *self.variations.values()]
            return {i["sku"]: (i["regular_price"], i["sale_price"]) for i in items if i["type"] != "variable"}

    def children(self, parent_id: int) -> list[dict[str, Any]]:
        parent = self.products.get(parent_id)
        return [self.variations[v] for v in (parent or {}).get("variations", ()) if v in self.variations]

    # ------------------------------------------------------------------ derived fields

    def _settle(self, record: dict[str, Any]) -> None:
        """Derived fields: ``price``, ``on_sale``, ``stock_status``; a variable parent's from its children."""
        if record.get("type") == "variable":
            children = self.children(record["id"])
            prices = [c["price"] for c in children if price_number(c.get("price", "")) is not None]
            record["price"] = min(prices, key=price_number) if prices else ""
            record["on_sale"] = any(c.get("on_sale") for c in children)
            if record.get("manage_stock"):
                record["stock_status"] = "instock" if (record.get("stock_quantity") or 0) > 0 else "outofstock"
            else:
                shown = [self.view(c).get("stock_status") for c in children]
                record["stock_status"] = "instock" if "instock" in shown else "outofstock"
            return
        if record.get("sale_price") and not is_on_sale(record.get("regular_price", ""), record["sale_price"]):
            record["sale_price"] = ""
        sale = record.get("sale_price") or ""
        record["on_sale"] = bool(sale)
        record["price"] = sale or record.get("regular_price") or ""
        if record.get("manage_stock"):
            record["stock_status"] = "instock" if (record.get("stock_quantity") or 0) > 0 else "outofstock"
        else:
            record.setdefault("stock_status", "instock")

    def _touch(self, record: dict[str, Any]) -> None:
        """A save: ``date_modified`` moves (the parent's too for a variation, which WooCommerce
        re-saves) and ``product.updated`` fires for each."""
        stamp = self.now()
        record["date_modified"] = record["date_modified_gmt"] = stamp
        self.events.append(("product.updated", record["id"]))
        parent = self.products.get(record.get("parent_id", 0)) if record.get("type") == "variation" else None
        if parent is not None:
            parent["date_modified"] = parent["date_modified_gmt"] = stamp
            self._settle(parent)
            self.events.append(("product.updated", parent["id"]))

    def _created(self, record: dict[str, Any]) -> None:
        """A create fires ``product.created``, not the ``product.updated`` of its first save."""
        self.events[:] = [e for e in self.events if e != ("product.updated", record["id"])]
        self.events.append(("product.created", record["id"]))

    # ------------------------------------------------------------------ simulated shop events

    def tear(self, sku: str, **fields: Any) -> None:
        """Leave an item half-saved, as a process killed in the middle of a save leaves it on a real
        store (seen on WooCommerce 11.0.1: ``regular_price`` new, the derived ``price`` still the
        old one): ``fields`` are set as given and nothing is derived again."""
        with self.lock:
            record = self._find(sku)
            record.update(fields)
            self._touch(record)

    def _stock_holder(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The record whose quantity a sale of ``record`` takes from (its parent's pool, or its own)."""
        if record.get("manage_stock"):
            return record
        parent = self.products.get(record.get("parent_id", 0)) if record.get("type") == "variation" else None
        return parent if parent is not None and parent.get("manage_stock") else None

    def sale(self, sku: str, quantity: int = 1) -> int:
        """A customer buys ``quantity`` of ``sku``: the managed stock goes down. Returns what is left."""
        with self.lock:
            record = self._find(sku)
            holder = self._stock_holder(record)
            if holder is None:
                raise ValueError(f"{sku} does not manage stock")
            holder["stock_quantity"] = int(holder["stock_quantity"] or 0) - int(quantity)
            self._settle(holder)
            self._touch(holder)
            if holder is not record:
                self._touch(record)
            return int(holder["stock_quantity"])

    def share_stock(self, parent_sku: str, quantity: int) -> None:
        """Make a variable product hold one stock pool for all its variations (WooCommerce's
        'Manage stock' on the parent with the variations' own turned off)."""
        with self.lock:
            parent = self._find(parent_sku)
            if parent.get("type") != "variable":
                raise ValueError(f"{parent_sku} is not a variable product")
            parent["manage_stock"], parent["stock_quantity"] = True, int(quantity)
            for child in self.children(parent["id"]):
                child["manage_stock"], child["stock_quantity"] = False, None
                self._settle(child)
            self._settle(parent)
            self._touch(parent)

    # ------------------------------------------------------------------ writes

    def _sku_taken(self, sku: str, own_id: int | None) -> dict[str, Any] | None:
        for record in self.by_sku([sku]):
            if record["id"] != own_id and record["sku"] == sku and record.get("status") != "trash":
                return record
        return None

    def _apply(self, record: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Set ``body``'s fields on ``record`` as WooCommerce stores them; an error item if refused."""
        if "sku" in body and body["sku"] != record.get("sku"):
            sku = str(body["sku"] or "")
            owner = self._sku_taken(sku, record.get("id")) if sku else None
            if owner is not None:
                return item_error(
                    record.get("id") or 0,
                    "product_invalid_sku",
                    "Invalid or duplicated SKU.",
                    resource_id=owner["id"],
                    unique_sku=f"{sku}-1",
                )
            record["sku"] = sku
        for field in _PLAIN_FIELDS:
            if field in body:
                record[field] = body[field]
        for field in ("regular_price", "sale_price"):
            if field in body:
                record[field] = stored_price(body[field])
        if "manage_stock" in body:
            record["manage_stock"] = body["manage_stock"] not in (False, "false", "no", "0", 0, "parent", None)
        if "stock_quantity" in body and record.get("manage_stock"):
            record["stock_quantity"] = php_intval(body["stock_quantity"])
        if not record.get("manage_stock"):
            record["stock_quantity"] = None
        self._settle(record)
        self._touch(record)
        return None

    def _duplicate_sku(self, sku: str) -> dict[str, Any] | None:
        """The error WooCommerce answers a create whose SKU another item has (with a free one)."""
        owner = self._sku_taken(sku, None) if sku else None
        if owner is None:
            return None
        return item_error(
            0, "product_invalid_sku", "Invalid or duplicated SKU.", resource_id=owner["id"], unique_sku=f"{sku}-1"
        )

    def _blank(self, sku: str, kind: str, parent_id: int) -> dict[str, Any]:
        """A new item as WooCommerce creates it before the body's fields are applied."""
        item_id = self._new_id()
        return {
            **self._base(item_id, self._clock()),
            "name": "",
            "type": kind,
            "status": "publish",
            "sku": sku,
            "regular_price": "",
            "sale_price": "",
            "manage_stock": False,
            "stock_quantity": None,
            "parent_id": parent_id,
            "attributes": [],
        }

    def create_product(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /products`` or a batch ``create`` entry: a new simple or variable product."""
        sku = str(body.get("sku") or "")
        refused = self._duplicate_sku(sku)
        if refused is not None:
            return refused
        record = {**self._blank(sku, body.get("type") or "simple", 0), "variations": []}
        self.products[record["id"]] = record
        self._apply(record, {k: v for k, v in body.items() if k not in ("sku", "type", "id")})
        self._created(record)
        return self.view(record)

    def create_variation(self, parent_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /products/{parent}/variations`` or a variations batch ``create`` entry."""
        parent = self.products.get(parent_id)
        if parent is None or parent.get("type") != "variable":
            return item_error(0, "woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        sku = str(body.get("sku") or "")
        refused = self._duplicate_sku(sku)
        if refused is not None:
            return refused
        record = self._blank(sku, "variation", parent_id)
        self.variations[record["id"]] = record
        parent["variations"].append(record["id"])
        self._apply(record, {k: v for k, v in body.items() if k not in ("sku", "id")})
        self._created(record)
        return self.view(record)

    def update_product(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A ``/products/batch`` update entry (or ``PUT /products/{id}``)."""
        item_id = _as_int(body.get("id"))
        if item_id in self.variations:
            return item_error(
                item_id,
                "woocommerce_rest_invalid_product_id",
                f"To manipulate product variations you should use the {_VARIATION_PATH} endpoint.",
                404,
            )
        record = self.products.get(item_id)
        if record is None or record.get("status") == "trash":
            return item_error(body.get("id") or 0, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return self._apply(record, body) or self.view(record)

    def update_variation(self, parent_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """A ``/products/{parent}/variations/batch`` update entry: the variation must be that parent's."""
        item_id = _as_int(body.get("id"))
        record = self.variations.get(item_id)
        if record is None or record.get("parent_id") != parent_id:
            return item_error(item_id, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404)
        return self._apply(record, body) or self.view(record)

    def delete_product(self, raw_id: Any) -> dict[str, Any]:
        """A batch ``delete`` entry without ``force``: the product goes to the trash (answered as it was)."""
        record = self.products.get(_as_int(raw_id))
        if record is None or record.get("status") == "trash":
            return item_error(raw_id, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        shown = self.view(record)
        record["status"] = "trash"
        self._touch(record)
        self.events[:] = [e for e in self.events if e != ("product.updated", record["id"])]
        self.events.append(("product.deleted", record["id"]))
        return shown

    def upsert_customer(self, body: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
        """Apply one customers batch entry (``create`` or ``update``)."""
        if create:
            email = str(body.get("email") or "").strip().lower()
            if "@" not in email:
                return item_error(0, "registration-error-invalid-email", "Please provide a valid email address.")
            if any(c["email"] == email for c in self.customers.values()):
                return item_error(
                    0, "registration-error-email-exists", "An account is already registered with your email address."
                )
            customer_id = self._new_id()
            record = {
                "id": customer_id,
                "date_created_gmt": self.now(),
                "email": email,
                "first_name": "",
                "last_name": "",
                "role": "customer",
                "username": email.split("@")[0],
                "billing": {},
                "shipping": {},
            }
            self.customers[customer_id] = record
        else:
            record = self.customers.get(_as_int(body.get("id")))  # type: ignore[assignment]
            if record is None:
                return item_error(body.get("id") or 0, "woocommerce_rest_invalid_id", "Invalid resource ID.")
        for field in ("first_name", "last_name"):
            if field in body:
                record[field] = body[field] or ""
        for part in ("billing", "shipping"):
            if isinstance(body.get(part), Mapping):
                record[part] = {**record.get(part, {}), **body[part]}
        record["date_modified_gmt"] = self.now()
        return dict(record)
