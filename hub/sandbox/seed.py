"""Platform-neutral catalogues that sandboxes are seeded from (the demo store, synthetic volumes).

Every sandbox's ``create_app(catalogue=...)`` turns a ``Catalogue`` into its platform's own
records (Shopify products/variants/inventory levels, WooCommerce simple and variable products,
HubSpot contacts, Mailchimp members, WMS stock rows). The demo and the benchmarks build one
catalogue, copy it with deliberate drift per platform, and seed each sandbox with its copy.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["Catalogue", "SeedCustomer", "SeedItem", "demo_store", "synthetic"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class SeedItem:
    """One sellable variant. ``group`` is the parent product (variants of one group share it)."""

    sku: str
    title: str
    group: str
    price: str
    compare_at: str | None = None
    barcode: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    status: str = "active"
    updated_at: datetime = EPOCH


@dataclass
class SeedCustomer:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    #: subscribed | unsubscribed | never
    consent: str = "never"
    consent_updated_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    loyalty_points: int | None = None
    updated_at: datetime = EPOCH


@dataclass
class Catalogue:
    """Items, stock per SKU and canonical location code, and customers."""

    items: list[SeedItem] = field(default_factory=list)
    #: ``stock[sku][location_code] = available``
    stock: dict[str, dict[str, int]] = field(default_factory=dict)
    customers: list[SeedCustomer] = field(default_factory=list)
    #: Canonical location codes, in a stable order (sandboxes give them platform ids from it).
    locations: list[str] = field(default_factory=lambda: ["web-warehouse"])

    def copy(self) -> Catalogue:
        return copy.deepcopy(self)

    def item(self, sku: str) -> SeedItem:
        for item in self.items:
            if item.sku == sku:
                return item
        raise KeyError(sku)

    def customer(self, email: str) -> SeedCustomer:
        for person in self.customers:
            if person.email == email:
                return person
        raise KeyError(email)


def demo_store() -> Catalogue:
    """A small clothing store: jackets, t-shirts and jeans in sizes, two locations, four customers."""
    items: list[SeedItem] = []
    stock: dict[str, dict[str, int]] = {}
    lines = [
        ("JKT-ALPINE", "Alpine down jacket", "89.00", ["S", "M", "L"], "80012345"),
        ("TEE-BASIC", "Basic organic tee", "19.90", ["S", "M", "L", "XL"], "80022345"),
        ("JNS-SLIM", "Slim selvedge jeans", "79.00", ["30", "32", "34"], "80032345"),
        ("CAP-WOOL", "Merino beanie", "24.50", [], "80042345"),
    ]
    rng = random.Random(2026)
    for n, (group, title, price, sizes, ean_stem) in enumerate(lines):
        for i, size in enumerate(sizes or [""]):
            sku = f"{group}-{size}" if size else group
            ean = _ean13(f"{ean_stem}{n}{i:03d}"[:12])
            items.append(
                SeedItem(sku, f"{title} {size}".strip(), group, price, None, ean, {"size": size} if size else {})
            )
            stock[sku] = {"milano-store": rng.randint(0, 6), "web-warehouse": rng.randint(3, 40)}
    customers = [
        SeedCustomer(
            "giulia.rossi@example.com", "Giulia", "Rossi", "+393471234567", "subscribed", EPOCH, ["vip"], 1200
        ),
        SeedCustomer("marco.bianchi@example.com", "Marco", "Bianchi", "+393331112223", "subscribed", EPOCH, [], 80),
        SeedCustomer("anna.verdi@example.com", "Anna", "Verdi", None, "never", None, ["wholesale"], None),
        SeedCustomer("luca.neri@example.com", "Luca", "Neri", "+393209998887", "unsubscribed", EPOCH, [], 15),
    ]
    return Catalogue(items, stock, customers, ["milano-store", "web-warehouse"])


def synthetic(
    skus: int, *, locations: int = 2, variants_per_product: int = 4, customers: int = 0, seed: int = 1
) -> Catalogue:
    """A reproducible catalogue of ``skus`` variants in groups, stock at ``locations`` locations."""
    rng = random.Random(seed)
    codes = [f"loc-{i + 1}" for i in range(locations)]
    items = []
    stock = {}
    for i in range(skus):
        group = f"P{i // variants_per_product:07d}"
        sku = f"SKU-{i:07d}"
        price = f"{rng.randint(500, 20000) / 100:.2f}"
        items.append(
            SeedItem(
                sku,
                f"Item {i}",
                group,
                price,
                None,
                None,
                {"size": str(i % variants_per_product)},
                "active",
                EPOCH + timedelta(seconds=i),
            )
        )
        stock[sku] = {code: rng.randint(0, 50) for code in codes}
    people = [
        SeedCustomer(
            f"customer{i:07d}@example.com",
            f"First{i}",
            f"Last{i}",
            None,
            rng.choice(["subscribed", "subscribed", "never", "unsubscribed"]),
            EPOCH,
            [],
            rng.randint(0, 500),
            EPOCH + timedelta(seconds=i),
        )
        for i in range(customers)
    ]
    return Catalogue(items, stock, people, codes)


def _ean13(stem12: str) -> str:
    digits = [int(d) for d in stem12.zfill(12)[:12]]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)
