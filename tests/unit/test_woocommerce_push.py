"""WooCommerce pushes and error paths against mocked HTTP (respx): batch grouping and limits,
per-item errors inside a 200, whole-call failures, the stock re-read, and auth refusals."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from hub.errors import AuthError, FatalError
from hub.model.base import Entity
from hub.model.catalogue import Price
from hub.plugins.contract import Change
from tests.conftest import TEST_SECRETS

API = "https://shop.example.com/wp-json/wc/v3"


def connector(**overrides: Any) -> WooCommerceConnector:
    values: dict[str, Any] = {
        "type": "woocommerce",
        "url": "https://shop.example.com",
        "consumer_key": TEST_SECRETS[1],
        "consumer_secret": TEST_SECRETS[2],
        "location": "web-warehouse",
        "max_attempts": 2,
    }
    values.update(overrides)
    return WooCommerceConnector("web", WooCommerceSettings.model_validate(values))


def price_change(sku: str, amount: str, link: dict[str, str], compare_at: str | None = None) -> Change:
    record = Price(sku=sku, amount=amount, compare_at=compare_at)
    return Change(Entity.prices, sku, "web", {"amount": Decimal(amount)}, {"amount": Decimal("1")}, record, link, sku)


def stock_change(sku: str, wanted: int, pulled: int, link: dict[str, str]) -> Change:
    key = f"{sku}@web-warehouse"
    return Change(Entity.stock, key, "web", {"available": wanted}, {"available": pulled}, None, link, key)


def sent_body(route: respx.Route, index: int = 0) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


@respx.mock
async def test_prices_are_grouped_by_parent_and_sent_as_strings_with_sale_semantics() -> None:
    simple = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(200, json={"update": [{"id": 10, "regular_price": "12.50", "sale_price": ""}]})
    )
    stored = [
        {"id": 13, "regular_price": "15.00", "sale_price": "9.90"},
        {"id": 14, "regular_price": "15.00", "sale_price": ""},
    ]
    variations = respx.post(f"{API}/products/12/variations/batch").mock(
        return_value=httpx.Response(200, json={"update": stored})
    )
    changes = [
        price_change("A", "12.50", {"product_id": "10"}),
        price_change("TEE-S", "9.90", {"product_id": "13", "parent_id": "12"}, compare_at="15.00"),
        price_change("TEE-M", "15.00", {"product_id": "14", "parent_id": "12"}),
    ]
    async with connector() as woo:
        results = await woo.push(Entity.prices, changes)
    assert [r.ok for r in results] == [True, True, True]
    assert [r.key for r in results] == ["A", "TEE-S", "TEE-M"]
    assert sent_body(simple) == {"update": [{"id": 10, "regular_price": "12.50", "sale_price": ""}]}
    assert sent_body(variations) == {
        "update": [
            {"id": 13, "regular_price": "15.00", "sale_price": "9.90"},
            {"id": 14, "regular_price": "15.00", "sale_price": ""},
        ]
    }
    assert simple.calls[0].request.headers["authorization"].startswith("Basic ")


@respx.mock
async def test_more_than_100_items_are_split_into_calls_of_100() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["update"]
        assert len(items) <= 100
        return httpx.Response(200, json={"update": items})  # WooCommerce answers the stored records

    route = respx.post(f"{API}/products/batch").mock(side_effect=answer)
    changes = [price_change(f"S{i}", "1.00", {"product_id": str(100 + i)}) for i in range(250)]
    async with connector() as woo:
        results = await woo.push(Entity.prices, changes)
    assert route.call_count == 3
    assert all(r.ok for r in results)


@respx.mock
async def test_per_item_errors_keep_woocommerce_code_and_message_and_the_rest_is_done() -> None:
    route = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(
            200,
            json={
                "update": [
                    {"id": 10, "regular_price": "2.00", "sale_price": ""},
                    {
                        "id": 999999,
                        "error": {
                            "code": "woocommerce_rest_product_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    },
                ]
            },
        )
    )
    changes = [price_change("A", "2.00", {"product_id": "10"}), price_change("B", "3.00", {"product_id": "999999"})]
    async with connector() as woo:
        results = await woo.push(Entity.prices, changes)
    assert results[0].ok and not results[0].retriable
    assert (results[1].ok, results[1].code, results[1].message) == (
        False,
        "woocommerce_rest_product_invalid_id",
        "Invalid ID.",
    )
    assert not results[1].retriable
    assert route.call_count == 1


@respx.mock
async def test_a_413_is_a_failure_of_that_call_with_woocommerce_code() -> None:
    respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(
            413,
            json={
                "code": "woocommerce_rest_request_entity_too_large",
                "message": "Unable to accept more than 100 items for this request.",
                "data": {"status": 413},
            },
        )
    )
    async with connector() as woo:
        results = await woo.push(Entity.prices, [price_change("A", "2.00", {"product_id": "10"})])
    assert results[0].code == "woocommerce_rest_request_entity_too_large"
    assert results[0].message == "Unable to accept more than 100 items for this request."
    assert not results[0].ok and not results[0].retriable


@respx.mock
async def test_a_400_on_a_listing_raises_with_woocommerce_code() -> None:
    route = respx.get(f"{API}/products").mock(
        return_value=httpx.Response(
            400,
            json={"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page", "data": {"status": 400}},
        )
    )
    async with connector() as woo:
        with pytest.raises(FatalError) as info:
            [page async for page in woo.pull(Entity.prices)]
    assert "rest_invalid_param" in str(info.value) and route.call_count == 1


@respx.mock
async def test_a_wrong_key_on_a_push_is_one_auth_error_and_one_request() -> None:
    route = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(
            401,
            json={
                "code": "woocommerce_rest_cannot_batch",
                "message": "Sorry, you are not allowed to batch manipulate this resource.",
                "data": {"status": 401},
            },
        )
    )
    async with connector() as woo:
        with pytest.raises(AuthError) as info:
            await woo.push(Entity.prices, [price_change("A", "2.00", {"product_id": "10"})])
    assert "consumer_key" in str(info.value) and "[web]" in str(info.value)
    assert route.call_count == 1


@respx.mock
async def test_unlinked_items_are_refused_without_a_request() -> None:
    route = respx.post(f"{API}/products/batch")
    async with connector() as woo:
        results = await woo.push(Entity.prices, [price_change("NEW", "2.00", {})])
    assert results[0].code == "not_linked" and route.call_count == 0


def product(item_id: int, sku: str, quantity: int | None, parent: int = 0, manage: bool = True) -> dict[str, Any]:
    return {"id": item_id, "sku": sku, "parent_id": parent, "manage_stock": manage, "stock_quantity": quantity}


@respx.mock
async def test_stock_rereads_by_sku_in_one_call_and_keeps_a_sale() -> None:
    reread = respx.get(f"{API}/products").mock(
        return_value=httpx.Response(
            200, json=[product(10, "A", 5), product(13, "TEE-S", 3, parent=12), product(14, "TEE-M", 9, parent=12)]
        )
    )
    simple = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(200, json={"update": [product(10, "A", 8)]})
    )
    varied = respx.post(f"{API}/products/12/variations/batch").mock(
        return_value=httpx.Response(200, json={"update": [product(13, "TEE-S", 9, parent=12)]})
    )
    changes = [
        stock_change("A", 8, 5, {"product_id": "10"}),  # unchanged since the pull: write 8
        stock_change("TEE-S", 10, 4, {"product_id": "13", "parent_id": "12"}),  # one sold: write 9
        stock_change("TEE-M", 9, 2, {"product_id": "14", "parent_id": "12"}),  # already there: nothing
    ]
    async with connector() as woo:
        results = await woo.push(Entity.stock, changes)
    assert reread.call_count == 1
    assert set(reread.calls[0].request.url.params["sku"].split(",")) == {"A", "TEE-S", "TEE-M"}
    assert sent_body(simple) == {"update": [{"id": 10, "stock_quantity": 8}]}
    assert sent_body(varied) == {"update": [{"id": 13, "stock_quantity": 9}]}
    assert results[0].ok
    assert (results[1].ok, results[1].stale, results[1].actual) == (False, True, {"available": 9})
    assert "moved from 4 to 3" in (results[1].message or "")
    assert results[2].ok


@respx.mock
async def test_stock_write_with_a_lost_answer_is_confirmed_by_reread_not_resent() -> None:
    reads = iter([[product(10, "A", 5)], [product(10, "A", 8)]])
    reread = respx.get(f"{API}/products").mock(side_effect=lambda request: httpx.Response(200, json=next(reads)))
    write = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(503, json={"code": "down", "message": "x"})
    )
    async with connector() as woo:
        results = await woo.push(Entity.stock, [stock_change("A", 8, 5, {"product_id": "10"})])
    assert write.call_count == 1  # a stock batch is not resent blindly
    assert reread.call_count == 2
    assert results[0].ok


@respx.mock
async def test_stock_not_managed_is_refused_unless_the_connector_may_turn_it_on() -> None:
    respx.get(f"{API}/products").mock(return_value=httpx.Response(200, json=[product(10, "A", None, manage=False)]))
    write = respx.post(f"{API}/products/batch").mock(
        return_value=httpx.Response(200, json={"update": [product(10, "A", 4)]})
    )
    change = stock_change("A", 4, 0, {"product_id": "10"})
    async with connector() as woo:
        refused = await woo.push(Entity.stock, [change])
    assert refused[0].code == "stock_not_managed" and write.call_count == 0
    async with connector(manage_stock=True) as woo:
        done = await woo.push(Entity.stock, [change])
    assert done[0].ok
    assert sent_body(write) == {"update": [{"id": 10, "stock_quantity": 4, "manage_stock": True}]}


@respx.mock
async def test_customers_create_and_update_in_one_batch_with_links_learned() -> None:
    route = respx.post(f"{API}/customers/batch").mock(
        return_value=httpx.Response(
            200,
            json={
                "create": [
                    {
                        "id": 0,
                        "error": {
                            "code": "registration-error-email-exists",
                            "message": "An account is already registered with your email address.",
                            "data": {"status": 400},
                        },
                    }
                ],
                "update": [{"id": 5, "first_name": "Anna"}],
            },
        )
    )
    changes = [
        Change(
            Entity.customers, "anna@example.com", "web", {"first_name": "Anna"}, {}, None, {"customer_id": "5"}, "a"
        ),
        Change(
            Entity.customers, "new@example.com", "web", {"first_name": "New", "phone": "+391234567"}, {}, None, {}, "b"
        ),
    ]
    async with connector() as woo:
        results = await woo.push(Entity.customers, changes)
    assert route.call_count == 2  # updates may be resent, creates may not: separate calls
    body = {**sent_body(route, 0), **sent_body(route, 1)}
    assert body["update"] == [{"id": 5, "first_name": "Anna"}]
    assert body["create"] == [{"first_name": "New", "billing": {"phone": "+391234567"}, "email": "new@example.com"}]
    assert results[0].ok
    assert (results[1].ok, results[1].code) == (False, "registration-error-email-exists")
