"""How the WooCommerce sandbox turns a platform-neutral catalogue into WooCommerce records.

The items of a group with several variants become one variable product with variations
(``variable_products=True``), the others simple products; stock comes from one catalogue location
(``location_code``); customers keep WooCommerce's billing copy of their name and phone. Records are
made as WooCommerce shows them after a save, derived fields included (the store's ``_settle``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.woocommerce.sandbox_values import is_on_sale
from hub.sdk import Catalogue, SeedCustomer, SeedItem

__all__ = ["STAMP", "WooSeeding"]

#: WooCommerce's date format (``date_modified_gmt`` and the like).
STAMP = "%Y-%m-%dT%H:%M:%S"


def _common_words(titles: list[str]) -> str:
    words = [t.split() for t in titles]
    common = []
    for column in zip(*words, strict=False):
        if len(set(column)) != 1:
            break
        common.append(column[0])
    return " ".join(common)


def _seed_prices(item: SeedItem) -> dict[str, Any]:
    if item.compare_at and is_on_sale(item.compare_at, item.price):
        return {"regular_price": item.compare_at, "sale_price": item.price}
    return {"regular_price": item.price, "sale_price": ""}


class WooSeeding:
    """The seeding half of ``WooStore``: kept apart so the store's module holds only what requests do."""

    location_code: str
    products: dict[int, dict[str, Any]]
    variations: dict[int, dict[str, Any]]
    customers: dict[int, dict[str, Any]]

    def _new_id(self) -> int:  # pragma: no cover - WooStore's
        raise NotImplementedError

    def _settle(self, record: dict[str, Any]) -> None:  # pragma: no cover - WooStore's
        raise NotImplementedError

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
            **_seed_prices(item),
            "manage_stock": True,
            "stock_quantity": self._quantity(item.sku, catalogue),
            "parent_id": 0,
            "attributes": [],
            "variations": [],
            "global_unique_id": item.barcode or "",
        }
        self.products[item_id] = record
        self._settle(record)

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
        for item in items:
            variation_id = self._new_id()
            own = item.title[len(name) :].strip() if item.title.startswith(name) else item.title
            self.variations[variation_id] = {
                **self._base(variation_id, item.updated_at),
                "name": own,
                "type": "variation",
                "status": "publish" if item.status == "active" else item.status,
                "sku": item.sku,
                **_seed_prices(item),
                "manage_stock": True,
                "stock_quantity": self._quantity(item.sku, catalogue),
                "parent_id": parent_id,
                "attributes": [
                    {"id": 0, "name": key.capitalize(), "slug": key, "option": value}
                    for key, value in sorted(item.options.items())
                ],
                "global_unique_id": item.barcode or "",
            }
            parent["variations"].append(variation_id)
            self._settle(self.variations[variation_id])
        self._settle(parent)

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
