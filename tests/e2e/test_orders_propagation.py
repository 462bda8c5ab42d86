"""A sale on one channel reaches the others: the demo's Shopify, WooCommerce and WMS sandboxes, the
daemon's webhook receiver on loopback, and the engine's reservation ledger, with nothing mocked.

* a paid WooCommerce order reaches Shopify through a signed delivery, with no scheduled run;
* a sale WooCommerce takes between the hub's read and its write (no compare-and-set there) is
  not lost: the next order pull puts it back;
* a click-and-collect order on Shopify reserves the store's stock, and cancelling it gives it back.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.cli.demo import DemoShop, _environment, demo_credentials
from hub.config.loader import LoadedConfig, load_config
from hub.model.base import Entity
from hub.model.catalogue import StockLevel
from hub.ops.lifecycle import Daemon
from hub.plugins.contract import Connector
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

WEB_SECRET = "web-webhook-secret-for-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[DemoShop]:
    with DemoShop(tmp_path) as demo, _environment({**demo_credentials(), "WEB_WEBHOOK_SECRET": WEB_SECRET}):
        yield demo


def write_config(demo: DemoShop, tmp_path: Path, *, schedule: str = "every 1h") -> LoadedConfig:
    web = {**demo.blocks["web"], "webhook_secret": "${WEB_WEBHOOK_SECRET}"}
    config = {
        "version": 1,
        "hub": {"database": f"sqlite:///{tmp_path / 'state.db'}", "job_lock_wait": "30s"},
        "connectors": {"shop": demo.blocks["shop"], "web": web, "wms": demo.blocks["wms"]},
        "truth": {"stock": "wms"},
        "jobs": {
            "stock": {
                "entity": "stock",
                "targets": ["shop", "web"],
                "mode": "enforce",
                "schedule": schedule,
                "reservations": ["shop", "web"],
            }
        },
    }
    path = tmp_path / "omnihub.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_config(path)


async def stock_of(connector: Connector, sku: str) -> dict[str, int]:
    """What the channel shows for ``sku``, by canonical location (a fresh full read)."""
    shown: dict[str, int] = {}
    async for page in connector.pull(Entity.stock):
        for raw in page.records:
            record = connector.field_mapping[Entity.stock].to_canonical(raw)
            assert isinstance(record, StockLevel)
            if record.sku == sku:
                shown[record.location] = record.available
    return shown


def woo_product(demo: DemoShop, *, minimum: int = 4) -> dict[str, Any]:
    """A simple, stock-managed WooCommerce product with a few units."""
    state = demo.apps["woocommerce"].state.sandbox
    return next(
        p
        for p in state.products.values()
        if p["type"] == "simple" and p["manage_stock"] and (p["stock_quantity"] or 0) >= minimum and p["sku"]
    )


async def place_woo_order(web: Connector, product_id: int, quantity: int, **body: Any) -> dict[str, Any]:
    order = {"set_paid": True, "line_items": [{"product_id": product_id, "quantity": quantity}], **body}
    reply = await web.client.transport.post("orders", json=order)  # type: ignore[attr-defined]
    assert reply.status == 201, reply.data
    return dict(reply.data)


async def wait_until(condition: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_paid_woocommerce_order_reaches_shopify_through_a_webhook_without_a_scheduled_run(
    shop: DemoShop, tmp_path: Path
) -> None:
    config = write_config(shop, tmp_path)
    store = Store.open(config.database_url())
    engine = Engine(config, store)
    [first] = await engine.sync(["stock"])
    assert first.status == "ok", first.errors
    runs: list[JobReport] = []

    async def run_job(name: str) -> JobReport:
        report = await Engine(config, store).run_job(name)
        runs.append(report)
        return report

    port = _free_port()
    daemon = Daemon(config, run_job, http_port=port, stop_timeout_s=5, store=store)
    await daemon.start()
    web, shopify = engine.connector("web"), engine.connector("shop")
    try:
        async with web, shopify:
            subscriptions = await web.register_webhooks(f"http://127.0.0.1:{port}/webhooks/web", WEB_SECRET)
            assert {s.topic for s in subscriptions} >= {"order.created", "order.updated"}
            product = woo_product(shop)
            sku = product["sku"]
            before = await stock_of(shopify, sku)
            # The WooCommerce store ships from web-warehouse, which Shopify sells from too
            assert "web-warehouse" in before, f"{sku} is not sold from web-warehouse on Shopify: {before}"
            location, shown = "web-warehouse", before["web-warehouse"]

            await place_woo_order(web, product["id"], 2)

            shopify_state = shop.apps["shopify"].state.sandbox

            async def shopify_took_the_sale() -> bool:  # read in the sandbox: polling the API would drain its bucket
                return bool(shopify_state.available(sku, location) == shown - 2)

            took = await wait_until(shopify_took_the_sale, 10, f"Shopify showing {shown - 2} of {sku}")
            after_woo = product["stock_quantity"]
    finally:
        daemon.request_stop()
        await daemon.stop()
    assert took < 5
    assert runs and all(r.status == "ok" for r in runs), [r.errors for r in runs]
    assert sum(r.orders.get("web", 0) for r in runs) >= 1
    ledger = store.orders.open_orders(["web"])
    assert [(o.lines, o.location) for o in ledger] == [(((sku, 2),), "web-warehouse")]
    assert after_woo == product["stock_quantity"]  # WooCommerce's own sale is not taken off a second time
    store.close()


async def test_a_sale_woocommerce_takes_between_the_read_and_the_write_is_not_lost_after_the_next_order_pull(
    shop: DemoShop, tmp_path: Path
) -> None:
    config = write_config(shop, tmp_path)
    store = Store.open(config.database_url())
    assert (await Engine(config, store).sync(["stock"]))[0].status == "ok"
    product = woo_product(shop)
    sku, settled = product["sku"], product["stock_quantity"]
    wms = shop.apps["wms"].state.sandbox
    [row] = [r for (s, _), r in wms.stock.items() if s == sku and r.on_hand - r.committed == settled]
    wms.set_stock(sku, row.warehouse_id, on_hand=row.on_hand + 10)  # a delivery reaches the warehouse
    # WooCommerce holds the hub's stock write for a second; a customer pays for 3 meanwhile: the
    # write (absolute: WooCommerce has no compare-and-set) lands after the sale and overwrites it.
    faults = shop.apps["woocommerce"].state.faults
    faults.add(kind="delay", seconds=1.0, method="POST", path="/wp-json/wc/v3/products/batch", times=1)
    web = Engine(config, store).connector("web")
    async with web:
        run = asyncio.create_task(Engine(config, store).sync(["stock"]))
        while not faults.injected["delay"] and not run.done():  # noqa: ASYNC110 (a counter in another thread)
            await asyncio.sleep(0.01)
        await place_woo_order(web, product["id"], 3)
        [racing] = await run
    assert racing.status == "ok", racing.errors
    assert product["stock_quantity"] == settled + 10  # the sale was overwritten: the race is real
    [next_run] = await Engine(config, store).sync(["stock"])
    assert next_run.status == "ok", next_run.errors
    assert next_run.orders == {"shop": 0, "web": 1}
    assert product["stock_quantity"] == settled + 10 - 3  # the order ledger put the sale back
    assert next_run.pushed.get("web") == 1
    store.close()


async def test_the_last_unit_sold_on_both_channels_is_left_on_neither_once_the_orders_are_pulled(
    shop: DemoShop, tmp_path: Path
) -> None:
    config = write_config(shop, tmp_path)
    store = Store.open(config.database_url())
    assert (await Engine(config, store).sync(["stock"]))[0].status == "ok"
    product = woo_product(shop, minimum=1)
    sku = product["sku"]
    wms = shop.apps["wms"].state.sandbox
    rows = [r for (s, _), r in wms.stock.items() if s == sku]
    for row in rows:
        wms.set_stock(sku, row.warehouse_id, on_hand=row.committed)
    web_row = wms.stock[(sku, wms.warehouse_of("web-warehouse"))]
    wms.set_stock(sku, web_row.warehouse_id, on_hand=web_row.committed + 1)  # one unit left, where both sell from
    engine = Engine(config, store)
    assert (await engine.sync(["stock"]))[0].status == "ok"
    web, shopify = engine.connector("web"), engine.connector("shop")
    async with web, shopify:
        shown = await stock_of(shopify, sku)
        assert {loc: n for loc, n in shown.items() if n} == {"web-warehouse": 1}
        assert product["stock_quantity"] == 1
        location = "web-warehouse"
        await place_woo_order(web, product["id"], 1)
        sold = await shopify.client.transport.post(  # type: ignore[attr-defined]
            "/_sandbox/checkout", json={"lines": [{"sku": sku, "quantity": 1}], "location": location}
        )
        assert sold.status < 300, sold.data
        [report] = await Engine(config, store).sync(["stock"])
        after = await stock_of(shopify, sku)
    assert report.status == "ok", report.errors
    assert report.orders["web"] == 1 and report.orders["shop"] == 1
    assert after[location] == 0 and product["stock_quantity"] == 0
    reserved = {o.channel for o in store.orders.open_orders()}
    assert reserved == {"shop", "web"}
    store.close()


CANCEL = """mutation Cancel($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true, refund: false) { orderCancelUserErrors { code message } }
}"""


async def test_a_click_and_collect_order_reserves_the_store_and_its_cancellation_releases_it(
    shop: DemoShop, tmp_path: Path
) -> None:
    config = write_config(shop, tmp_path)
    store = Store.open(config.database_url())
    assert (await Engine(config, store).sync(["stock"]))[0].status == "ok"
    shopify_state = shop.apps["shopify"].state.sandbox
    wms = shop.apps["wms"].state.sandbox
    milano = wms.warehouse_of("milano-store")
    sku = next(s for (s, w), r in sorted(wms.stock.items()) if w == milano and r.on_hand - r.committed >= 2)
    in_store = shopify_state.available(sku, "milano-store")
    online = shopify_state.available(sku, "web-warehouse")
    async with httpx.AsyncClient(base_url=shop.urls["shopify"], timeout=10) as client:
        placed = await client.post(
            "/_sandbox/checkout",
            json={"lines": [{"sku": sku, "quantity": 1}], "location": "milano-store", "pickup": True},
        )
        assert placed.status_code == 200, placed.text
        assert shopify_state.available(sku, "milano-store") == in_store - 1  # Shopify committed it

        [reserved] = await Engine(config, store).sync(["stock"])
        assert reserved.status == "ok", reserved.errors
        [held] = store.orders.open_orders(["shop"])
        assert (held.location, held.pickup, held.lines) == ("milano-store", True, ((sku, 1),))
        # the store's unit stays held (the truth still counts it on the shelf); the web warehouse is untouched
        assert shopify_state.available(sku, "milano-store") == in_store - 1
        assert shopify_state.available(sku, "web-warehouse") == online

        token = demo_credentials()["OMNIHUB_DEMO_SHOPIFY_TOKEN"]
        cancelled = await client.post(
            "/admin/api/2026-07/graphql.json",
            json={"query": CANCEL, "variables": {"id": placed.json()["id"]}},
            headers={"X-Shopify-Access-Token": token},
        )
        assert not cancelled.json()["data"]["orderCancel"]["orderCancelUserErrors"]
    [released] = await Engine(config, store).sync(["stock"])
    assert released.status == "ok", released.errors
    assert store.orders.open_orders() == []
    assert shopify_state.available(sku, "milano-store") == in_store
    store.close()
