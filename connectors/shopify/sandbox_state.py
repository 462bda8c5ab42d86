"""The sandbox store's data: products, variants, inventory, locations, customers, bulk operations.

Ids are Shopify gids (``gid://shopify/ProductVariant/7``); locations are numbered from the
catalogue's location codes in order (``gid://shopify/Location/1`` is the first code), so a test
can build the connector's ``locations`` setting with ``location_gids(catalogue)``. Every change
stamps ``updatedAt`` from a clock that never goes backwards, so incremental pulls see it.

Every change a webhook topic covers is put in ``events`` as ``(topic, REST-shaped payload)``
(``emit``); the sandbox's webhook side (``sandbox_webhooks``) delivers them to the subscriptions of
that topic. A change of an inventory level's ``available`` emits ``inventory_levels/update``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.sdk import Catalogue

__all__ = [
    "BulkOp",
    "Customer",
    "InventoryItem",
    "Level",
    "Location",
    "Product",
    "ShopState",
    "Variant",
    "location_gids",
]

_CONSENT = {"subscribed": "SUBSCRIBED", "unsubscribed": "UNSUBSCRIBED", "never": "NOT_SUBSCRIBED"}


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def legacy_id(global_id: str) -> int:
    """The number at the end of a gid: the id REST payloads (and webhook bodies) carry."""
    return int(global_id.rsplit("/", 1)[1])


def rest_time(stamped: str) -> str:
    """A GraphQL ``DateTime`` (``...Z``) as REST bodies write it (``...+00:00``)."""
    return stamped.replace("Z", "+00:00")


def location_gids(catalogue: Catalogue) -> dict[str, str]:
    """Shopify location gid -> canonical location code, as the sandbox numbers them."""
    return {gid("Location", i + 1): code for i, code in enumerate(catalogue.locations)}


@dataclass(eq=False)
class Product:
    id: str
    title: str
    handle: str
    status: str = "ACTIVE"


@dataclass(eq=False)
class Location:
    id: str
    name: str
    code: str
    isActive: bool = True


@dataclass(eq=False)
class Level:
    item: InventoryItem
    location: Location
    available: int
    on_hand: int
    updatedAt: str
    createdAt: str

    @property
    def id(self) -> str:
        return (
            f"{self.item.id.replace('InventoryItem', 'InventoryLevel')}?location={self.location.id.rsplit('/', 1)[1]}"
        )


@dataclass(eq=False)
class InventoryItem:
    id: str
    sku: str | None
    variant: Variant | None = None
    tracked: bool = True
    levels: dict[str, Level] = field(default_factory=dict)


@dataclass(eq=False)
class Variant:
    id: str
    sku: str | None
    barcode: str | None
    title: str
    displayName: str
    price: str
    compareAtPrice: str | None
    updatedAt: str
    product: Product
    inventoryItem: InventoryItem

    @property
    def inventoryQuantity(self) -> int:
        return sum(level.available for level in self.inventoryItem.levels.values())


@dataclass(eq=False)
class Customer:
    id: str
    email: str | None
    firstName: str | None
    lastName: str | None
    phone: str | None
    tags: list[str]
    updatedAt: str
    consent: dict[str, Any]

    @property
    def emailMarketingConsent(self) -> dict[str, Any]:
        return self.consent

    @property
    def defaultEmailAddress(self) -> dict[str, Any] | None:
        return {"emailAddress": self.email, "marketingState": self.consent["marketingState"]} if self.email else None


@dataclass(eq=False)
class BulkOp:
    id: str
    query: str
    createdAt: str
    ready_at: float
    body: bytes = b""
    objectCount: int = 0
    rootObjectCount: int = 0
    #: Where the result is served once the operation completed (``None`` when nothing matched).
    pending_url: str | None = None
    done: bool = False
    failed: bool = False
    errorCode: str | None = None
    completedAt: str | None = None
    partialDataUrl: str | None = None
    type: str = "QUERY"

    @property
    def status(self) -> str:
        return "FAILED" if self.failed else "COMPLETED" if self.done else "RUNNING"

    @property
    def url(self) -> str | None:
        return self.pending_url if self.done else None

    @property
    def fileSize(self) -> int:
        return len(self.body)


class ShopState:
    """One simulated store. A lock guards it: tests call ``sale`` from another thread."""

    def __init__(self, catalogue: Catalogue, *, shop: str) -> None:
        self.shop = shop
        self.lock = threading.RLock()
        self._by_sku: dict[str, Variant] = {}
        self.locations = [
            Location(gid("Location", i + 1), code.replace("-", " ").title(), code)
            for i, code in enumerate(catalogue.locations)
        ]
        self.location_by_id = {loc.id: loc for loc in self.locations}
        self.location_by_code = {loc.code: loc for loc in self.locations}
        self.variants: list[Variant] = []
        self.nodes: dict[str, Any] = {}
        self.customers: list[Customer] = []
        self.bulk_ops: dict[str, BulkOp] = {}
        self.idempotency: dict[str, Any] = {}
        #: Every stock quantity a mutation applied, as (sku, location code, new available): a write
        #: applied twice shows up twice.
        self.stock_writes: list[tuple[str | None, str, int]] = []
        #: Changes waiting to be delivered: (topic such as ``orders/create``, payload, when).
        self.events: list[tuple[str, dict[str, Any], str]] = []
        #: Called after ``emit`` (from any thread): the webhook side schedules a delivery run.
        self.on_event: Callable[[], None] | None = None
        #: Orders (``sandbox_orders.Order``) in creation order, and the next order number.
        self.orders: list[Any] = []
        self.next_order_number = 1001
        newest = max(
            [i.updated_at for i in catalogue.items] + [c.updated_at for c in catalogue.customers], default=None
        )
        self._clock = max(datetime.now(UTC), newest or datetime.now(UTC)).replace(microsecond=0)
        self._seed(catalogue)

    # ------------------------------------------------------------------ seeding

    def _seed(self, catalogue: Catalogue) -> None:
        products: dict[str, Product] = {}
        for n, item in enumerate(catalogue.items, 1):
            product = products.get(item.group)
            if product is None:
                base = item.title
                for value in item.options.values():
                    base = base.removesuffix(f" {value}")
                product = Product(gid("Product", len(products) + 1), base, item.group.lower(), item.status.upper())
                products[item.group] = product
                self.nodes[product.id] = product
            variant_title = " / ".join(v for v in item.options.values() if v) or "Default Title"
            display = product.title if variant_title == "Default Title" else f"{product.title} - {variant_title}"
            inv = InventoryItem(gid("InventoryItem", n), item.sku)
            variant = Variant(
                gid("ProductVariant", n),
                item.sku,
                item.barcode,
                variant_title,
                display,
                item.price,
                item.compare_at,
                stamp(item.updated_at),
                product,
                inv,
            )
            inv.variant = variant
            for code, quantity in catalogue.stock.get(item.sku, {}).items():
                location = self.location_by_code.get(code)
                if location is not None:
                    when = stamp(item.updated_at)
                    inv.levels[location.id] = Level(inv, location, quantity, quantity, when, when)
            self.variants.append(variant)
            self.nodes[variant.id] = variant
            self.nodes[inv.id] = inv
        for loc in self.locations:
            self.nodes[loc.id] = loc
        for n, person in enumerate(catalogue.customers, 1):
            consent = {
                "marketingState": _CONSENT.get(person.consent, "NOT_SUBSCRIBED"),
                "marketingOptInLevel": "SINGLE_OPT_IN" if person.consent == "subscribed" else None,
                "consentUpdatedAt": stamp(person.consent_updated_at) if person.consent_updated_at else None,
            }
            customer = Customer(
                gid("Customer", n),
                person.email,
                person.first_name,
                person.last_name,
                person.phone,
                list(person.tags),
                stamp(person.updated_at),
                consent,
            )
            self.customers.append(customer)
            self.nodes[customer.id] = customer

    # ------------------------------------------------------------------ helpers

    def tick(self) -> str:
        """A timestamp later than every one issued before (one second apart at least)."""
        with self.lock:
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0))
            return stamp(self._clock)

    def variant(self, sku: str) -> Variant:
        """The variant with ``sku``; remembered by SKU (a benchmark asks thousands of times), and
        checked on every use since a write may change a variant's SKU."""
        index = self._by_sku
        known = index.get(sku)
        if known is not None and known.sku == sku:
            return known
        for variant in self.variants:
            if variant.sku == sku:
                index[sku] = variant
                return variant
        raise KeyError(sku)

    def level(self, sku: str, location_code: str) -> Level:
        return self.variant(sku).inventoryItem.levels[self.location_by_code[location_code].id]

    def available(self, sku: str, location_code: str) -> int:
        return self.level(sku, location_code).available

    def location_gids(self) -> dict[str, str]:
        """Shopify location gid -> canonical location code."""
        return {loc.id: loc.code for loc in self.locations}

    def sale(self, sku: str, location_code: str, quantity: int = 1) -> int:
        """Simulate an order: ``quantity`` fewer available and on hand. Returns what is left."""
        with self.lock:
            level = self.level(sku, location_code)
            self.set_available(level, level.available - quantity)
            return level.available

    def set_available(self, level: Level, quantity: int) -> None:
        with self.lock:
            delta = quantity - level.available
            self.move(level, available=delta, on_hand=delta)

    def move(self, level: Level, *, available: int = 0, on_hand: int = 0) -> None:
        """Change a level's ``available`` and ``on_hand`` by these amounts (``committed`` is their
        difference: an order's claim is ``available=-n``, its fulfilment ``on_hand=-n``), stamp it,
        and emit ``inventory_levels/update`` when ``available`` changed."""
        with self.lock:
            level.available += available
            level.on_hand += on_hand
            level.updatedAt = self.tick()
            if available:
                self.emit("inventory_levels/update", level_payload(level))

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue one event for the subscriptions of ``topic``."""
        with self.lock:
            self.events.append((topic, payload, self.tick()))
        if self.on_event is not None:
            self.on_event()

    def take_events(self) -> list[tuple[str, dict[str, Any], str]]:
        with self.lock:
            taken, self.events = self.events, []
            return taken


def level_payload(level: Level) -> dict[str, Any]:
    """An ``inventory_levels/update`` body as Shopify documents it (REST InventoryLevel)."""
    item, location = legacy_id(level.item.id), legacy_id(level.location.id)
    return {
        "inventory_item_id": item,
        "location_id": location,
        "available": level.available,
        "updated_at": rest_time(level.updatedAt),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
    }
