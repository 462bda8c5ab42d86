"""API versions, cost limits and points spent, against the Shopify sandbox; and Shopify's official
Python client (``ShopifyAPI``, a test dependency only) as an outside witness that the sandbox answers
GraphQL as Shopify does."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import shopify

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.queries import BULK_RUN
from connectors.shopify.sandbox import create_app, location_gids
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, demo_store, synthetic
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]


@pytest.fixture
def served() -> Iterator[ServedApp]:
    with serve(create_app(demo_store(), access_token=TOKEN)) as running:
        yield running


def make(served: ServedApp, catalogue: Catalogue, **overrides: object) -> ShopifyConnector:
    settings = ShopifySettings(
        shop="demo.myshopify.com",
        access_token=TOKEN,
        base_url=served.url,
        verify_tls=False,
        locations=location_gids(catalogue),
        **overrides,  # type: ignore[arg-type]
    )
    mapping = load_mapping("shopify", settings={"locations": settings.locations})
    return ShopifyConnector("shop", settings, ConnectorContext(mapping=mapping))


def post(served: ServedApp, version: str, query: str, variables: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(
        f"{served.url}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": TOKEN},
    )


def test_a_retired_version_is_served_as_the_oldest_supported_and_named_in_the_header(served: ServedApp) -> None:
    old = post(served, "2025-01", "{ shop { name } }")
    new = post(served, "2026-07", "{ shop { name } }")
    assert old.headers["X-Shopify-API-Version"] == "2025-10" and old.json()["data"]["shop"]["name"] == "demo"
    assert new.headers["X-Shopify-API-Version"] == "2026-07"
    # Each version runs against its own schema: 2026-07 has no compareQuantity any more.
    text = 'query { __type(name: "InventoryQuantityInput") { inputFields(includeDeprecated: true) { name } } }'
    fields = {
        v: {f["name"] for f in post(served, v, text).json()["data"]["__type"]["inputFields"]}
        for v in ("2025-10", "2026-07")
    }
    assert "compareQuantity" in fields["2025-10"] and "compareQuantity" not in fields["2026-07"]
    assert "changeFromQuantity" in fields["2026-07"]
    unknown = post(served, "2026-04", "{ shop { name } }")
    assert unknown.status_code == 404 and "2026-04" in unknown.json()["errors"]


async def test_a_version_mismatch_is_warned_once_per_connector(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = demo_store()
    # Plays April 2027: 2025-10 is retired, so a connector still asking for it is answered as 2026-07.
    with serve(create_app(catalogue, access_token=TOKEN, oldest_supported="2026-07")) as served:
        async with make(served, catalogue, api_version="2025-10") as connector:
            with caplog.at_level(logging.WARNING, logger="omnihub.connectors.shopify"):
                await connector.ping()
                await connector.ping()
        async with make(served, catalogue) as current:
            await current.ping()
    warnings = [r.getMessage() for r in caplog.records if "answered as" in r.getMessage()]
    assert warnings == [
        "shop: asked for Shopify API version 2025-10, answered as 2026-07 (Shopify serves a retired version as the "
        "oldest supported one); set `api_version` to a supported version, such as the latest stable 2026-07"
    ]


def test_a_query_over_1000_points_is_refused_with_shopifys_message(served: ServedApp) -> None:
    text = "{ productVariants(first: 250) { nodes { product { id } inventoryItem { id } selectedOptions { name } } } }"
    body = post(served, "2026-07", text).json()
    assert "data" not in body
    assert body["errors"][0]["message"] == ("Query cost is 1002, which exceeds the single query max cost limit (1000).")


def test_a_bulk_query_beyond_the_nesting_limit_is_refused(served: ServedApp) -> None:
    deep = (
        "{ locations { edges { node { inventoryLevels { edges { node {"
        " item { variants { edges { node { id } } } } } } } } } } }"
    )
    body = post(served, "2026-07", BULK_RUN.text, {"query": deep}).json()
    [error] = body["data"]["bulkOperationRunQuery"]["userErrors"]
    assert body["data"]["bulkOperationRunQuery"]["bulkOperation"] is None and "nested more than 2" in error["message"]
    assert body["extensions"]["cost"]["actualQueryCost"] == 10  # a mutation, whatever it selects


async def test_a_full_prices_pull_of_10000_variants_spends_under_100_points() -> None:
    catalogue = synthetic(10_000, locations=1)
    with serve(create_app(catalogue, access_token=TOKEN)) as served:
        async with make(served, catalogue) as connector:
            rows = 0
            async for page in connector.pull(Entity.prices):
                rows += len(page.records)
            stats = connector.transport_stats
        charged = served.app.state.sandbox.bucket  # the store's own account of the bucket
    assert rows == 10_000 and connector.read_mode[Entity.prices] == "bulk"
    assert stats is not None and 0 < stats.points < 100, stats.points
    # The client's tally is what the store charged: the bucket is down by exactly that much (less refills).
    assert charged.size - charged.available() <= stats.points


def test_shopifys_official_client_queries_and_mutates_the_sandbox(served: ServedApp) -> None:
    """``shopify.GraphQL()`` as a Shopify app uses it; only the site is pointed at the sandbox."""
    session = shopify.Session("demo.myshopify.com", "2026-07", TOKEN)
    shopify.ShopifyResource.activate_session(session)
    try:
        shopify.ShopifyResource.set_site(f"{served.url}/admin/api/2026-07")
        client = shopify.GraphQL()
        listed = json.loads(
            client.execute(
                "query($n: Int!) { productVariants(first: $n) { nodes { id sku price product { id } } } }",
                variables={"n": 2},
            )
        )
        variant = listed["data"]["productVariants"]["nodes"][0]
        updated = json.loads(
            client.execute(
                """mutation Price($product: ID!, $variants: [ProductVariantsBulkInput!]!) {
                  productVariantsBulkUpdate(productId: $product, variants: $variants) {
                    productVariants { id price } userErrors { code field message }
                  }
                }""",
                variables={"product": variant["product"]["id"], "variants": [{"id": variant["id"], "price": "12.34"}]},
                operation_name="Price",
            )
        )
    finally:
        shopify.ShopifyResource.clear_session()
    assert len(listed["data"]["productVariants"]["nodes"]) == 2
    assert listed["extensions"]["cost"]["requestedQueryCost"] == 2 + 2 * 2
    payload = updated["data"]["productVariantsBulkUpdate"]
    assert payload["userErrors"] == [] and payload["productVariants"] == [{"id": variant["id"], "price": "12.34"}]
    assert served.app.state.sandbox.variant(variant["sku"]).price == "12.34"
