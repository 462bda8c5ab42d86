"""WooCommerce products and variations as the flat rows the mapping file reads.

A row is one *sellable* item: a simple product, or one variation of a variable product (the
variable product itself is only a group: it has no price or stock of its own). The row keeps
WooCommerce's field names and adds a few derived ones the mapping cannot compute from one field:

* ``pricing.amount`` / ``pricing.compare_at``: WooCommerce's ``regular_price`` is the list price
  and ``sale_price`` the discounted one; canonically ``amount`` is what the customer pays and
  ``compare_at`` the struck-through price. On sale: amount = sale_price, compare_at =
  regular_price; otherwise amount = regular_price and no compare_at.
* ``title`` (the parent's name and the variation's name), ``group`` (the parent's SKU), ``options``
  (attribute name -> chosen option) and ``location`` (the connector's configured location).

Stock shared by variations: a variable product whose ``manage_stock`` is on holds one pool for
every variation that does not manage its own (WooCommerce shows those with ``manage_stock:
"parent"`` and the parent's quantity, and a sale of any of them takes from the pool). The pool is
one stock row, the parent's (its SKU, written through ``/products/batch``); the variations have no
stock row of their own, so the pool is neither read as several pools nor written several times.

Stock: a product whose ``manage_stock`` is off has ``stock_quantity: null`` and no quantity at
all in WooCommerce (only an in/out-of-stock flag). It is not turned into a number: it is
reported as rejected with what to change, so the hub neither invents 0 nor overwrites it unasked.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.sdk import RawRecord

__all__ = ["SELLABLE_TYPES", "customer_row", "holds_pool", "item_row", "price_fields", "untracked_reason"]

#: Product types with a price and a stock of their own (``variable`` has variations, ``grouped`` children).
SELLABLE_TYPES = frozenset({"simple", "external", "variation"})


def _pricing(data: Mapping[str, Any]) -> dict[str, str | None]:
    regular = data.get("regular_price") or None
    sale = data.get("sale_price") or None
    on_sale = data.get("on_sale", sale is not None)
    if sale is not None and on_sale:
        return {"amount": sale, "compare_at": regular}
    return {"amount": regular, "compare_at": None}


def price_fields(amount: str | None, compare_at: str | None) -> dict[str, str]:
    """The inverse of the derived ``pricing``: WooCommerce's ``regular_price`` and ``sale_price``.

    A ``compare_at`` above ``amount`` puts the item on sale; otherwise the sale price is cleared so
    that the written amount is really the one customers pay.
    """
    if amount is None:
        raise ValueError("a price needs an amount")
    if compare_at not in (None, "") and _higher(compare_at, amount):
        return {"regular_price": str(compare_at), "sale_price": str(amount)}
    return {"regular_price": str(amount), "sale_price": ""}


def _higher(a: str, b: str) -> bool:
    try:
        return Decimal(a) > Decimal(b)
    except InvalidOperation:
        return False


def item_row(data: Mapping[str, Any], *, location: str, parent: Mapping[str, Any] | None = None) -> RawRecord:
    """One sellable item as a row; ``parent`` is the variable product of a variation."""
    row = dict(data)
    row["pricing"] = _pricing(data)
    row["location"] = location
    item_id = str(data.get("id"))
    if parent is not None:
        parent_name = str(parent.get("name") or "").strip()
        own = str(data.get("name") or "").strip()
        row["title"] = f"{parent_name} {own}".strip() if own and own != parent_name else parent_name or own
        row["group"] = parent.get("sku") or str(parent.get("id"))
        row["options"] = {
            str(a.get("name", "")).strip().lower(): str(a.get("option", ""))
            for a in data.get("attributes") or ()
            if isinstance(a, Mapping) and a.get("name")
        }
        parent_id = str(parent.get("id", data.get("parent_id")))
        link = {"product_id": item_id, "parent_id": parent_id}
        origin = f"woocommerce variation {item_id} of product {parent_id}"
    else:
        row["title"] = data.get("name")
        row["group"] = data.get("sku") or item_id
        row["options"] = {}
        link = {"product_id": item_id}
        origin = f"woocommerce product {item_id}"
    return RawRecord(data=row, link=link, origin=origin)


def holds_pool(data: Mapping[str, Any]) -> bool:
    """A variable product that keeps the stock of its variations that do not keep their own."""
    return data.get("type") == "variable" and data.get("manage_stock") is True


def untracked_reason(data: Mapping[str, Any]) -> str | None:
    """Why an item has no stock quantity to compare, or ``None`` when it has one."""
    if data.get("manage_stock") and data.get("stock_quantity") is not None:
        return None
    return (
        "WooCommerce does not manage stock for this item (manage_stock is off, stock_quantity is null), "
        "so it has no quantity to compare; turn on 'Manage stock' for it in WooCommerce, "
        "or set manage_stock: true on this connector so omnihub turns it on when it writes stock"
    )


def customer_row(data: Mapping[str, Any]) -> RawRecord:
    """A customer as a row, billing and shipping addresses flattened into ``addresses``."""
    row = dict(data)
    addresses = []
    for kind in ("billing", "shipping"):
        raw = data.get(kind)
        if not isinstance(raw, Mapping):
            continue
        address = {
            "line1": raw.get("address_1") or None,
            "line2": raw.get("address_2") or None,
            "city": raw.get("city") or None,
            "postcode": raw.get("postcode") or None,
            "region": raw.get("state") or None,
            "country": raw.get("country") or None,
        }
        if any(address.values()) and address not in addresses:
            addresses.append(address)
    row["addresses"] = addresses
    item_id = str(data.get("id"))
    return RawRecord(data=row, link={"customer_id": item_id}, origin=f"woocommerce customer {item_id}")
