"""The Shopify connector: reads variants, stock and customers; writes prices, stock and customers.

Reads page through connections of 250 (the API's largest page) with the query's calculated cost
charged to the client's bucket mirror; a full pull of a catalogue larger than ``bulk_threshold``
runs one bulk operation instead. Writes live in ``connectors.shopify.writes``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from connectors.shopify.bulk import iter_jsonl, reassemble, run_bulk_query
from connectors.shopify.client import ShopifyClient, ShopifyStats
from connectors.shopify.order_pull import shopify_order
from connectors.shopify.order_queries import ORDER_PAGE, ORDERS, webhook_create_for, webhook_list_for
from connectors.shopify.queries import (
    BULK_STOCK,
    BULK_VARIANTS,
    LOCATION_LEVELS,
    LOCATIONS,
    PAGE_SIZE,
    PING,
    VARIANTS,
    VARIANTS_COUNT,
    Document,
    customers_for,
)
from connectors.shopify.settings import ShopifySettings
from connectors.shopify.webhooks import parse_webhook
from connectors.shopify.writes import Writer
from hub.sdk import (
    SALES_CHANNEL,
    Change,
    ClientConnector,
    ConnectorContext,
    ConnectorSettings,
    Entity,
    FatalError,
    Incremental,
    OrderPage,
    PullPage,
    PushResult,
    RawRecord,
    RecordInvalid,
    ValueLimits,
    WebhookSubscription,
    dig,
    link_id,
)

__all__ = ["ShopifyConnector"]

log = logging.getLogger("omnihub.connectors.shopify")


def updated_since(since: str | None) -> str | None:
    """Shopify's search syntax for "changed after": ``updated_at:>'2026-01-01T00:00:00Z'``."""
    if since is None:
        return None
    if "'" in since:
        raise FatalError(f"invalid incremental cursor {since!r}")
    return f"updated_at:>'{since}'"


#: The cursor: the newest ``updatedAt`` seen, kept as Shopify wrote it (it goes back into a search query).
UPDATED = Incremental("updatedAt", raw=True)


#: The topics ``register_webhooks`` subscribes: orders (reservations), stock and product changes.
WEBHOOK_TOPICS = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "ORDERS_FULFILLED",
    "ORDERS_PAID",
    "INVENTORY_LEVELS_UPDATE",
    "PRODUCTS_UPDATE",
)
#: Topics whose resource name has an underscore (``INVENTORY_LEVELS_UPDATE``: ``inventory_levels/update``).
_TOPIC_RESOURCES = ("inventory_levels",)


def rest_topic(topic: str) -> str:
    """``ORDERS_CREATE`` as Shopify names it in ``X-Shopify-Topic``: ``orders/create``."""
    lowered = topic.lower()
    resource = next((r for r in _TOPIC_RESOURCES if lowered.startswith(f"{r}_")), lowered.partition("_")[0])
    return f"{resource}/{lowered.removeprefix(resource + '_')}"


def variant_row(node: dict[str, Any]) -> RawRecord:
    """A variant node (page or bulk line) as the flat row the mapping reads."""
    return RawRecord(
        data=node,
        link={
            "variant_id": str(node.get("id")),
            "product_id": str(dig(node, "product.id")),
            "inventory_item_id": str(dig(node, "inventoryItem.id")),
        },
        origin=f"shopify variant {node.get('id')}",
    )


def stock_row(sku: Any, item_id: str, location_id: str, level: dict[str, Any]) -> RawRecord:
    """One variant at one location: quantities by name, and the ids ``inventorySetQuantities`` needs."""
    quantities = {q["name"]: q["quantity"] for q in level.get("quantities") or []}
    return RawRecord(
        data={
            "sku": sku,
            "location_id": location_id,
            "available": quantities.get("available"),
            "on_hand": quantities.get("on_hand"),
            "updatedAt": level.get("updatedAt"),
        },
        link={"inventory_item_id": item_id, "location_id": location_id},
        origin=f"shopify inventory item {item_id} at {location_id}",
    )


