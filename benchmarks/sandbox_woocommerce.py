"""WooCommerce benchmark plugin for ``benchmarks/sync_sandbox.py``.

    python benchmarks/sync_sandbox.py --platform woocommerce --skus 10000
    python benchmarks/sync_sandbox.py --platform woocommerce --simple 2000 --variable 1000 --variations 5

Seeds the sandbox with ``hub.sandbox.seed.synthetic(skus, locations=1)`` (groups of 4 variants become
variable products with variations), or with ``--simple`` simple products and ``--variable``
variable products of ``--variations`` variations each; ``--old-store`` serves a WooCommerce older
than 10.3 (no ``GET /variations``), so the connector falls back to one listing per parent. Pulls
prices and stock through the connector over loopback
(plain http, so every request is OAuth 1.0a signed), pushes a drifted fraction of price and stock
changes (a few of the stock items sell between pull and push with ``--sales``), and checks the
sandbox's final state.

``minimum``, what wc/v3's limits allow, is defined as:

* per entity pulled (prices, stock: each is its own sync job): ``ceil(P/100)`` product list pages
  (``P`` products, simple and variable) plus ``ceil(V/100)`` pages of ``GET /variations`` (``V``
  variations of all products; WooCommerce 10.3 and newer). ``read_minimum`` is that floor for the
  reads alone and ``read_requests`` what the pulls cost;
* per entity pushed: the changes are grouped by batch route (``/products/batch`` for simple
  products, ``/products/{parent}/variations/batch`` per variable product) and each group costs
  ``ceil(n/100)`` calls.

The stock re-read before writing (WooCommerce has no compare-and-set) is *not* in the minimum: it
costs ``ceil(stock changes/100)`` reads by SKU and shows in the ratio.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from decimal import Decimal
from typing import Any

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.sandbox import DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, create_app
from hub.model.base import Entity
from hub.plugins.contract import Change
from hub.sandbox.kit import serve
from hub.sandbox.seed import Catalogue, SeedItem, synthetic
from hub.sync.drive import pull_canonical, push_batched


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skus", type=int, default=10_000, help="variants in the synthetic catalogue")
    parser.add_argument("--drift", type=float, default=0.1, help="fraction of SKUs whose price and stock drift")
    parser.add_argument("--sales", type=float, default=0.02, help="fraction of stock changes that sell before the push")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simple", type=int, default=0, help="simple products (with --variable: instead of --skus)")
    parser.add_argument("--variable", type=int, default=0, help="variable products")
    parser.add_argument("--variations", type=int, default=5, help="variations of each variable product")
    parser.add_argument("--old-store", action="store_true", help="a store without GET /variations (before 10.3)")


def _mixed(simple: int, variable: int, variations: int, seed: int) -> Catalogue:
    """``simple`` simple products and ``variable`` products of ``variations`` variations each."""
    rng = random.Random(seed)
    items = [
        SeedItem(f"S-{i:07d}", f"Simple {i}", f"S-{i:07d}", f"{rng.randint(500, 20000) / 100:.2f}")
        for i in range(simple)
    ]
    for g in range(variable):
        for v in range(variations):
            sku = f"V-{g:07d}-{v}"
            price = f"{rng.randint(500, 20000) / 100:.2f}"
            items.append(SeedItem(sku, f"Variable {g} {v}", f"V-{g:07d}", price, options={"size": str(v)}))
    stock = {item.sku: {"loc-1": rng.randint(0, 50)} for item in items}
    return Catalogue(items, stock, [], ["loc-1"])


def _group_calls(changes: list[Change]) -> int:
    groups = Counter(c.link.get("parent_id") or "" for c in changes)
    return sum(math.ceil(n / 100) for n in groups.values())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.simple or args.variable:
        catalogue = _mixed(args.simple, args.variable, args.variations, args.seed)
    else:
        catalogue = synthetic(args.skus, locations=1)
    location = catalogue.locations[0]
    rng = random.Random(args.seed)
    app = create_app(catalogue, location_code=location, variations_route=not args.old_store)
    sandbox = app.state.sandbox
    with serve(app) as served:
        settings = WooCommerceSettings(
            type="woocommerce",
            url=served.url,
            consumer_key=DEFAULT_CONSUMER_KEY,
            consumer_secret=DEFAULT_CONSUMER_SECRET,
            location=location,
        )
        async with WooCommerceConnector("bench", settings) as connector:
            prices = (await pull_canonical(connector, Entity.prices)).records
            stock = (await pull_canonical(connector, Entity.stock)).records
            read_requests = connector.transport_stats.requests if connector.transport_stats else 0

            drifted = sorted(rng.sample(sorted(prices), round(len(prices) * args.drift)))
            price_changes = []
            for sku in drifted:
                record, raw = prices[sku]
                amount = record.amount + Decimal("1.00")
                price_changes.append(
                    Change(
                        Entity.prices,
                        sku,
                        "bench",
                        {"amount": amount},
                        {"amount": record.amount},
                        record.model_copy(update={"amount": amount}),
                        raw.link,
                        f"p-{sku}",
                    )
                )
            moved = sorted(rng.sample(sorted(stock), round(len(stock) * args.drift)))
            stock_changes = []
            for key in moved:
                record, raw = stock[key]
                wanted = record.available + rng.randint(1, 20)
                stock_changes.append(
                    Change(
                        Entity.stock,
                        key,
                        "bench",
                        {"available": wanted},
                        {"available": record.available},
                        record.model_copy(update={"available": wanted}),
                        raw.link,
                        f"s-{key}",
                    )
                )
            sold = set(rng.sample(range(len(stock_changes)), round(len(stock_changes) * args.sales)))
            for index in sold:
                sandbox.sale(stock_changes[index].key.rsplit("@", 1)[0], 1)

            price_results = await push_batched(connector, Entity.prices, price_changes)
            stock_results = await push_batched(connector, Entity.stock, stock_changes)
            requests = connector.transport_stats.requests if connector.transport_stats else 0

    # Verify the platform's final state against what each change asked for.
    lost = 0
    final_prices = sandbox.prices()
    for change, result in zip(price_changes, price_results, strict=True):
        regular, sale = final_prices[change.key]
        if not result.ok or sale != "" or Decimal(regular) != change.values["amount"]:
            lost += 1
    quantities = sandbox.quantities()
    stale = 0
    for index, (change, result) in enumerate(zip(stock_changes, stock_results, strict=True)):
        expected = change.values["available"] - (1 if index in sold else 0)
        stale += result.stale
        if quantities[change.key.rsplit("@", 1)[0]] != expected or (result.stale != (index in sold)):
            lost += 1

    walk = math.ceil(len(sandbox.products) / 100) + math.ceil(len(sandbox.variations) / 100)
    minimum = 2 * walk + _group_calls(price_changes) + _group_calls(stock_changes)
    return {
        "requests": requests,
        "minimum": minimum,
        "read_requests": read_requests,
        "read_minimum": 2 * walk,
        "read_ratio": f"{read_requests / (2 * walk):.3f}",
        "lost_updates": lost,
        "records": len(prices),
        "price_changes": len(price_changes),
        "stock_changes": len(stock_changes),
        "stale_kept": stale,
        "rereads": math.ceil(len(stock_changes) / 100),
    }
