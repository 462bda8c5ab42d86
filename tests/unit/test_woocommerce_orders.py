"""WooCommerce orders and webhook subscriptions against mocked HTTP (respx), fed with the real
captures: what ``pull_orders`` asks for with and without a cursor, how it reads orders (status,
lines, location, click and collect) and rejects the ones it cannot, and what ``register_webhooks``
creates."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.order_pull import read_order
from hub.errors import ConfigError
from hub.model.base import RecordInvalid
from hub.model.orders import OrderStatus
from tests.conftest import TEST_SECRETS

API = "https://shop.example.com/wp-json/wc/v3"
CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-captures"
LISTED = json.loads((CAPTURES / "73_orders_list_after.json").read_text())
CANCELLED = json.loads((CAPTURES / "74_order_cancel.json").read_text())
WEBHOOK_1 = json.loads((CAPTURES / "76_webhook_1_get.json").read_text())


def connector(**overrides: Any) -> WooCommerceConnector:
    values: dict[str, Any] = {
        "type": "woocommerce",
        "url": "https://shop.example.com",
        "consumer_key": TEST_SECRETS[1],
        "consumer_secret": TEST_SECRETS[2],
        "location": "web-warehouse",
        "max_attempts": 2,
        "webhook_secret": "capture-secret",
    }
    values.update(overrides)
    return WooCommerceConnector("web", WooCommerceSettings.model_validate(values))


def query(route: respx.Route, index: int = 0) -> dict[str, str]:
    url = str(route.calls[index].request.url)
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def pickup(order: dict[str, Any], method: str, instance: str) -> dict[str, Any]:
    changed = copy.deepcopy(order)
    changed["shipping_lines"] = [
        {"id": 9, "method_id": method, "method_title": "Pickup", "instance_id": instance, "total": "0.00"}
    ]
    return changed


@respx.mock
async def test_without_a_cursor_the_orders_holding_stock_are_read_by_id() -> None:
    route = respx.get(f"{API}/orders").mock(
        return_value=httpx.Response(200, json=LISTED, headers={"X-WP-Total": "4", "X-WP-TotalPages": "1"})
    )
    async with connector() as woo:
        pages = [page async for page in woo.pull_orders(None)]
    asked = query(route)
    assert asked["status"] == "processing,on-hold"
    assert (asked["orderby"], asked["order"], asked["per_page"]) == ("id", "asc", "100")
    assert "modified_after" not in asked
    orders = [o for page in pages for o in page.orders]
    assert [o.order_id for o in orders] == ["241", "242", "243", "247"]
    assert all(o.status is OrderStatus.open and o.location == "web-warehouse" and not o.pickup for o in orders)
    assert [(line.sku, line.quantity) for line in orders[-1].lines] == [("RW-S-0010", 2), ("RW-V6-XXL", 1)]
    assert pages[-1].cursor == "2026-11-30T09:50:21"


@respx.mock
async def test_with_a_cursor_every_order_modified_after_it_oldest_first() -> None:
    route = respx.get(f"{API}/orders").mock(return_value=httpx.Response(200, json=[CANCELLED]))
    async with connector() as woo:
        pages = [page async for page in woo.pull_orders("2026-11-30T09:50:21")]
    asked = query(route)
    assert asked["modified_after"] == "2026-11-30T09:50:20"  # less cursor_overlap_s
    assert (asked["dates_are_gmt"], asked["orderby"], asked["order"]) == ("true", "modified", "asc")
    assert "status" not in asked
    (order,) = pages[0].orders
    assert order.status is OrderStatus.cancelled and not order.status.reserves
    assert pages[0].cursor == "2026-11-30T09:50:22"


@respx.mock
async def test_a_bad_order_is_rejected_with_its_reason_and_the_pull_goes_on() -> None:
    no_sku = copy.deepcopy(LISTED[0])
    no_sku["line_items"][0]["sku"] = ""
    unknown = {**copy.deepcopy(LISTED[1]), "status": "wc-custom"}
    respx.get(f"{API}/orders").mock(return_value=httpx.Response(200, json=[no_sku, unknown, LISTED[2]]))
    async with connector() as woo:
        (page,) = [page async for page in woo.pull_orders(None)]
    assert [o.order_id for o in page.orders] == ["243"]
    reasons = {order_id: reason for order_id, reason, _origin in page.rejected}
    assert "has no SKU" in reasons["241"] and f"product {no_sku['line_items'][0]['product_id']}" in reasons["241"]
    assert "wc-custom" in reasons["242"]
    assert {origin for *_, origin in page.rejected} == {"woocommerce order 241", "woocommerce order 242"}


def test_a_line_without_a_product_holds_no_stock_and_is_left_out() -> None:
    order = copy.deepcopy(LISTED[0])
    order["line_items"][0].update(product_id=0, variation_id=0, sku=None)
    read = read_order("web", order, location="web-warehouse", pickup_locations={})
    assert [line.sku for line in read.lines] == ["RW-V5-M"]


def test_click_and_collect_maps_the_most_specific_shipping_method_first() -> None:
    mapping = {"local_pickup": "store-any", "local_pickup:7": "store-north"}
    north = read_order("web", pickup(LISTED[0], "local_pickup", "7"), location="web", pickup_locations=mapping)
    other = read_order("web", pickup(LISTED[0], "local_pickup", "8"), location="web", pickup_locations=mapping)
    assert (north.location, north.pickup) == ("store-north", True)
    assert (other.location, other.pickup) == ("store-any", True)
    shipped = read_order("web", pickup(LISTED[0], "flat_rate", "1"), location="web", pickup_locations=mapping)
    assert (shipped.location, shipped.pickup) == ("web", False)


def test_an_unmapped_pickup_is_refused_saying_what_to_add() -> None:
    with pytest.raises(RecordInvalid) as caught:
        read_order("web", pickup(LISTED[0], "pickup_location", "3"), location="web", pickup_locations={})
    assert "pickup_locations" in caught.value.reason and "pickup_location:3" in caught.value.reason
    # A cancelled one reserves nothing: its release still reaches the hub.
    cancelled = {**pickup(LISTED[0], "pickup_location", "3"), "status": "cancelled"}
    assert read_order("web", cancelled, location="web", pickup_locations={}).status is OrderStatus.cancelled


def test_pickup_locations_are_checked_when_the_settings_load() -> None:
    with pytest.raises(ValueError, match="pickup_locations"):
        connector(pickup_locations={"local_pickup": "not a code"})


@respx.mock
async def test_register_webhooks_creates_only_the_missing_topics_for_the_url() -> None:
    url = WEBHOOK_1["delivery_url"]
    other = {**WEBHOOK_1, "id": 2, "topic": "order.updated", "delivery_url": "https://elsewhere.example/hook"}
    respx.get(f"{API}/webhooks").mock(return_value=httpx.Response(200, json=[WEBHOOK_1, other]))
    created: list[dict[str, Any]] = []

    def create(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        created.append(body)
        return httpx.Response(201, json={**WEBHOOK_1, "id": 10 + len(created), "topic": body["topic"]})

    respx.post(f"{API}/webhooks").mock(side_effect=create)
    async with connector() as woo:
        subscriptions = await woo.register_webhooks(url, "s3cret")
    assert [b["topic"] for b in created] == ["order.updated", "product.updated"]
    assert all(b["delivery_url"] == url and b["secret"] == "s3cret" for b in created)
    assert [(s.topic, s.created) for s in subscriptions] == [
        ("order.created", False),
        ("order.updated", True),
        ("product.updated", True),
    ]


@respx.mock
async def test_a_disabled_subscription_is_set_active_again_not_doubled() -> None:
    disabled = {**WEBHOOK_1, "status": "disabled"}
    respx.get(f"{API}/webhooks").mock(return_value=httpx.Response(200, json=[disabled]))
    put = respx.put(f"{API}/webhooks/1").mock(return_value=httpx.Response(200, json=WEBHOOK_1))
    respx.post(f"{API}/webhooks").mock(return_value=httpx.Response(201, json={**WEBHOOK_1, "id": 5}))
    async with connector() as woo:
        subscriptions = await woo.register_webhooks(WEBHOOK_1["delivery_url"], None)
    assert json.loads(put.calls[0].request.content) == {"status": "active", "secret": "capture-secret"}
    assert subscriptions[0].status == "active" and not subscriptions[0].created


async def test_register_webhooks_without_any_secret_is_a_config_error() -> None:
    async with connector(webhook_secret=None) as woo:
        with pytest.raises(ConfigError, match="webhook_secret"):
            await woo.register_webhooks("https://hub.example/webhooks/web", None)
