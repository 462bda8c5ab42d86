"""How fast a sale on one channel reaches the other: webhook, run, push, measured per sale.

    python benchmarks/propagation.py --skus 10000 --sales 200 --rate 5
    python benchmarks/propagation.py --skus 300 --sales 20           # CI size, well under a minute

Serves the Shopify, WooCommerce and WMS sandboxes on loopback from ONE generated catalogue (they
start in sync: the WMS is the truth, Shopify and WooCommerce sell from the same location,
``web-warehouse``), runs one full stock sync (untimed for the figures, its duration reported as
``first_sync_s``), starts the daemon with its webhook receiver, registers WooCommerce's webhooks
to it, then places ``--sales`` paid orders on WooCommerce (``POST /wp-json/wc/v3/orders`` with
``set_paid: true``) at ``--rate`` a second. For each sale, the time from the order's answer to
Shopify showing the new quantity (read in the sandbox's state: polling Shopify's API would drain
its cost bucket) is one sample of ``p50_ms``/``p95_ms``/``max_ms``.

A few SKUs have one or two units only and get several sales: the storefront sells only what
WooCommerce shows in stock, so a lost reservation or an overwritten sale would show up as units
sold beyond the truth. After everything settled (deliveries made, runs finished):

* ``lost_sales``: units sold on WooCommerce that its stock does not reflect (WooCommerce showing
  more than truth minus the units sold), summed over SKUs; must be 0;
* ``oversold``: units sold beyond the truth's stock, sum over SKUs of max(0, sold - truth); must be 0.

The last line is the one-line ``key=value`` summary; the line before it has the details.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml

from hub.config.loader import LoadedConfig, load_config
from hub.ops.lifecycle import Daemon
from hub.sandbox.kit import serve
from hub.sandbox.plugin import GROUP, SandboxPlugin
from hub.sandbox.seed import EPOCH, Catalogue, SeedItem
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

LOCATION = "web-warehouse"
WEB_SECRET = "propagation-benchmark-webhook-secret"
#: Sandbox plugin (entry point name) -> the connector's name in the benchmark's config.
ROLES = {"shopify": "shop", "woocommerce": "web", "wms": "wms"}
#: A Shopify Plus store's GraphQL cost bucket, for the sandbox and the connector alike.
PLUS_RATE = {"bucket_size": 10_000, "restore_rate": 1_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs in the generated catalogue")
    parser.add_argument("--sales", type=int, default=200, help="paid WooCommerce orders to place")
    parser.add_argument("--rate", type=float, default=5.0, help="orders placed per second")
    parser.add_argument("--scarce", type=int, default=5, help="SKUs with only one or two units (sold repeatedly)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a sale may take to reach Shopify")
    parser.add_argument(
        "--plus", action="store_true", help="Shopify Plus rate limits (10,000 points, 1,000 a second) on both sides"
    )
    parser.add_argument("--seed", type=int, default=15)


def catalogue(skus: int, scarce: int, seed: int) -> Catalogue:
    """``skus`` items at one location; the first ``scarce`` have one or two units."""
    rng = random.Random(seed)
    items, stock = [], {}
    for i in range(skus):
        sku = f"PRP-{i:06d}"
        price = f"{rng.randint(500, 20000) / 100:.2f}"
        # Changed a second apart, as a real store's were: the incremental reads after the first sync
        # start from the newest (all stamped alike, the overlap would re-read every product once).
        items.append(SeedItem(sku, f"Item {i}", sku, price, updated_at=EPOCH + timedelta(seconds=i)))
        stock[sku] = {LOCATION: rng.randint(1, 2) if i < scarce else rng.randint(20, 60)}
    return Catalogue(items, stock, [], [LOCATION])


def _plugins() -> dict[str, SandboxPlugin]:
    found = {ep.name: ep.load() for ep in entry_points(group=GROUP) if ep.name in ROLES}
    missing = set(ROLES) - set(found)
    if missing:
        raise SystemExit(f"sandbox plugins not installed: {', '.join(sorted(missing))}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sale:
    sku: str
    product_id: int
    quantity: int
    #: Shopify shows at most this once the sale has reached it (truth minus every unit sold so far).
    expected: int
    answered: float = 0.0
    order_id: int = 0
    reached: float | None = None


@dataclass
class Runs:
    reports: list[JobReport] = field(default_factory=list)
    active: int = 0
    last_end: float = 0.0


def write_config(workdir: Path, blocks: dict[str, dict[str, Any]], env: dict[str, str]) -> LoadedConfig:
    web = {**blocks["web"], "webhook_secret": "${BENCH_WEB_WEBHOOK_SECRET}"}
    config = {
        "version": 1,
        "hub": {"database": f"sqlite:///{workdir / 'state.db'}", "job_lock_wait": "60s"},
        "connectors": {"shop": blocks["shop"], "web": web, "wms": blocks["wms"]},
        "truth": {"stock": "wms"},
        "jobs": {
            "stock": {
                "entity": "stock",
                "targets": ["shop", "web"],
                "mode": "enforce",
                "schedule": "every 24h",
                "reservations": ["shop", "web"],
            }
        },
    }
    path = workdir / "omnihub.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_config(path, env={**env, "BENCH_WEB_WEBHOOK_SECRET": WEB_SECRET})


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plugins = _plugins()
    seeded = catalogue(args.skus, args.scarce, args.seed)
    env = {k: v for p in plugins.values() for k, v in p.credentials.items()}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="omnihub-propagation-")))
        apps: dict[str, Any] = {}
        blocks: dict[str, dict[str, Any]] = {}
        for name, plugin in plugins.items():
            role = ROLES[name]
            options: dict[str, Any] = {}
            if role == "web":
                options = {"location_code": LOCATION, "variable_products": False}
            elif role == "shop" and args.plus:
                options = dict(PLUS_RATE)
            app = plugin.app(seeded.copy(), **options)
            served = stack.enter_context(serve(app))
            apps[role] = app
            blocks[role] = plugin.connector_block(served.url, app)
        # The WMS is read as a production config would: big pages, and only what changed since the
        # last pull (its API takes ``updated_since``), not the whole warehouse on every run.
        blocks["wms"].update(page_size=500, updated_since_param="updated_since")
        if args.plus:
            blocks["shop"].update(PLUS_RATE)
        config = write_config(workdir, blocks, env)
        store = Store.open(config.database_url())
        stack.callback(store.close)
        return await _measure(args, config, store, apps, seeded)
    raise AssertionError("unreachable")


async def _measure(
    args: argparse.Namespace, config: LoadedConfig, store: Store, apps: dict[str, Any], seeded: Catalogue
) -> dict[str, Any]:
    shopify, woo, wms = (apps[r].state.sandbox for r in ("shop", "web", "wms"))
    sender = apps["web"].state.webhooks

    started = time.monotonic()
    [first] = await Engine(config, store).sync(["stock"])
    first_sync_s = time.monotonic() - started
    if first.status != "ok":
        raise SystemExit(f"the first sync failed: {first.errors}")

    # The first sync spent most of Shopify's cost bucket; the daemon meets sales with a full one.
    bucket = shopify.bucket
    while bucket.available() < bucket.size and time.monotonic() - started < first_sync_s + 30:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    runs = Runs()

    async def run_job(name: str) -> JobReport:
        runs.active += 1
        try:
            report = await Engine(config, store).run_job(name)
        finally:
            runs.active -= 1
            runs.last_end = time.monotonic()
        runs.reports.append(report)
        return report

    port = _free_port()
    daemon = Daemon(config, run_job, http_port=port, stop_timeout_s=10, store=store)
    await daemon.start()
    sales: list[Sale] = []
    refused = 0
    try:
        web = Engine(config, store).connector("web")
        async with web:
            await web.register_webhooks(f"http://127.0.0.1:{port}/webhooks/web", WEB_SECRET)  # type: ignore[attr-defined]
            products = {p["sku"]: p for p in woo.products.values() if p["sku"]}
            truth = {sku: levels[LOCATION] for sku, levels in seeded.stock.items()}
            sold: Counter[str] = Counter()
            rng = random.Random(args.seed)
            skus = sorted(truth)
            scarce = skus[: args.scarce]
            watchers: list[asyncio.Task[None]] = []
            interval = 1.0 / args.rate
            t0 = time.monotonic()
            for n in range(args.sales):
                await asyncio.sleep(max(0.0, t0 + n * interval - time.monotonic()))
                # One sale in eight goes to a scarce SKU: the storefront sells what WooCommerce shows.
                if scarce and n % 8 == 3:
                    sku, quantity = rng.choice(scarce), 1
                else:
                    sku, quantity = rng.choice(skus[len(scarce) :] or skus), rng.randint(1, 3)
                product = products[sku]
                if int(product["stock_quantity"] or 0) < quantity:
                    refused += 1  # out of stock on the storefront: no order
                    continue
                order = {"set_paid": True, "line_items": [{"product_id": product["id"], "quantity": quantity}]}
                reply = await web.client.transport.post("orders", json=order)  # type: ignore[attr-defined]
                if reply.status != 201:
                    raise SystemExit(f"POST /orders answered {reply.status}: {reply.data}")
                sold[sku] += quantity
                sale = Sale(sku, product["id"], quantity, truth[sku] - sold[sku], time.monotonic(), reply.data["id"])
                sales.append(sale)
                watchers.append(asyncio.create_task(_watch(sale, shopify, args.timeout)))
            await asyncio.gather(*watchers)
            settled = await _settle(sender, runs, args.timeout)
    finally:
        daemon.request_stop()
        await daemon.stop()

    wms_truth = {
        sku: row.on_hand - row.committed for (sku, wid), row in wms.stock.items() if wms.warehouses[wid] == LOCATION
    }
    lost = sum(max(0, int(products[sku]["stock_quantity"] or 0) - (wms_truth[sku] - n)) for sku, n in sold.items())
    oversold = sum(max(0, n - wms_truth[sku]) for sku, n in sold.items())
    reserved = sum(q for o in store.orders.open_orders(["web"]) for _, q in o.lines)
    latencies = sorted((s.reached - s.answered) * 1000 for s in sales if s.reached is not None)
    unreached = sum(1 for s in sales if s.reached is None)
    failed = sum(1 for r in runs.reports if r.status != "ok")
    run_seconds = [r.duration_s for r in runs.reports if getattr(r, "duration_s", None) is not None]
    accepted = sum(1 for d in sender.sent if d.status == 202)
    # How long each order's order.created delivery took to be answered by the receiver.
    created = {
        json.loads(d.body)["id"]: d.at
        for d in sender.sent
        if d.status == 202 and d.headers.get("X-WC-Webhook-Topic") == "order.created"
    }
    lags = sorted((created[s.order_id] - s.answered) * 1000 for s in sales if s.order_id in created)
    return {
        "details": {
            "first_sync_s": f"{first_sync_s:.1f}",
            "placed": len(sales),
            "refused_out_of_stock": refused,
            "units_sold": sum(sold.values()),
            "units_reserved": reserved,
            "unreached": unreached,
            "failed_runs": failed,
            "mean_run_ms": f"{statistics.fmean(run_seconds) * 1000:.0f}" if run_seconds else "none",
            "delivery_p50_ms": _ms(_percentile(lags, 50)),
            "delivery_p95_ms": _ms(_percentile(lags, 95)),
            "settled": settled,
            "delivery_attempts": len(sender.sent),
        },
        "summary": {
            "skus": args.skus,
            "sales": len(sales),
            "rate_per_s": f"{args.rate:g}",
            "p50_ms": _ms(_percentile(latencies, 50)),
            "p95_ms": _ms(_percentile(latencies, 95)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "lost_sales": lost,
            "oversold": oversold,
            "runs": len(runs.reports),
            "deliveries": accepted,
        },
    }


async def _watch(sale: Sale, shopify: Any, within_s: float) -> None:
    """Until Shopify shows at most what the sale left (a later sale of the same SKU may go lower)."""
    deadline = sale.answered + within_s
    while time.monotonic() < deadline:
        if shopify.available(sale.sku, LOCATION) <= sale.expected:
            sale.reached = time.monotonic()
            return
        await asyncio.sleep(0.005)


async def _settle(sender: Any, runs: Runs, within_s: float) -> bool:
    """Until every delivery was made and no run has been going for a while (a request waits 50 ms)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        quiet = runs.active == 0 and time.monotonic() - runs.last_end > 0.5
        if quiet and not sender.describe()["pending"]:
            return True
        await asyncio.sleep(0.05)
    return False


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    rank = max(0, min(len(values) - 1, round(pct / 100 * len(values) + 0.5) - 1))
    return values[rank]


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(" ".join(f"{k}={v}" for k, v in figures["details"].items()))
    summary = figures["summary"]
    print(" ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    good = summary["lost_sales"] == 0 and summary["oversold"] == 0 and figures["details"]["unreached"] == 0
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