class ShopifyConnector(ClientConnector[ShopifyClient]):
    """A Shopify store through the Admin GraphQL API."""

    type_name = "shopify"
    display_name = "Shopify"
    settings_model = ShopifySettings
    capabilities = SALES_CHANNEL
    push_batch_size = 250
    #: ``InventorySetQuantitiesUserErrorCode`` in the Admin schemas (2025-01 to 2026-07):
    #: ``INVALID_QUANTITY_TOO_HIGH`` "can't be higher than 1,000,000,000" (and ``_TOO_LOW``), within
    #: GraphQL's 32-bit ``Int``, whose overflow refuses the whole call. Money is kept at the currency's
    #: precision (12.345 EUR is stored as 12.34), which ``out_of_range`` checks for every platform.
    value_limits = ValueLimits(quantity_min=-1_000_000_000, quantity_max=1_000_000_000)
    client_class = ShopifyClient
    webhook_parser = staticmethod(parse_webhook)

    @classmethod
    def admin_url(cls, settings: ConnectorSettings, entity: str, ids: Mapping[str, str]) -> str | None:
        """The variant (or product, or customer) in the store's admin: ``https://{shop}/admin/...``."""
        shop = getattr(settings, "shop", None)
        if not shop:
            return None
        base = f"https://{quote(str(shop), safe='.-')}/admin"
        if entity == "customers":
            customer = link_id(ids, "customer_id")
            return f"{base}/customers/{customer}" if customer else None
        product, variant = link_id(ids, "product_id"), link_id(ids, "variant_id")
        if product and variant:
            return f"{base}/products/{product}/variants/{variant}"
        return f"{base}/products/{product}" if product else None

    reads_orders = True
    settings: ShopifySettings

    def __init__(
        self,
        name: str,
        settings: ShopifySettings,
        context: ConnectorContext | None = None,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name, settings, context, http_transport=http_transport)
        #: How the last full pull of each entity read: ``pages`` or ``bulk`` (benchmarks report it).
        self.read_mode: dict[Entity, str] = {}

    def batch_size(self, entity: Entity) -> int:
        if entity is Entity.stock:
            return self.settings.stock_batch_size
        if entity is Entity.customers:
            return 50
        # Prices: one request per product whatever the count, so the larger the call, the fewer
        # products are split across two calls.
        return 1000

    @property
    def transport_stats(self) -> ShopifyStats | None:
        """The GraphQL endpoint's figures and the bulk result downloads', together."""
        return self._client.stats if self._client is not None else None

    async def ping(self) -> None:
        await self.client.execute(PING)

    # ------------------------------------------------------------------ pull

    def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        if entity in (Entity.products, Entity.prices):
            return self._pull_variants(entity, since)
        if entity is Entity.stock:
            return self._pull_stock(since)
        if entity is Entity.customers:
            return self._pull_customers(since)
        raise NotImplementedError(f"shopify cannot read {entity}")

    async def _pages(
        self, document: Document, connection: str, variables: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of one connection (cursor pagination); a repeated cursor is an error."""
        variables = {"first": PAGE_SIZE, "after": None, **variables}
        seen: set[str] = set()
        while True:
            data = await self.client.execute(document, variables)
            yield data
            info = dig(data, f"{connection}.pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage") or not cursor:
                return
            if cursor in seen:
                raise FatalError(f"pagination loop: cursor {cursor!r} came back", connector=self.name)
            seen.add(cursor)
            variables = {**variables, "after": cursor}
            if "withCount" in variables:  # the count rides on the first page only
                variables["withCount"] = False

    def _wants_bulk(self, since: str | None, data: dict[str, Any]) -> bool:
        count = dig(data, "productVariantsCount.count")
        return since is None and isinstance(count, int) and count > self.settings.bulk_threshold

    async def _pull_variants(self, entity: Entity, since: str | None) -> AsyncIterator[PullPage]:
        """A full pull counts first (a point or two) and exports in bulk above ``bulk_threshold``;
        an incremental pull pages at once, since what changed since the cursor is usually little."""
        query = updated_since(since)
        tracker = UPDATED.tracker(since)
        total: int | None = None
        if since is None:
            counted = await self.client.execute(VARIANTS_COUNT, {"query": None})
            if self._wants_bulk(since, counted):
                self.read_mode[entity] = "bulk"
                async for page in self._bulk_variants(int(dig(counted, "productVariantsCount.count"))):
                    yield page
                return
            total = dig(counted, "productVariantsCount.count")
        self.read_mode[entity] = "pages"
        async for data in self._pages(VARIANTS, "productVariants", {"query": query}):
            nodes = dig(data, "productVariants.nodes") or []
            for node in nodes:
                tracker.see(node.get("updatedAt"))
            yield PullPage([variant_row(n) for n in nodes], cursor=tracker.cursor, total=total, complete=since is None)
            total = None

    async def _bulk_variants(self, total: int) -> AsyncIterator[PullPage]:
        body = await self._run_bulk(BULK_VARIANTS)
        tracker = UPDATED.tracker(None)
        batch: list[RawRecord] = []
        for parent, _ in reassemble(iter_jsonl(body)):
            tracker.see(parent.get("updatedAt"))
            batch.append(variant_row(parent))
            if len(batch) >= PAGE_SIZE * 4:
                yield PullPage(batch, cursor=tracker.cursor, total=total)
                batch = []
        yield PullPage(batch, cursor=tracker.cursor, total=total)

    async def _run_bulk(self, document: Document) -> bytes:
        return await run_bulk_query(
            self.client,
            document,
            poll_interval=self.settings.bulk_poll_interval_s,
            timeout_s=self.settings.bulk_timeout_s,
        )

    def _mapped_locations(self, known: list[dict[str, Any]]) -> list[str]:
        """The store's locations that ``locations`` maps; the others are named once and skipped."""
        mapped = []
        for node in known:
            gid = node["id"]
            if gid in self.settings.locations:
                mapped.append(gid)
            else:
                log.warning(
                    "%s: Shopify location %s (%s) is not in `locations`; its stock is skipped "
                    "(map it to a canonical location code to sync it)",
                    self.name,
                    gid,
                    node.get("name"),
                )
        missing = set(self.settings.locations) - {n["id"] for n in known}
        for gid in sorted(missing):
            log.warning("%s: `locations` names %s, which the store does not have", self.name, gid)
        return mapped

    async def platform_locations(self) -> dict[str, str]:
        """Every location of the store (gid -> name), mapped or not: what to put in ``locations``."""
        found: dict[str, str] = {}
        async for data in self._pages(LOCATIONS, "locations", {"query": None, "withCount": False}):
            for node in dig(data, "locations.nodes") or []:
                found[str(node["id"])] = str(node.get("name") or node["id"])
        return found

    async def _pull_stock(self, since: str | None) -> AsyncIterator[PullPage]:
        known: list[dict[str, Any]] = []
        first_data: dict[str, Any] = {}
        async for data in self._pages(LOCATIONS, "locations", {"query": None, "withCount": True}):
            first_data = first_data or data
            known.extend(dig(data, "locations.nodes") or [])
        mapped = self._mapped_locations(known)
        if self._wants_bulk(since, first_data):
            self.read_mode[Entity.stock] = "bulk"
            async for page in self._bulk_stock(set(mapped)):
                yield page
            return
        self.read_mode[Entity.stock] = "pages"
        query = updated_since(since)
        tracker = UPDATED.tracker(since)
        for location_id in mapped:
            async for data in self._pages(
                LOCATION_LEVELS, "location.inventoryLevels", {"location": location_id, "query": query}
            ):
                rows = []
                for level in dig(data, "location.inventoryLevels.nodes") or []:
                    tracker.see(level.get("updatedAt"))
                    item = level.get("item") or {}
                    rows.append(stock_row(item.get("sku"), str(item.get("id")), location_id, level))
                yield PullPage(rows, cursor=tracker.cursor, complete=since is None)

    async def _bulk_stock(self, mapped: set[str]) -> AsyncIterator[PullPage]:
        body = await self._run_bulk(BULK_STOCK)
        tracker = UPDATED.tracker(None)
        batch: list[RawRecord] = []
        orphans: list[dict[str, Any]] = []
        for variant, levels in reassemble(iter_jsonl(body), orphans):
            item_id = str(dig(variant, "inventoryItem.id"))
            for level in levels:
                location_id = dig(level, "location.id")
                if location_id not in mapped:
                    continue
                tracker.see(level.get("updatedAt"))
                row = stock_row(variant.get("sku"), item_id, location_id, level)
                row.link["variant_id"] = str(variant.get("id"))
                batch.append(row)
            if len(batch) >= PAGE_SIZE * 4:
                yield PullPage(batch, cursor=tracker.cursor)
                batch = []
        rejected = [
            (None, "inventory level line without its variant in the bulk result", str(o.get("__parentId")))
            for o in orphans
        ]
        yield PullPage(batch, cursor=tracker.cursor, rejected=rejected)

    async def _pull_customers(self, since: str | None) -> AsyncIterator[PullPage]:
        document = customers_for(self.settings.api_version)
        tracker = UPDATED.tracker(since)
        async for data in self._pages(document, "customers", {"query": updated_since(since)}):
            rows = []
            for node in dig(data, "customers.nodes") or []:
                tracker.see(node.get("updatedAt"))
                if "defaultEmailAddress" in node:
                    node = {**node, "email": dig(node, "defaultEmailAddress.emailAddress")}
                rows.append(RawRecord(node, {"customer_id": str(node.get("id"))}, f"shopify customer {node.get('id')}"))
            yield PullPage(rows, cursor=tracker.cursor, complete=since is None)

    # ------------------------------------------------------------------ orders and webhooks

    async def pull_orders(self, since: str | None = None) -> AsyncIterator[OrderPage]:  # type: ignore[override]
        """Without ``since``: the open orders (``status:open``) that still hold stock; with it, every
        order updated after it. Oldest change first; the cursor is the newest ``updatedAt`` seen."""
        tracker = UPDATED.tracker(since)
        query = updated_since(since) if since is not None else "status:open"
        async for data in self._pages(ORDERS, "orders", {"first": ORDER_PAGE, "query": query}):
            orders, rejected = [], []
            for node in dig(data, "orders.nodes") or []:
                tracker.see(node.get("updatedAt"))
                origin = f"shopify order {node.get('name')} ({node.get('id')})"
                try:
                    order = shopify_order(self.name, node, self.settings.locations)
                except RecordInvalid as error:
                    rejected.append((str(node.get("id")), str(error), origin))
                    continue
                if since is None and not (order.status.reserves and order.lines):
                    continue  # closed by now, or nothing left to ship: holds no stock
                orders.append(order)
            yield OrderPage(orders, cursor=tracker.cursor, rejected=rejected)

    async def _subscriptions(self, address: str | None) -> list[WebhookSubscription]:
        document = webhook_list_for(self.settings.api_version)
        found = []
        async for data in self._pages(document, "webhookSubscriptions", {"first": 100, "address": address}):
            for node in dig(data, "webhookSubscriptions.nodes") or []:
                url = node.get("uri") or node.get("callbackUrl") or ""
                found.append(WebhookSubscription(str(node["id"]), rest_topic(str(node["topic"])), url))
        return found

    async def list_webhooks(self) -> list[WebhookSubscription]:
        return await self._subscriptions(None)

    async def register_webhooks(self, url: str, secret: str | None = None) -> list[WebhookSubscription]:
        """Subscribe ``url`` to ``WEBHOOK_TOPICS`` it lacks. ``secret`` is not sent: Shopify signs every
        delivery with the app's client secret (the ``webhook_secret`` setting)."""
        existing = await self._subscriptions(url)
        have = {s.topic for s in existing}
        document = webhook_create_for(self.settings.api_version)
        created = []
        for topic in WEBHOOK_TOPICS:
            if rest_topic(topic) in have:
                continue
            data = await self.client.execute(document, {"topic": topic, "address": url}, idempotent=False)
            errors = dig(data, "webhookSubscriptionCreate.userErrors") or []
            made = dig(data, "webhookSubscriptionCreate.webhookSubscription")
            if errors or not made:
                text = "; ".join(str(e.get("message")) for e in errors) or "no subscription in the answer"
                raise FatalError(f"webhookSubscriptionCreate {topic} for {url}: {text}", connector=self.name)
            created.append(WebhookSubscription(str(made["id"]), rest_topic(topic), url, created=True))
        return existing + created

    # ------------------------------------------------------------------ push

    def _writer(self) -> Writer:
        return Writer(self.name, self.client, self.settings, self.context.mapping)

    async def push_prices(self, changes: Sequence[Change]) -> list[PushResult]:
        return await self._writer().prices(changes)

    async def push_stock(self, changes: Sequence[Change]) -> list[PushResult]:
        return await self._writer().stock(changes)

    async def push_customers(self, changes: Sequence[Change]) -> list[PushResult]:
        return await self._writer().customers(changes)
