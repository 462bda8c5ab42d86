"""Shopify orders against the sandbox over loopback: what each mutation does to inventory, the
``orders`` search, and the connector's ``pull_orders`` and ``register_webhooks``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import create_app, location_gids
from hub.model.orders import OrderStatus
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, demo_store
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]
SKU = "JKT-ALPINE-M"  # 4 at milano-store, 35 at web-warehouse in the demo store

CREATE = """
mutation Create($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id fulfillmentOrders(first: 2) { nodes { id lineItems(first: 5) { nodes { id } } } } }
    userErrors { code field message }
  }
}"""
CANCEL = """
mutation Cancel($id: ID!) {
  orderCancel(orderId: $id, reason: CUSTOMER, restock: true, refund: false) { orderCancelUserErrors { code message } }
}"""
FULFIL = """
mutation Ship($fo: ID!, $line: ID!, $n: Int!) {
  fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [
    {fulfillmentOrderId: $fo, fulfillmentOrderLineItems: [{id: $line, quantity: $n}]}]}) {
    fulfillment { id status } userErrors { field message }
  }
}"""
ORDERS = """
query($q: String, $reverse: Boolean) {
  orders(first: 10, query: $q, sortKey: UPDATED_AT, reverse: $reverse) { nodes { id updatedAt cancelledAt } }
}"""


@pytest.fixture
def catalogue() -> Catalogue:
    return demo_store()


@pytest.fixture
def served(catalogue: Catalogue) -> Iterator[ServedApp]:
    with serve(create_app(catalogue, access_token=TOKEN)) as running:
        yield running


def gql(served: ServedApp, query: str, variables: dict[str, Any] | None = None, version: str = "2026-07") -> Any:
    reply = httpx.post(
        f"{served.url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": TOKEN},
    )
    return reply.json()


def checkout(served: ServedApp, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{served.url}/_sandbox/checkout", json=body)


def levels(served: ServedApp, code: str) -> tuple[int, int]:
    level = served.app.state.sandbox.level(SKU, code)
    return level.available, level.on_hand


def create(served: ServedApp, quantity: int, behaviour: str = "DECREMENT_OBEYING_POLICY") -> dict[str, Any]:
    variant = served.app.state.sandbox.variant(SKU).id
    order = {"lineItems": [{"variantId": variant, "quantity": quantity}], "financialStatus": "PENDING"}
    return gql(served, CREATE, {"order": order, "options": {"inventoryBehaviour": behaviour}})["data"]["orderCreate"]


def test_an_order_commits_its_units_cancel_restores_them_and_fulfilment_ships_them(served: ServedApp) -> None:
    before = levels(served, "web-warehouse")
    placed = create(served, 5)  # milano has 4: routed to the warehouse
    assert placed["userErrors"] == []
    assert levels(served, "web-warehouse") == (before[0] - 5, before[1])  # committed, still on hand
    assert levels(served, "milano-store") == (4, 4)
    fo = placed["order"]["fulfillmentOrders"]["nodes"][0]
    shipped = gql(served, FULFIL, {"fo": fo["id"], "line": fo["lineItems"]["nodes"][0]["id"], "n": 2})
    assert shipped["data"]["fulfillmentCreate"]["userErrors"] == []
    assert levels(served, "web-warehouse") == (before[0] - 5, before[1] - 2)
    gql(served, CANCEL, {"id": placed["order"]["id"]})
    assert levels(served, "web-warehouse") == (before[0] - 2, before[1] - 2)  # the 3 unshipped are back


def test_bypass_claims_nothing_and_obeying_policy_refuses_what_is_not_there(served: ServedApp) -> None:
    before = levels(served, "web-warehouse")
    assert create(served, 1, "BYPASS")["userErrors"] == []
    assert levels(served, "web-warehouse") == before
    refused = create(served, 500)
    assert [e["code"] for e in refused["userErrors"]] == ["INVENTORY_CLAIM_FAILED"]
    assert levels(served, "web-warehouse") == before


def test_orders_search_filters_by_update_time_and_status_and_sorts(served: ServedApp) -> None:
    first, second = create(served, 1)["order"]["id"], create(served, 1)["order"]["id"]
    gql(served, CANCEL, {"id": first})
    everything = gql(served, ORDERS, {"q": None})["data"]["orders"]["nodes"]
    assert [o["id"] for o in everything] == [second, first]  # the cancel touched the first one last
    newest_first = gql(served, ORDERS, {"q": None, "reverse": True})["data"]["orders"]["nodes"]
    assert [o["id"] for o in newest_first] == [first, second]
    assert [o["id"] for o in gql(served, ORDERS, {"q": "status:open"})["data"]["orders"]["nodes"]] == [second]
    since = everything[0]["updatedAt"]
    later = gql(served, ORDERS, {"q": f"updated_at:>'{since}'"})["data"]["orders"]["nodes"]
    assert [o["id"] for o in later] == [first]


def test_a_document_the_schema_refuses_is_refused(served: ServedApp) -> None:
    variant = served.app.state.sandbox.variant(SKU).id
    misspelt = {"inventoryBehavior": "DECREMENT_OBEYING_POLICY"}  # the schema spells it inventoryBehaviour
    reply = gql(served, CREATE, {"order": {"lineItems": [{"variantId": variant, "quantity": 1}]}, "options": misspelt})
    assert "data" not in reply and "inventoryBehavior" in reply["errors"][0]["message"]
    uri_in_2025_01 = (
        'mutation { webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: {uri: "x"}) '
        "{ userErrors { message } } }"
    )
    app = create_app(demo_store(), access_token=TOKEN, oldest_supported="2025-01")
    with serve(app) as old:
        assert "errors" in gql(old, uri_in_2025_01, version="2025-01")
    assert served.app.state.sandbox.orders == []


def connector(served: ServedApp, catalogue: Catalogue, **overrides: Any) -> ShopifyConnector:
    options = {
        "shop": "demo.myshopify.com",
        "access_token": TOKEN,
        "base_url": served.url,
        "locations": location_gids(catalogue),
        **overrides,
    }
    return ShopifyConnector("shop", ShopifySettings(**options))


async def test_pull_orders_reads_what_holds_stock_then_the_cancel_after_the_cursor(
    served: ServedApp, catalogue: Catalogue
) -> None:
    kept, cancelled = create(served, 2)["order"]["id"], create(served, 1)["order"]["id"]
    async with connector(served, catalogue) as shop:
        pages = [page async for page in shop.pull_orders(None)]
        orders = {o.order_id: o for p in pages for o in p.orders}
        assert set(orders) == {kept, cancelled}
        assert orders[kept].status is OrderStatus.open
        assert [(line.sku, line.quantity) for line in orders[kept].lines] == [(SKU, 2)]
        assert orders[kept].location == "milano-store"  # the first location that has 2
        cursor = pages[-1].cursor
        assert cursor is not None
        gql(served, CANCEL, {"id": cancelled})
        later = [o for page in [p async for p in shop.pull_orders(cursor)] for o in page.orders]
    assert [(o.order_id, o.status) for o in later] == [(cancelled, OrderStatus.cancelled)]


async def test_a_pickup_order_is_reserved_at_its_store_and_an_unmapped_store_is_rejected(
    served: ServedApp, catalogue: Catalogue
) -> None:
    reply = checkout(served, {"lines": [{"sku": SKU, "quantity": 1}], "location": "milano-store", "pickup": True})
    assert levels(served, "milano-store") == (3, 4)
    warehouse_only = {gid: code for gid, code in location_gids(catalogue).items() if code == "web-warehouse"}
    async with connector(served, catalogue) as shop:
        [order] = [o async for page in shop.pull_orders(None) for o in page.orders]
        assert (order.order_id, order.location, order.pickup) == (reply.json()["id"], "milano-store", True)
    async with connector(served, catalogue, locations=warehouse_only) as shop:
        pages = [page async for page in shop.pull_orders(None)]
    assert [o for p in pages for o in p.orders] == []
    [(_, reason, _)] = [r for p in pages for r in p.rejected]
    assert reply.json()["location"] in reason and "`locations`" in reason


@pytest.mark.parametrize("version", ["2025-01", "2026-07"])
async def test_register_webhooks_twice_creates_each_topic_once(
    served: ServedApp, catalogue: Catalogue, version: str
) -> None:
    url = "http://127.0.0.1:9/webhooks/shop"
    async with connector(served, catalogue, api_version=version) as shop:
        first = await shop.register_webhooks(url, None)
        again = await shop.register_webhooks(url, None)
        listed = await shop.list_webhooks()
    assert len(first) == 7 and all(s.created for s in first)
    assert {s.topic for s in again} == {s.topic for s in first} and not any(s.created for s in again)
    assert "orders/create" in {s.topic for s in listed} and {s.url for s in listed} == {url}
    assert len(served.app.state.webhook_hub.subscriptions) == 7
