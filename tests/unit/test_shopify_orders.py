"""Shopify orders: the documents against every shipped schema, an order node read into the hub's
``Order``, and ``pull_orders`` over a mocked endpoint (respx)."""

from __future__ import annotations

from typing import Any

import graphql
import httpx
import pytest
import respx

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify import order_queries as oq
from connectors.shopify.connector import rest_topic
from connectors.shopify.order_pull import shopify_order
from connectors.shopify.schemas import VERSIONS, published_schema
from hub.sdk import OrderStatus, RecordInvalid
from tests.conftest import TEST_SECRETS

LOCATIONS = {"gid://shopify/Location/1": "milano-store", "gid://shopify/Location/2": "web-warehouse"}


@pytest.mark.parametrize("version", VERSIONS)
def test_each_document_is_valid_in_the_versions_it_is_sent_to(version: str) -> None:
    sent = {oq.ORDERS, oq.webhook_list_for(version), oq.webhook_create_for(version)}
    for document in sent:
        errors = graphql.validate(published_schema(version), graphql.parse(document.text))
        assert errors == [], (version, document.name, [e.message for e in errors])


def test_the_uri_documents_are_refused_by_2025_01_so_they_are_never_sent_there() -> None:
    for document in (oq.WEBHOOKS_URI, oq.WEBHOOK_CREATE_URI):
        assert graphql.validate(published_schema("2025-01"), graphql.parse(document.text))
    assert oq.webhook_create_for("2025-07") is oq.WEBHOOK_CREATE_CALLBACK
    assert oq.webhook_create_for("2025-10") is oq.WEBHOOK_CREATE_URI


def node(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "gid://shopify/Order/1",
        "name": "#1001",
        "createdAt": "2026-11-01T10:00:00Z",
        "updatedAt": "2026-11-01T10:05:00Z",
        "cancelledAt": None,
        "closed": False,
        "displayFinancialStatus": "PENDING",
        "displayFulfillmentStatus": "PARTIALLY_FULFILLED",
        "lineItems": {
            "nodes": [
                {
                    "id": "L1",
                    "sku": "A-1",
                    "quantity": 3,
                    "currentQuantity": 3,
                    "unfulfilledQuantity": 2,
                    "variant": {"id": "V1"},
                },
                {
                    "id": "L2",
                    "sku": "B-1",
                    "quantity": 1,
                    "currentQuantity": 1,
                    "unfulfilledQuantity": 0,
                    "variant": {"id": "V2"},
                },
                {
                    "id": "L3",
                    "sku": None,
                    "quantity": 1,
                    "currentQuantity": 1,
                    "unfulfilledQuantity": 1,
                    "variant": None,
                },
            ],
            "pageInfo": {"hasNextPage": False},
        },
        "fulfillmentOrders": {
            "nodes": [
                {
                    "status": "CLOSED",
                    "assignedLocation": {"location": {"id": "gid://shopify/Location/2"}},
                    "deliveryMethod": {"methodType": "SHIPPING"},
                },
                {
                    "status": "OPEN",
                    "assignedLocation": {"location": {"id": "gid://shopify/Location/1"}},
                    "deliveryMethod": {"methodType": "PICK_UP"},
                },
            ]
        },
    }
    return {**base, **overrides}


def test_an_unpaid_open_order_reserves_the_units_left_to_ship_at_its_pickup_store() -> None:
    order = shopify_order("shop", node(), LOCATIONS)
    assert order.status is OrderStatus.open
    assert [(line.sku, line.quantity, line.line_id) for line in order.lines] == [("A-1", 2, "L1")]
    assert (order.location, order.pickup) == ("milano-store", True)


def test_an_order_at_an_unmapped_location_is_refused_naming_the_gid_and_the_setting() -> None:
    with pytest.raises(RecordInvalid) as caught:
        shopify_order("shop", node(), {"gid://shopify/Location/2": "web-warehouse"})
    assert "gid://shopify/Location/1" in str(caught.value)
    assert "`locations`" in str(caught.value)


def test_a_cancelled_order_at_an_unmapped_location_is_still_read_so_its_release_arrives() -> None:
    order = shopify_order("shop", node(cancelledAt="2026-11-02T00:00:00Z"), {})
    assert order.status is OrderStatus.cancelled
    assert order.location is None


def test_a_variant_line_without_a_sku_refuses_the_order() -> None:
    lines = node()["lineItems"]
    lines["nodes"][0]["sku"] = ""
    with pytest.raises(RecordInvalid, match="no SKU"):
        shopify_order("shop", node(lineItems=lines), LOCATIONS)


def test_topics_are_named_as_the_delivery_header_names_them() -> None:
    assert rest_topic("ORDERS_CREATE") == "orders/create"
    assert rest_topic("INVENTORY_LEVELS_UPDATE") == "inventory_levels/update"


def connector() -> ShopifyConnector:
    settings = ShopifySettings(
        shop="demo.myshopify.com",
        access_token=TEST_SECRETS[0],
        locations=LOCATIONS,
    )
    return ShopifyConnector("shop", settings)


def answer(nodes: list[dict[str, Any]], more: bool = False, cursor: str | None = None) -> httpx.Response:
    cost = {
        "requestedQueryCost": 900,
        "actualQueryCost": 50,
        "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 950.0, "restoreRate": 100.0},
    }
    data = {"orders": {"nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": cursor}}}
    return httpx.Response(200, json={"data": data, "extensions": {"cost": cost}})


@respx.mock
async def test_pull_orders_pages_rejects_bad_orders_and_keeps_going() -> None:
    unmapped = node(id="gid://shopify/Order/2", updatedAt="2026-11-01T11:00:00Z")
    unmapped["fulfillmentOrders"] = {
        "nodes": [
            {
                "status": "OPEN",
                "deliveryMethod": {"methodType": "SHIPPING"},
                "assignedLocation": {"location": {"id": "gid://shopify/Location/9"}},
            }
        ]
    }
    fulfilled = node(id="gid://shopify/Order/3", displayFulfillmentStatus="FULFILLED", updatedAt="2026-11-01T12:00:00Z")
    route = respx.post("https://demo.myshopify.com/admin/api/2026-07/graphql.json").mock(
        side_effect=[answer([node(), unmapped], more=True, cursor="c1"), answer([fulfilled])]
    )
    pages = []
    async with connector() as shop:
        async for page in shop.pull_orders(None):
            pages.append(page)
    assert len(route.calls) == 2
    first = route.calls[0].request.read()
    assert b"status:open" in first and b"UPDATED_AT" in first
    assert [o.order_id for p in pages for o in p.orders] == ["gid://shopify/Order/1"]  # the fulfilled one holds nothing
    assert [r[0] for r in pages[0].rejected] == ["gid://shopify/Order/2"]
    assert pages[-1].cursor == "2026-11-01T12:00:00Z"


@respx.mock
async def test_an_incremental_pull_asks_for_every_order_updated_after_the_cursor() -> None:
    cancelled = node(cancelledAt="2026-11-02T00:00:00Z", updatedAt="2026-11-02T00:00:01Z")
    route = respx.post("https://demo.myshopify.com/admin/api/2026-07/graphql.json").mock(
        return_value=answer([cancelled])
    )
    async with connector() as shop:
        pages = [p async for p in shop.pull_orders("2026-11-01T10:05:00Z")]
    assert b"updated_at:>'2026-11-01T10:05:00Z'" in route.calls[0].request.read()
    assert [o.status for o in pages[0].orders] == [OrderStatus.cancelled]
    assert pages[0].cursor == "2026-11-02T00:00:01Z"
