"""Shopify webhook deliveries from the sandbox to a real HTTP receiver on loopback: signed as Shopify
signs them, read by ``parse_webhook`` with the app's secret and refused with another; the sender's
duplicate and reorder knobs set over ``/_sandbox/webhooks``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import create_app, location_gids
from connectors.shopify.webhooks import parse_webhook
from hub.plugins.webhooks import WebhookRefused
from hub.sandbox.deliveries import WebhookSender
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import demo_store
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]
SECRET = "shpss_test_client_secret_0001"
SKU = "JKT-ALPINE-M"


@pytest.fixture
def receiver() -> Iterator[tuple[ServedApp, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        got.append((dict(request.headers), await request.body()))
        return Response(status_code=200)

    with serve(Starlette(routes=[Route("/webhooks/shop", hook, methods=["POST"])])) as running:
        yield running, got


@pytest.fixture
def shop() -> Iterator[ServedApp]:
    app = create_app(demo_store(), access_token=TOKEN, client_secret=SECRET, webhook_sender=WebhookSender(seed=3))
    with serve(app) as running:
        yield running


def connector(shop: ServedApp) -> ShopifyConnector:
    settings = ShopifySettings(
        shop="demo.myshopify.com",
        access_token=TOKEN,
        base_url=shop.url,
        locations=location_gids(demo_store()),
        webhook_secret=SECRET,
    )
    return ShopifyConnector("shop", settings)


def checkout(shop: ServedApp, quantity: int) -> str:
    reply = httpx.post(f"{shop.url}/_sandbox/checkout", json={"lines": [{"sku": SKU, "quantity": quantity}]})
    return str(reply.json()["id"])


def configure(shop: ServedApp, knobs: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{shop.url}/_sandbox/webhooks", json=knobs)


def wait_for(got: list[Any], count: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        time.sleep(0.02)


async def test_a_delivery_reaches_the_receiver_signed_with_the_app_secret(
    shop: ServedApp, receiver: tuple[ServedApp, list[tuple[dict[str, str], bytes]]]
) -> None:
    served, got = receiver
    async with connector(shop) as hub_side:
        await hub_side.register_webhooks(f"{served.url}/webhooks/shop", None)
    order_id = checkout(shop, 2)
    wait_for(got, 3)  # orders/create, orders/paid, inventory_levels/update
    topics = sorted(headers["x-shopify-topic"] for headers, _ in got)
    assert topics == ["inventory_levels/update", "orders/create", "orders/paid"]
    for headers, body in got:
        delivery = parse_webhook("shop", headers, body, SECRET)
        assert headers["x-shopify-shop-domain"] == "demo.myshopify.com"
        assert headers["x-shopify-api-version"] == "2026-07"
        assert headers["x-shopify-event-id"] and headers["x-shopify-triggered-at"]
        with pytest.raises(WebhookRefused):
            parse_webhook("shop", headers, body, "another-secret")
        if delivery.topic == "orders/create":
            payload = orjson.loads(body)
            assert payload["admin_graphql_api_id"] == order_id
            assert delivery.quantities == {SKU: 2}
            line = payload["line_items"][0]
            assert (line["fulfillable_quantity"], payload["financial_status"]) == (2, "paid")
        if delivery.topic == "inventory_levels/update":
            payload = orjson.loads(body)
            assert payload["available"] == 2  # milano-store had 4
            assert payload["admin_graphql_api_id"].startswith("gid://shopify/InventoryLevel/")


async def test_the_duplicate_and_reorder_knobs_show_in_what_was_sent(
    shop: ServedApp, receiver: tuple[ServedApp, list[tuple[dict[str, str], bytes]]]
) -> None:
    served, got = receiver
    async with connector(shop) as hub_side:
        await hub_side.register_webhooks(f"{served.url}/webhooks/shop", None)
    knobs = configure(shop, {"duplicates": 1.0, "reorder": True, "delay_s": [0, 0.05]})
    assert knobs.json()["reorder"] is True and len(knobs.json()["subscriptions"]) == 7
    checkout(shop, 1)
    sender: WebhookSender = shop.app.state.webhooks
    wait_for(got, 6)
    assert await sender.drain(5)
    sent = sender.sent
    assert len(sent) == 6 and sum(d.duplicate for d in sent) == 3
    ids = [d.headers["X-Shopify-Webhook-Id"] for d in sent]
    assert len(set(ids)) == 3  # a duplicate repeats its delivery's id, so the hub can drop it
    refused = configure(shop, {"duplicate": 1})
    assert refused.status_code == 400
