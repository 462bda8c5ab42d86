"""The WooCommerce sandbox's data: products, variations and customers, and how writes change them.

Seeded from a platform-neutral ``hub.seed.Catalogue``: the items of a group with several variants
become one variable product with variations (``variable_products=True``), the others simple
products; stock comes from one catalogue location. Like WooCommerce (seen in the real captures),
a change to a variation also moves its parent's ``date_modified_gmt``. Thread-safe: tests call
``sale`` from their own thread while the server answers in another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.seed import Catalogue, SeedCustomer, SeedItem

__all__ = ["WooStore", "item_error"]

STAMP = "%Y-%m-%dT%H:%M:%S"


def item_error(item_id: Any, code: str, message: str, **data: Any) -> dict[str, Any]:
    """A failed batch item, as WooCommerce answers it inside a 200."""
    return {"id": item_id, "error": {"code": code, "message": message, "data": {"status": 400, **data}}}


def _common_words(titles: list[str]) -> str:
    words = [t.split() for t in titles]
    common = []
    for column in zip(*words, strict=False):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return " ".join(common)


def _price_fields(item: SeedItem) -> dict[str, Any]:
    if item.compare_at and Decimal(item.compare_at) > Decimal(item.price):
        return {"regular_price": item.compare_at, "sale_price": item.price}
    return {"regular_price": item.price, "sale_price": ""}


class WooStore:
    """Products (simple and variable), variations and customers, keyed by WooCommerce id."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        location_code: str | None = None,
        variable_products: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.location_code = location_code or (catalogue.locations[0] if catalogue.locations else "web-warehouse")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.by_sku: dict[str, tuple[str, int]] = {}
        self._next_id = 10
        self._seed(catalogue, variable_products)

    # ------------------------------------------------------------------ seeding

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _seed(self, catalogue: Catalogue, variable_products: bool) -> None:
        groups: dict[str, list[SeedItem]] = {}
        for item in catalogue.items:
            groups.setdefault(item.group, []).append(item)
        for group, items in groups.items():
            if variable_products and len(items) > 1:
                self._seed_variable(group, items, catalogue)
            else:
                for item in items:
                    self._seed_simple(item, catalogue)
        for person in catalogue.customers:
            self._seed_customer(person)

    def _quantity(self, sku: str, catalogue: Catalogue) -> int:
        return int(catalogue.stock.get(sku, {}).get(self.location_code, 0))

    def _base(self, item_id: int, stamp: datetime) -> dict[str, Any]:
        text = stamp.astimezone(UTC).strftime(STAMP)
        return {
            "id": item_id,
            "date_created": text,
            "date_created_gmt": text,
            "date_modified": text,
            "date_modified_gmt": text,
            "global_unique_id": "",
        }

    def _seed_simple(self, item: SeedItem, catalogue: Catalogue) -> None:
        item_id = self._new_id()
        record = {
            **self._base(item_id, item.updated_at),
            "name": item.title,
            "type": "simple",
            "status": "publish" if item.status == "active" else item.status,
            "sku": item.sku,
            **_price_fields(item),
            "manage_stock": True,
            "stock_quantity": self._quantity(item.sku, catalogue),
            "parent_id": 0,
            "attributes": [],
            "variations": [],
            "global_unique_id": item.barcode or "",
        }
        self._settle(record)
        self.products[item_id] = record
        self.by_sku[item.sku] = ("product", item_id)

    def _seed_variable(self, group: str, items: list[SeedItem], catalogue: Catalogue) -> None:
        parent_id = self._new_id()
        name = _common_words([i.title for i in items]) or group
        parent = {
            **self._base(parent_id, max(i.updated_at for i in items)),
            "name": name,
            "type": "variable",
            "status": "publish",
            "sku": group,
            "regular_price": "",
            "sale_price": "",
            "manage_stock": False,
            "stock_quantity": None,
            "parent_id": 0,
            "attributes": [
                {
                    "id": 0,
                    "name": key.capitalize(),
                    "variation": True,
                    "options": sorted({i.options[key] for i in items}),
                }
                for key in sorted({k for i in items for k in i.options})
            ],
            "variations": [],
        }
        self.products[parent_id] = parent
        self.by_sku[group] = ("product", parent_id)
        for item in items:
            variation_id = self._new_id()
            own = item.title[len(name) :].strip() if item.title.startswith(name) else item.title
            variation = {
                **self._base(variation_id, item.updated_at),
                "name": own,
                "type": "variation",
                "status": "publish" if item.status == "active" else item.status,
                "sku": item.sku,
                **_price_fields(item),
                "manage_stock": True,
                "stock_quantity": self._quantity(item.sku, catalogue),
                "parent_id": parent_id,
                "attributes": [
                    {"id": 0, "name": key.capitalize(), "slug": key, "option": value}
                    for key, value in sorted(item.options.items())
                ],
                "global_unique_id": item.barcode or "",
            }
            self._settle(variation)
            self.variations[variation_id] = variation
            parent["variations"].append(variation_id)
            self.by_sku[item.sku] = ("variation", variation_id)
        parent["price"] = min((self.variations[v]["price"] for v in parent["variations"]), default="")

    def _seed_customer(self, person: SeedCustomer) -> None:
        customer_id = self._new_id()
        stamp = person.updated_at.astimezone(UTC).strftime(STAMP)
        self.customers[customer_id] = {
            "id": customer_id,
            "date_created_gmt": stamp,
            "date_modified_gmt": stamp,
            "email": person.email,
            "first_name": person.first_name or "",
            "last_name": person.last_name or "",
            "role": "customer",
            "username": person.email.split("@")[0],
            "billing": {
                "first_name": person.first_name or "",
                "last_name": person.last_name or "",
                "email": person.email,
                "phone": person.phone or "",
            },
            "shipping": {},
        }

    # ------------------------------------------------------------------ reading

    def now(self) -> str:
        return self._clock().astimezone(UTC).strftime(STAMP)

    def item(self, sku: str) -> dict[str, Any]:
        """The product or variation with ``sku`` (``KeyError`` if none)."""
        with self.lock:
            kind, item_id = self.by_sku[sku]
            return dict((self.products if kind == "product" else self.variations)[item_id])

    def quantities(self) -> dict[str, int | None]:
        """SKU -> stock quantity of every sellable item (benchmarks and tests check final state)."""
        with self.lock:
            items = [*self.products.values(), *self.variations.values()]
            return {i["sku"]: i["stock_quantity"] for i in items if i["type"] != "variable"}

    def prices(self) -> dict[str, tuple[str, str]]:
        """SKU -> (regular_price, sale_price) of every sellable item."""
        with self.lock:
            items = [*self.products.values(), *self.variations.values()]
            return {i["sku"]: (i["regular_price"], i["sale_price"]) for i in items if i["type"] != "variable"}

    # ------------------------------------------------------------------ writing

    def _settle(self, record: dict[str, Any]) -> None:
        """Derived fields: ``price``, ``on_sale``, ``stock_status``."""
        sale = record.get("sale_price") or ""
        record["on_sale"] = bool(sale)
        record["price"] = sale or record.get("regular_price") or ""
        if record.get("manage_stock"):
            record["stock_status"] = "instock" if (record.get("stock_quantity") or 0) > 0 else "outofstock"
        else:
            record.setdefault("stock_status", "instock")

    def _touch(self, record: dict[str, Any]) -> None:
        stamp = self.now()
        record["date_modified"] = record["date_modified_gmt"] = stamp
        if record.get("type") == "variation" and record.get("parent_id") in self.products:
            parent = self.products[record["parent_id"]]
            parent["date_modified"] = parent["date_modified_gmt"] = stamp

    def tear(self, sku: str, **fields: Any) -> None:
        """Leave an item half-saved, as a process killed in the middle of a save leaves it on a real
        store (seen on WooCommerce 11.0.1: ``regular_price`` new, the derived ``price`` still the
        old one): ``fields`` are set as given and nothing is derived again."""
        with self.lock:
            kind, item_id = self.by_sku[sku]
            record = (self.products if kind == "product" else self.variations)[item_id]
            record.update(fields)
            self._touch(record)

    def sale(self, sku: str, quantity: int = 1) -> int:
        """A customer buys ``quantity`` of ``sku``: its managed stock goes down. Returns what is left."""
        with self.lock:
            kind, item_id = self.by_sku[sku]
            record = (self.products if kind == "product" else self.variations)[item_id]
            if not record.get("manage_stock"):
                raise ValueError(f"{sku} does not manage stock")
            record["stock_quantity"] = int(record["stock_quantity"] or 0) - int(quantity)
            self._settle(record)
            self._touch(record)
            return int(record["stock_quantity"])

    def update_item(self, table: dict[int, dict[str, Any]], body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply one batch ``update`` entry to a product or variation of ``table``."""
        raw_id = body.get("id")
        try:
            item_id = int(raw_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            item_id = 0
        record = table.get(item_id)
        if record is None:
            return item_error(raw_id or 0, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        if "sku" in body and body["sku"] != record["sku"]:
            owner = self.by_sku.get(str(body["sku"]))
            if owner is not None:
                return item_error(
                    item_id,
                    "product_invalid_sku",
                    "Invalid or duplicated SKU.",
                    resource_id=owner[1],
                    unique_sku=f"{body['sku']}-1",
                )
        for field in ("regular_price", "sale_price"):
            if field in body and not _is_price(body[field]):
                return item_error(
                    item_id, "rest_invalid_param", f"Invalid parameter(s): {field}", params={field: "not a price"}
                )
        if "stock_quantity" in body and body["stock_quantity"] is not None and not _is_int(body["stock_quantity"]):
            return item_error(item_id, "rest_invalid_param", "Invalid parameter(s): stock_quantity")
        if "sku" in body:
            self.by_sku.pop(record["sku"], None)
            self.by_sku[str(body["sku"])] = ("product" if table is self.products else "variation", item_id)
        for field in ("name", "status", "sku", "regular_price", "sale_price", "manage_stock", "global_unique_id"):
            if field in body:
                record[field] = body[field]
        if "stock_quantity" in body:
            record["stock_quantity"] = None if body["stock_quantity"] is None else int(body["stock_quantity"])
        self._settle(record)
        self._touch(record)
        return dict(record)

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

    def children(self, parent_id: int) -> Iterable[dict[str, Any]]:
        parent = self.products.get(parent_id)
        return [self.variations[v] for v in (parent or {}).get("variations", ()) if v in self.variations]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _is_price(value: Any) -> bool:
    if value == "":
        return True
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value) >= 0
    except InvalidOperation:
        return False


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()
