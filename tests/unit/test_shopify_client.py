"""The Shopify connector's error paths and mapping, with HTTP mocked by respx."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.bulk import reassemble
from hub.errors import AuthError, FatalError
from hub.model.base import Consent, Entity
from hub.plugins.contract import Change, ConnectorContext
from hub.plugins.mapping import load_mapping
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]
URL = "https://demo.myshopify.com/admin/api/2026-07/graphql.json"
URL_2025_10 = URL.replace("2026-07", "2025-10")
LOCATIONS = {"gid://shopify/Location/1": "milano-store"}


def cost(available: float = 900, requested: int = 10, actual: int | None = 10) -> dict[str, Any]:
    status = {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 1000.0}
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}}


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": data, "extensions": cost()})


VARIANT = {
    "id": "gid://shopify/ProductVariant/1",
    "sku": "TEE-M",
    "barcode": "8002234500017",
    "title": "M",
    "displayName": "Tee - M",
    "price": "19.90",
    "compareAtPrice": None,
    "updatedAt": "2026-02-01T10:00:00Z",
    "product": {"id": "gid://shopify/Product/1", "title": "Tee", "handle": "tee", "status": "DRAFT"},
    "inventoryItem": {"id": "gid://shopify/InventoryItem/1"},
}
PAGE = {"productVariants": {"nodes": [VARIANT], "pageInfo": {"hasNextPage": False, "endCursor": "c1"}}}


def connector(**overrides: Any) -> ShopifyConnector:
    # A fast restore rate: a failed request's cost stays spent in the bucket mirror, which would
    # otherwise make the retry tests wait for real.
    options = {"restore_rate": 100000.0, **overrides}
    settings = ShopifySettings(shop="demo.myshopify.com", access_token=TOKEN, locations=LOCATIONS, **options)
    return ShopifyConnector(
        "shop", settings, ConnectorContext(mapping=load_mapping("shopify", settings={"locations": LOCATIONS}))
    )


async def pull(c: ShopifyConnector, entity: Entity, since: str | None = None) -> list[Any]:
    out = []
    async for page in c.pull(entity, since):
        out.extend(page.records)
    return out


@respx.mock
async def test_variant_rows_map_to_canonical_records() -> None:
    route = respx.post(URL).mock(return_value=ok(PAGE))
    async with connector() as c:
        [raw] = await pull(c, Entity.prices, since="2026-01-01T00:00:00Z")
    mapping = c.context.mapping
    assert mapping is not None
    price = mapping[Entity.prices].to_canonical(raw)
    product = mapping[Entity.products].to_canonical(raw)
    assert (price.amount, price.compare_at, price.currency) == (Decimal("19.90"), None, "EUR")
    assert (product.status, product.group, product.title) == ("draft", "tee", "Tee - M")
    assert raw.link == {
        "variant_id": VARIANT["id"],
        "product_id": "gid://shopify/Product/1",
        "inventory_item_id": "gid://shopify/InventoryItem/1",
    }
    sent = json.loads(route.calls[0].request.content)
    assert sent["variables"]["query"] == "updated_at:>'2026-01-01T00:00:00Z'" and sent["variables"]["first"] == 250
    assert route.calls[0].request.headers["X-Shopify-Access-Token"] == TOKEN


def test_customer_consent_maps_both_ways() -> None:
    mapping = load_mapping("shopify")[Entity.customers]
    row = {
        "email": " Anna@Example.com ",
        "tags": ["b", "a"],
        "updatedAt": "2026-01-01T00:00:00Z",
        "emailMarketingConsent": {"marketingState": "NOT_SUBSCRIBED", "consentUpdatedAt": None},
    }
    from hub.plugins.contract import RawRecord

    customer = mapping.to_canonical(RawRecord(row))
    assert (customer.email, customer.email_marketing, customer.tags) == ("anna@example.com", Consent.never, ("a", "b"))
    assert mapping.to_platform({"email_marketing": Consent.never}) == {
        "emailMarketingConsent": {"marketingState": "NOT_SUBSCRIBED"}
    }
    assert mapping.to_platform({"email_marketing": Consent.unsubscribed}) == {
        "emailMarketingConsent": {"marketingState": "UNSUBSCRIBED"}
    }


@respx.mock
async def test_throttled_200_is_retried_after_the_wait_the_cost_block_implies() -> None:
    throttled = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": cost(available=0, requested=30, actual=None),
    }
    route = respx.post(URL).mock(side_effect=[httpx.Response(200, json=throttled), ok(PAGE)])
    async with connector() as c:
        rows = await pull(c, Entity.prices, since="2026-01-01T00:00:00Z")
        stats = c.transport_stats
    assert len(rows) == 1 and route.call_count == 2
    assert stats is not None and stats.throttled == 1 and stats.throttled_in_a_row_max == 1


@respx.mock
async def test_429_and_5xx_are_retried() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(502, text="bad gateway"),
            ok(PAGE),
        ]
    )
    async with connector() as c:
        rows = await pull(c, Entity.prices, since="2026-01-01T00:00:00Z")
        assert c.transport_stats is not None and c.transport_stats.retries == 2
    assert len(rows) == 1 and route.call_count == 3


@respx.mock
async def test_graphql_errors_in_a_200_are_an_error_not_data() -> None:
    body = {
        "errors": [
            {"message": "Field 'nope' doesn't exist on type 'ProductVariant'", "extensions": {"code": "undefinedField"}}
        ]
    }
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    async with connector() as c:
        with pytest.raises(FatalError, match="doesn't exist"):
            await pull(c, Entity.prices)


@respx.mock
async def test_wrong_token_names_the_setting_and_hides_the_token() -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(
            401, json={"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        )
    )
    async with connector() as c:
        with pytest.raises(AuthError) as caught:
            await c.ping()
    message = str(caught.value)
    assert "[shop]" in message and "`access_token`" in message and "Invalid API key" in message
    assert TOKEN not in message + repr(caught.value) + repr(c.settings)


@respx.mock
async def test_price_user_errors_become_results_per_variant() -> None:
    payload = {
        "productVariantsBulkUpdate": {
            "productVariants": [],
            "userErrors": [
                {
                    "code": "NEGATIVE_PRICE_VALUE",
                    "field": ["variants", "1", "price"],
                    "message": "Price can't be negative",
                }
            ],
        }
    }
    route = respx.post(URL).mock(return_value=ok(payload))
    link = {"product_id": "gid://shopify/Product/1"}
    changes = [
        Change(
            Entity.prices,
            sku,
            "shop",
            {"amount": Decimal(a)},
            {},
            None,
            {**link, "variant_id": f"gid://shopify/ProductVariant/{n}"},
            sku,
        )
        for n, (sku, a) in enumerate([("A", "5.00"), ("B", "-1"), ("C", "7.10")], 1)
    ] + [Change(Entity.prices, "D", "shop", {"amount": Decimal(1)}, {}, None, {}, "D")]
    async with connector() as c:
        results = await c.push(Entity.prices, changes)
    assert [(r.ok, r.code) for r in results] == [
        (True, None),
        (False, "NEGATIVE_PRICE_VALUE"),
        (True, None),
        (False, "NOT_LINKED"),
    ]
    sent = json.loads(route.calls[0].request.content)["variables"]
    assert route.call_count == 1 and [v["price"] for v in sent["variants"]] == ["5.00", "-1", "7.10"]


@respx.mock
async def test_stale_compare_rereads_and_keeps_the_sale_once() -> None:
    stale = {
        "inventorySetQuantities": {
            "userErrors": [
                {
                    "code": "COMPARE_QUANTITY_STALE",
                    "field": ["input", "quantities", "0", "compareQuantity"],
                    "message": "stale",
                }
            ]
        }
    }
    level = {"inventoryItem": {"id": "i", "inventoryLevel": {"quantities": [{"name": "available", "quantity": 8}]}}}
    done = {"inventorySetQuantities": {"userErrors": []}}
    route = respx.post(URL_2025_10).mock(side_effect=[ok(stale), ok(level), ok(done)])
    link = {"inventory_item_id": "gid://shopify/InventoryItem/1", "location_id": "gid://shopify/Location/1"}
    change = Change(Entity.stock, "A@milano-store", "shop", {"available": 15}, {"available": 10}, None, link, "k")
    async with connector(api_version="2025-10") as c:
        [result] = await c.push(Entity.stock, [change])
    first, retry = (json.loads(route.calls[i].request.content)["variables"]["input"] for i in (0, 2))
    assert first["quantities"][0] | {} == {**first["quantities"][0], "quantity": 15, "compareQuantity": 10}
    assert (first["name"], first["reason"], first["ignoreCompareQuantity"]) == ("available", "correction", False)
    assert retry["quantities"][0]["quantity"] == 13 and retry["quantities"][0]["compareQuantity"] == 8
    assert (result.ok, result.stale, result.actual, result.code) == (
        False,
        True,
        {"available": 13},
        "COMPARE_QUANTITY_STALE",
    )


@pytest.mark.parametrize("version", ["2026-01", "2026-04", "2026-07"])
@respx.mock
async def test_from_2026_01_stock_writes_send_change_from_quantity_with_an_idempotency_key(version: str) -> None:
    route = respx.post(URL.replace("2026-07", version)).mock(
        return_value=ok({"inventorySetQuantities": {"userErrors": []}})
    )
    link = {"inventory_item_id": "gid://shopify/InventoryItem/1", "location_id": "gid://shopify/Location/1"}
    change = Change(Entity.stock, "A@milano-store", "shop", {"available": 15}, {"available": 10}, None, link, "k")
    async with connector(api_version=version) as c:
        [result] = await c.push(Entity.stock, [change])
    body = json.loads(route.calls[0].request.content)
    assert result.ok and "@idempotent(key: $idempotencyKey)" in body["query"] and body["variables"]["idempotencyKey"]
    assert body["variables"]["input"]["quantities"][0]["changeFromQuantity"] == 10
    assert "compareQuantity" not in body["variables"]["input"]["quantities"][0]


def test_bulk_lines_are_reassembled_under_their_parent() -> None:
    lines = [
        {"id": "v1"},
        {"x": 1, "__parentId": "v1"},
        {"x": 2, "__parentId": "v1"},
        {"id": "v2"},
        {"x": 3, "__parentId": "v9"},
    ]
    orphans: list[dict[str, Any]] = []
    assert list(reassemble(lines, orphans)) == [
        ({"id": "v1"}, [{"x": 1, "__parentId": "v1"}, {"x": 2, "__parentId": "v1"}]),
        ({"id": "v2"}, []),
    ]
    assert orphans == [{"x": 3, "__parentId": "v9"}]


def test_settings_validate_shop_and_version() -> None:
    with pytest.raises(ValueError, match="shop domain"):
        ShopifySettings(shop="example.com", access_token=TOKEN)
    with pytest.raises(ValueError, match="API version"):
        ShopifySettings(shop="demo.myshopify.com", access_token=TOKEN, api_version="2025-02")
    settings = ShopifySettings(
        shop="demo.myshopify.com", access_token=TOKEN, base_url="http://127.0.0.1:9", verify_tls=False
    )
    assert settings.root_url == "http://127.0.0.1:9" and settings.graphql_path == "/admin/api/2026-07/graphql.json"
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
