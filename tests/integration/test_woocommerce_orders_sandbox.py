"""The WooCommerce connector's orders and webhook subscriptions against the sandbox on loopback:
a paid order takes stock and is read as open, cancelling it gives the stock back and reaches the
next incremental pull, click and collect is read from the mapped shipping method, and
``register_webhooks`` run twice subscribes each topic once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.sandbox import create_app
from hub.model.orders import OrderStatus
from hub.sandbox.deliveries import WebhookSender
from hub.sandbox.kit import ServedApp, serve

KEY, SECRET = "ck_orders_0123456789", "cs_orders_0123456789"


@pytest.fixture
def shop() -> Iterator[ServedApp]:
    sender = WebhookSender()
    sender.configure(attempts=1)
    with serve(create_app(consumer_key=KEY, consumer_secret=SECRET, webhook_sender=sender)) as served:
        yield served


def connector(served: ServedApp, **settings: Any) -> WooCommerceConnector:
    values = {
        "type": "woocommerce",
        "url": served.url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "location": "web-warehouse",
        "webhook_secret": "hub-secret",
        **settings,
    }
    return WooCommerceConnector("web", WooCommerceSettings.model_validate(values))


def a_simple_product(served: ServedApp) -> dict[str, Any]:
    state = served.app.state.sandbox
    return next(p for p in state.products.values() if p["type"] == "simple" and p["manage_stock"])


async def place(woo: WooCommerceConnector, product_id: int, quantity: int, **body: Any) -> dict[str, Any]:
    order = {"set_paid": True, "line_items": [{"product_id": product_id, "quantity": quantity}], **body}
    reply = await woo.client.transport.post("orders", json=order)
    assert reply.status == 201
    return dict(reply.data)


async def test_a_paid_order_takes_stock_and_its_cancellation_gives_it_back() -> None:
    with serve(create_app(consumer_key=KEY, consumer_secret=SECRET)) as served:
        state = served.app.state.sandbox
        product = a_simple_product(served)
        before = product["stock_quantity"]
        async with connector(served) as woo:
            placed = await place(woo, product["id"], 2)
            assert state.item(product["sku"])["stock_quantity"] == before - 2
            pages = [page async for page in woo.pull_orders(None)]
            (order,) = [o for page in pages for o in page.orders]
            assert (order.order_id, order.status, order.location) == (
                str(placed["id"]),
                OrderStatus.open,
                "web-warehouse",
            )
            assert [(line.sku, line.quantity) for line in order.lines] == [(product["sku"], 2)]
            cursor = pages[-1].cursor
            assert cursor is not None

            await woo.client.transport.request("PUT", f"orders/{placed['id']}", json={"status": "cancelled"})
            assert state.item(product["sku"])["stock_quantity"] == before
            changed = [o for page in [p async for p in woo.pull_orders(cursor)] for o in page.orders]
            assert [(o.order_id, o.status) for o in changed] == [(str(placed["id"]), OrderStatus.cancelled)]
            # The stock pool is no longer held by it: a pull without a cursor finds no open order.
            assert [o for page in [p async for p in woo.pull_orders(None)] for o in page.orders] == []


async def test_click_and_collect_is_read_from_the_mapped_shipping_method(shop: ServedApp) -> None:
    product = a_simple_product(shop)
    shipping = [{"method_id": "local_pickup", "method_title": "Pick up in store", "instance_id": "3"}]
    async with connector(shop, pickup_locations={"local_pickup:3": "store-north"}) as woo:
        collected = await place(woo, product["id"], 1, shipping_lines=shipping)
        unmapped = [{"method_id": "pickup_location", "method_title": "Pickup", "instance_id": "9"}]
        refused = await place(woo, product["id"], 1, shipping_lines=unmapped)
        (page,) = [page async for page in woo.pull_orders(None)]
    assert [(o.order_id, o.location, o.pickup) for o in page.orders] == [(str(collected["id"]), "store-north", True)]
    ((order_id, reason, _origin),) = page.rejected
    assert order_id == str(refused["id"]) and "pickup_locations" in reason


async def test_register_webhooks_twice_subscribes_each_topic_once(shop: ServedApp) -> None:
    url = "http://127.0.0.1:9/webhooks/web"  # nothing listens: pings fail, as they may
    async with connector(shop) as woo:
        first = await woo.register_webhooks(url, None)
        second = await woo.register_webhooks(url, None)
        listed = await woo.list_webhooks()
    assert sorted((s.topic, s.created) for s in first) == [
        ("order.created", True),
        ("order.updated", True),
        ("product.updated", True),
    ]
    assert [s.created for s in second] == [False, False, False]
    assert sorted(s.topic for s in listed) == ["order.created", "order.updated", "product.updated"]
    assert {s.id for s in second} == {s.id for s in first}
