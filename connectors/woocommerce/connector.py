"""The ``woocommerce`` connector: products, prices, stock and customers over REST wc/v3.

Pulls walk ``/products`` 100 at a time, then ``/variations`` 100 at a time: WooCommerce 10.3 and
newer list every variation of every product there, so a full pull costs ceil(products/100) +
ceil(variations/100) pages (measured in ``benchmarks/sandbox_woocommerce.py``). A store without the
route answers 404 ``rest_no_route`` once; the connector remembers it and reads each variable
product's variations instead. Incremental pulls ask both listings only for what was modified after
the cursor (``modified_after`` + ``dates_are_gmt=true``); on an older store WooCommerce's re-save of
a variable product when one of its variations changes says which parents to read.

A variable product that manages stock holds one pool for its variations that do not (they show
``manage_stock: "parent"``): the pool is read and written as the parent's own stock row, and
those variations have none of their own (``rows.holds_pool``).

Pushes write through ``/products/batch`` and ``/products/{parent}/variations/batch``, grouped by
parent, 100 items per call; stock re-reads first (``connectors.woocommerce.stock``).

Orders (``pull_orders``, read by ``order_pull``): without a cursor the orders that hold stock
(``status=processing,on-hold``), every page; with one, every order modified after it
(``modified_after`` + ``dates_are_gmt``, ``orderby=modified&order=asc``), whatever its status. The
cursor is the newest ``date_modified_gmt`` seen. Webhooks: ``register_webhooks`` subscribes a URL to
``order.created``, ``order.updated`` and ``product.updated``, creating only the pairs
(topic, URL) missing and re-activating one WooCommerce disabled after failed deliveries.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.woocommerce.batches import BatchItem, send_batches
from connectors.woocommerce.client import PAGE_SIZE, VARIATIONS_OF, WooClient, chunks
from connectors.woocommerce.order_pull import HOLDING_STATUSES, order_origin, read_order
from connectors.woocommerce.rows import (
    SELLABLE_TYPES,
    customer_row,
    holds_pool,
    item_row,
    price_fields,
    untracked_reason,
)
from connectors.woocommerce.settings import WooCommerceSettings
from connectors.woocommerce.stock import StockWriter
from connectors.woocommerce.values import price_text, unstored
from connectors.woocommerce.webhooks import parse_webhook
from hub.sdk import (
    SALES_CHANNEL,
    Change,
    ClientConnector,
    ConfigError,
    ConnectorSettings,
    CursorTracker,
    Endpoint,
    Entity,
    FatalError,
    Incremental,
    ListingMemo,
    OrderPage,
    PullPage,
    PushResult,
    RawRecord,
    RecordInvalid,
    WebhookSubscription,
    link_id,
    secret_value,
)
from hub.sdk import Mapping as FieldMapping

__all__ = ["WooCommerceConnector"]

_CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S"
_PRICE_FIELDS = ("regular_price", "sale_price")
#: The topics the hub follows: a sale, a change to it, and stock moved by anyone.
WEBHOOK_TOPICS = ("order.created", "order.updated", "product.updated")


class WooCommerceConnector(ClientConnector[WooClient]):
    """WooCommerce REST wc/v3: simple products and variations, one stock location, customers."""

    type_name = "woocommerce"
    display_name = "WooCommerce"
    settings_model = WooCommerceSettings
    capabilities = SALES_CHANNEL

    client_class = WooClient
    webhook_parser = staticmethod(parse_webhook)

    @classmethod
    def admin_url(cls, settings: ConnectorSettings, entity: str, ids: Mapping[str, str]) -> str | None:
        """The product (a variation is edited on its parent's page) or the customer in wp-admin."""
        url = getattr(settings, "url", None)
        if not url:
            return None
        site = str(url).rstrip("/")
        if entity == "customers":
            customer = link_id(ids, "customer_id")
            return f"{site}/wp-admin/user-edit.php?user_id={customer}" if customer else None
        post = link_id(ids, "parent_id") or link_id(ids, "product_id")
        return f"{site}/wp-admin/post.php?post={post}&action=edit" if post else None

    reads_orders = True
    settings: WooCommerceSettings
    #: Whether the store lists all variations at ``GET /variations`` (WooCommerce 10.3+); ``None``
    #: until the first pull asks.
    _variations_route: bool | None = None
    _memo: ListingMemo | None = None

    @property
    def listings(self) -> ListingMemo:
        """The product and variation listings this connector read during the sync: products,
        prices and stock all come from them, so one sync of those jobs lists the catalogue once."""
        if self._memo is None:
            self._memo = ListingMemo()
        return self._memo

    def _listing(self, path: str, params: Mapping[str, Any], entity: Entity) -> AsyncIterator[list[dict]]:
        async def fetch() -> AsyncIterator[list[dict]]:
            async for records, _reply in self.client.list(path, params):
                yield records

        return self.listings.pages((path, tuple(sorted(params.items()))), entity, fetch)

    def batch_size(self, entity: Entity) -> int:
        """Prices and stock take 500 changes per push: the connector groups them by parent product
        itself and sends at most 100 per call, so a larger hand-over lets one parent's variations
        share a call instead of being split at an arbitrary boundary."""
        return 500 if entity in (Entity.prices, Entity.stock) else self.push_batch_size

    @property
    def mapping(self) -> FieldMapping:
        return self.field_mapping

    # ------------------------------------------------------------------ pull

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:  # type: ignore[override]
        if entity is Entity.customers:
            async for page in self._pull_customers(since):
                yield page
        elif entity in (Entity.products, Entity.prices, Entity.stock):
            async for page in self._pull_items(entity, since):
                yield page
        else:
            raise NotImplementedError(f"woocommerce cannot read {entity}")

    async def _pull_items(self, entity: Entity, since: str | None) -> AsyncIterator[PullPage]:
        params = self.modified.query(since)
        tracker = self.modified.tracker(since)
        parents: dict[str, Mapping[str, Any]] = {}
        async for products in self._listing("products", params, entity):
            variable = [p for p in products if p.get("type") == "variable"]
            parents.update((str(p.get("id")), p) for p in variable)
            rows = [self._row(p) for p in products if p.get("type") in SELLABLE_TYPES]
            if entity is Entity.stock:
                rows += [self._row(p) for p in variable if holds_pool(p)]
            tracker.see_records(products)
            yield self._page(entity, rows, tracker.cursor, since)
        if self._variations_route is not False:
            try:
                async for rows in self._listed_variations(params, parents, entity):
                    yield self._page(entity, rows, _seen(tracker, rows), since)
                self._variations_route = True
                return
            except FatalError as exc:
                if self._variations_route or exc.status != 404 or exc.platform_code != "rest_no_route":
                    raise
                self._variations_route = False  # a store older than WooCommerce 10.3: asked once
        async for page in self._variations_by_parent(entity, since, params, list(parents.values()), tracker):
            yield page

    async def _listed_variations(
        self, params: Mapping[str, Any], parents: dict[str, Mapping[str, Any]], entity: Entity
    ) -> AsyncIterator[list[RawRecord]]:
        """Every variation (changed since the cursor, with ``params``) from ``GET /variations``,
        100 a page whatever its parent; parents not read with the products are read by id."""
        async for variations in self._listing("variations", params, entity):
            unknown = sorted({str(v.get("parent_id")) for v in variations} - parents.keys())
            for part in chunks(unknown, PAGE_SIZE):
                found = await self.client.get_list("products", {"include": ",".join(part)})
                parents.update((str(p.get("id")), p) for p in found)
            yield [self._row(v, parents.get(str(v.get("parent_id")), {"id": v.get("parent_id")})) for v in variations]

    async def _variations_by_parent(
        self,
        entity: Entity,
        since: str | None,
        params: Mapping[str, Any],
        variable: list[Mapping[str, Any]],
        tracker: CursorTracker,
    ) -> AsyncIterator[PullPage]:
        """Stores without ``GET /variations``: one listing per variable product."""
        if since and self.settings.variation_scan == "all_parents":
            async for parents, _reply in self.client.list("products", {"type": "variable"}):
                rows = await self._variation_rows(parents, params)
                yield self._page(entity, rows, _seen(tracker, rows), since)
            return
        for part in chunks(variable, PAGE_SIZE):
            rows = await self._variation_rows(part)
            yield self._page(entity, rows, _seen(tracker, rows), since)

    async def _variation_rows(
        self, parents: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None = None
    ) -> list[RawRecord]:
        """The variations of ``parents``, read concurrently (the transport bounds how many at once)."""

        async def one(parent: Mapping[str, Any]) -> list[RawRecord]:
            rows = []
            async for variations, _reply in self.client.list(VARIATIONS_OF, params, id=parent["id"]):
                rows += [self._row(v, parent) for v in variations]
            return rows

        lists = await asyncio.gather(*(one(p) for p in parents))
        return [row for rows in lists for row in rows]

    def _row(self, data: Mapping[str, Any], parent: Mapping[str, Any] | None = None) -> RawRecord:
        return item_row(data, location=self.settings.location, parent=parent)

    def _page(self, entity: Entity, rows: list[RawRecord], cursor: str | None, since: str | None) -> PullPage:
        rejected: list[tuple[str | None, str, str]] = []
        if entity is Entity.stock:
            kept = []
            for row in rows:
                if row.data.get("manage_stock") == "parent":
                    continue  # its stock is its parent's pool, read as the parent's row
                reason = untracked_reason(row.data)
                if reason is None:
                    kept.append(row)
                else:
                    sku = row.data.get("sku")
                    rejected.append((f"{sku}@{self.settings.location}" if sku else None, reason, row.origin))
            rows = kept
        return PullPage(records=rows, cursor=cursor, total=None, complete=since is None, rejected=rejected)

    async def _pull_customers(self, since: str | None) -> AsyncIterator[PullPage]:
        """wc/v3 cannot filter customers by modification time: the list is read whole and, with
        ``since``, only the customers modified after it are yielded."""
        after = self._after(since) if since else None
        tracker = self.modified.tracker(since)
        async for customers, reply in self.client.list("customers", {"role": "all"}):
            rows = [customer_row(c) for c in customers if after is None or _stamp(c) > after]
            tracker.see_records(customers)
            header = reply.headers.get("X-WP-Total")
            total = int(header) if header and header.isdigit() else None
            # The list is unfiltered: its total is every customer the shop holds.
            yield PullPage(records=rows, cursor=tracker.cursor, total=total, held=total, complete=since is None)

    @functools.cached_property
    def modified(self) -> Incremental:
        """The cursor: the newest ``date_modified_gmt`` (GMT, to the second), asked for as
        ``modified_after`` less ``cursor_overlap_s`` with ``dates_are_gmt``."""
        return Incremental(
            "date_modified_gmt",
            param="modified_after",
            since_params={"dates_are_gmt": "true"},
            send=self._after,
            render=lambda moment: moment.astimezone(UTC).strftime(_CURSOR_FORMAT),
        )

    def _after(self, since: str) -> str:
        moment = _parse(since) - timedelta(seconds=self.settings.cursor_overlap_s)
        return moment.strftime(_CURSOR_FORMAT)

    # ------------------------------------------------------------------ orders

    @functools.cached_property
    def orders_endpoint(self) -> Endpoint:
        """``GET /orders``: by id without a cursor; with one, modified after it, oldest change first."""
        modified = Incremental(
            "date_modified_gmt",
            param="modified_after",
            since_params={"dates_are_gmt": "true", "orderby": "modified", "order": "asc"},
            send=self._after,
            render=lambda moment: moment.astimezone(UTC).strftime(_CURSOR_FORMAT),
        )
        return Endpoint("orders", incremental=modified)

    async def pull_orders(self, since: str | None = None) -> AsyncIterator[OrderPage]:  # type: ignore[override]
        """Without ``since``: the orders that hold stock now (``processing``, ``on-hold``), however
        old; with it, every order modified after it. A bad order is rejected with why, the pull goes on."""
        params = None if since else {"status": ",".join(HOLDING_STATUSES)}
        async for page in self.client.reader.pages(self.orders_endpoint, since=since, params=params):
            orders, rejected = [], []
            for payload in page.records:
                if not isinstance(payload, dict):
                    continue
                try:
                    orders.append(
                        read_order(
                            self.name,
                            payload,
                            location=self.settings.location,
                            pickup_locations=self.settings.pickup_locations,
                        )
                    )
                except RecordInvalid as error:
                    rejected.append((str(payload.get("id")), error.reason, order_origin(payload)))
            yield OrderPage(orders, cursor=page.cursor, rejected=rejected)

    # ------------------------------------------------------------------ webhooks

    async def list_webhooks(self) -> list[WebhookSubscription]:
        found = []
        async for records, _reply in self.client.list("webhooks"):
            found += [_subscription(r) for r in records]
        return found

    async def register_webhooks(self, url: str, secret: str | None = None) -> list[WebhookSubscription]:
        """Subscribe ``url`` to ``WEBHOOK_TOPICS`` where it is not yet, signed with ``secret`` (else
        the ``webhook_secret`` setting); a subscription WooCommerce disabled is set active again."""
        secret = secret or secret_value(self.settings.webhook_secret)
        if not secret:
            raise ConfigError(
                f"connector {self.name!r}: registering webhooks needs a secret to sign them with: "
                "set webhook_secret (WooCommerce signs every delivery with it)"
            )
        existing = [s for s in await self.list_webhooks() if s.url == url]
        mine: list[WebhookSubscription] = []
        for topic in WEBHOOK_TOPICS:
            found = next((s for s in existing if s.topic == topic), None)
            if found is None:
                body = {"name": f"omnihub {topic}", "topic": topic, "delivery_url": url, "secret": secret}
                reply = await self.client.transport.post("webhooks", json={**body, "status": "active"})
                mine.append(replace(_subscription(reply.data), created=True))
            elif found.status != "active":
                reply = await self.client.transport.request(
                    "PUT", f"webhooks/{found.id}", json={"status": "active", "secret": secret}, idempotent=True
                )
                mine.append(_subscription(reply.data))
            else:
                mine.append(found)
        taken = {s.id for s in mine}
        return mine + [s for s in existing if s.id not in taken]

    # ------------------------------------------------------------------ push

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        self.listings.wrote(entity)  # this entity's values in listings read before are stale now
        return await super().push(entity, changes)

    async def push_stock(self, changes: Sequence[Change]) -> list[PushResult]:
        writer = StockWriter(self.client, self.mapping[Entity.stock], manage_stock=self.settings.manage_stock)
        return await writer.push(changes)

    async def push_prices(self, changes: Sequence[Change]) -> list[PushResult]:
        mapping = self.mapping[Entity.prices]
        results: dict[int, PushResult] = {}
        items = []
        for ref, change in enumerate(changes):
            product_id = change.link.get("product_id")
            if not product_id:
                results[ref] = PushResult(
                    change.key, ok=False, code="not_linked", message="no WooCommerce product is linked to this SKU"
                )
                continue
            try:
                fields = _price_payload(mapping.to_platform(_whole_price(change)))
            except ValueError as exc:
                results[ref] = PushResult(change.key, ok=False, code="invalid_price", message=str(exc))
                continue
            parent = change.link.get("parent_id")
            path = f"products/{parent}/variations/batch" if parent else "products/batch"
            items.append(BatchItem(ref, path, "update", {"id": int(product_id), **fields}))
        outcomes = await send_batches(self.client, items)
        for item in items:
            outcome = outcomes[item.ref]
            wrong = unstored(item.body, outcome.record, _PRICE_FIELDS) if outcome.ok else None
            results[item.ref] = PushResult(
                changes[item.ref].key,
                ok=outcome.ok and wrong is None,
                code="not_stored" if wrong else outcome.code,
                message=wrong or outcome.message,
                retriable=outcome.uncertain,
            )
        return [results[ref] for ref in range(len(changes))]

    async def push_customers(self, changes: Sequence[Change]) -> list[PushResult]:
        mapping = self.mapping[Entity.customers]
        items = []
        for ref, change in enumerate(changes):
            customer_id = change.link.get("customer_id")
            values = {k: v for k, v in change.values.items() if k != "email"}
            if customer_id:
                body = {"id": int(customer_id), **mapping.to_platform(values)}
                items.append(BatchItem(ref, "customers/batch", "update", body))
            else:
                source = change.record.model_dump() if change.record is not None else {}
                body = mapping.to_platform({k: v for k, v in {**source, **values}.items() if k != "email"})
                body["email"] = change.key
                items.append(BatchItem(ref, "customers/batch", "create", body))
        outcomes = await send_batches(self.client, items)
        results = []
        for item in items:
            outcome = outcomes[item.ref]
            link = {"customer_id": str(outcome.record["id"])} if outcome.ok and outcome.record.get("id") else None
            results.append(
                PushResult(
                    changes[item.ref].key,
                    ok=outcome.ok,
                    code=outcome.code,
                    message=outcome.message,
                    retriable=outcome.uncertain and item.kind == "update",
                    link=link,
                )
            )
        return results


def _whole_price(change: Change) -> dict[str, Any]:
    """Amount and compare-at together: WooCommerce's two price fields depend on both."""
    base: dict[str, Any] = {"amount": None, "compare_at": None}
    if change.record is not None:
        base.update({k: getattr(change.record, k, None) for k in base})
    else:
        base.update({k: v for k, v in change.previous.items() if k in base})
    return {**base, **{k: v for k, v in change.values.items() if k in base}}


def _price_payload(platform: dict[str, Any]) -> dict[str, Any]:
    """The mapping's output with the derived ``pricing`` turned into ``regular_price``/``sale_price``,
    each checked (``ValueError``) and written in the one form WooCommerce stores as meant."""
    pricing = platform.pop("pricing", None)
    if isinstance(pricing, dict):
        platform.update(price_fields(pricing.get("amount"), pricing.get("compare_at")))
    for field in _PRICE_FIELDS:
        if field in platform:
            platform[field] = price_text(platform[field], field)
    return platform


def _parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(record: Mapping[str, Any]) -> str:
    value = record.get("date_modified_gmt")
    return _parse(value).strftime(_CURSOR_FORMAT) if isinstance(value, str) and value else ""


def _subscription(record: Mapping[str, Any]) -> WebhookSubscription:
    return WebhookSubscription(
        str(record.get("id")),
        str(record.get("topic") or ""),
        str(record.get("delivery_url") or ""),
        status=str(record.get("status") or "active"),
    )


def _seen(tracker: CursorTracker, rows: Sequence[RawRecord]) -> str | None:
    """The cursor once ``rows`` (variations, whose rows keep their own ``date_modified_gmt``) are seen."""
    tracker.see_records([row.data for row in rows])
    return tracker.cursor
