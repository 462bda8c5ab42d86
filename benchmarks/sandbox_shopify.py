"""Shopify benchmark plugin: pull prices and stock, push a drifted fraction, count requests.

    python benchmarks/sync_sandbox.py --platform shopify --skus 10000

The sandbox runs at Shopify's default limits (bucket 1,000 points, 100 points/s) and charges each
query the cost it computes itself; ``prices_pull_points`` and ``points`` are what it charged for
the prices pull and for the whole run. ``minimum`` is
what the platform allows at best: for reads, one page of 250 per pulled connection page, or, above
the bulk threshold, one bulk operation (start, one status poll, one download: 3 requests); for
writes, one ``productVariantsBulkUpdate`` per product with a changed price plus
ceil(stock changes / 250) ``inventorySetQuantities`` calls.
"""

from __future__ import annotations

import argparse
import math
import random
from decimal import Decimal
from typing import Any

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.queries import PAGE_SIZE
from connectors.shopify.sandbox import create_app, location_gids
from hub.model.base import Entity
from hub.model.catalogue import Price, StockLevel
from hub.plugins.contract import Change, ConnectorContext, RawRecord
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import serve
from hub.sandbox.seed import synthetic
from hub.sync.drive import pull_canonical, push_batched

TOKEN = "shpat_benchmark_token_0000"
BULK_REQUESTS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skus", type=int, default=10000, help="variants in the synthetic catalogue")
    parser.add_argument("--locations", type=int, default=2, help="stock locations")
    parser.add_argument("--drift", type=float, default=0.1, help="fraction of prices and of stock levels changed")
    parser.add_argument("--seed", type=int, default=3)


async def _pull(connector: ShopifyConnector, entity: Entity) -> tuple[list[tuple[Any, RawRecord]], int]:
    """Canonical records with their raw rows, and the minimum requests this pull needed."""
    out = list((await pull_canonical(connector, entity)).records.values())
    if connector.read_mode[entity] == "bulk":
        return out, BULK_REQUESTS
    if entity is Entity.stock:  # one connection per location
        per_location: dict[str, int] = {}
        for record, _ in out:
            per_location[record.location] = per_location.get(record.location, 0) + 1
        return out, sum(math.ceil(n / PAGE_SIZE) for n in per_location.values()) or 1
    return out, max(1, math.ceil(len(out) / PAGE_SIZE))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    catalogue = synthetic(args.skus, locations=args.locations)
    rng = random.Random(args.seed)
    app = create_app(catalogue, access_token=TOKEN)
    with serve(app) as served:
        settings = ShopifySettings(
            shop="demo.myshopify.com",
            access_token=TOKEN,
            base_url=served.url,
            verify_tls=False,
            locations=location_gids(catalogue),
        )
        context = ConnectorContext(mapping=load_mapping("shopify", settings={"locations": settings.locations}))
        async with ShopifyConnector("shop", settings, context) as connector:
            prices, minimum_prices = await _pull(connector, Entity.prices)
            prices_points = connector.client.points
            stock, minimum_stock = await _pull(connector, Entity.stock)

            price_changes = []
            for record, raw in rng.sample(prices, int(len(prices) * args.drift)):
                assert isinstance(record, Price)
                amount = record.amount + Decimal("1.00")
                price_changes.append(
                    Change(
                        Entity.prices,
                        record.key,
                        "shop",
                        {"amount": amount, "compare_at": None},
                        {"amount": record.amount},
                        None,
                        raw.link,
                        f"p-{record.key}",
                    )
                )
            stock_changes = []
            for record, raw in rng.sample(stock, int(len(stock) * args.drift)):
                assert isinstance(record, StockLevel)
                stock_changes.append(
                    Change(
                        Entity.stock,
                        record.key,
                        "shop",
                        {"available": record.available + 5},
                        {"available": record.available},
                        None,
                        raw.link,
                        f"s-{record.key}",
                    )
                )
            failures = 0
            for entity, changes in ((Entity.prices, price_changes), (Entity.stock, stock_changes)):
                results = await push_batched(connector, entity, changes)
                failures += sum(1 for r in results if not r.ok)
            stats = connector.transport_stats
            assert stats is not None

        state = app.state.sandbox
        lost = 0
        for change in price_changes:
            lost += Decimal(state.variant(change.key).price) != change.values["amount"]
        for change in stock_changes:
            sku, location = change.key.split("@")
            lost += state.available(sku, location) != change.values["available"]
        products = {c.link["product_id"] for c in price_changes}
        minimum_writes = len(products) + math.ceil(len(stock_changes) / connector.batch_size(Entity.stock))
        return {
            "requests": stats.requests,
            "prices_pull_points": prices_points,
            "points": stats.points,
            "minimum": minimum_prices + minimum_stock + minimum_writes,
            "reads": f"prices:{connector.read_mode[Entity.prices]},stock:{connector.read_mode[Entity.stock]}",
            "price_changes": len(price_changes),
            "stock_changes": len(stock_changes),
            "failed": failures,
            "throttled": stats.throttled,
            "throttled_in_a_row_max": stats.throttled_in_a_row_max,
            "throttled_twice_in_a_row": int(stats.throttled_in_a_row_max >= 2),
            "server_requests": app.state.requests.get("total", 0),
            "lost_updates": lost,
        }
