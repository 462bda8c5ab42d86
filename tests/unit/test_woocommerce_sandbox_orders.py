"""The WooCommerce sandbox's orders and webhooks held to WooCommerce's rules, in process (ASGI):
the real deliveries' signatures and bodies reproduced byte for byte, the refusals of ``POST
/orders``, the ``status`` filter in each form wc/v3 takes, and what each status does to stock
(taken once, given back by cancelled or pending, kept by completed)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.woocommerce.sandbox import create_app
from connectors.woocommerce.sandbox_webhooks import php_json, signature

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-webhooks"
KEY, SECRET = "ck_unit_orders", "cs_unit_orders"


@pytest.mark.parametrize("name", ["02_order_created", "04_product_updated_simple", "05_product_updated_variation"])
def test_the_sandbox_signs_and_encodes_as_the_real_deliveries(name: str) -> None:
    body = (REAL / f"{name}.body").read_bytes()
    headers = dict(
        line.split(": ", 1) for line in (REAL / f"{name}.headers").read_text().splitlines()[1:] if ": " in line
    )
    assert signature("capture-secret", body) == headers["X-WC-Webhook-Signature"]
    assert php_json(json.loads(body)) == body.strip()  # PHP's json_encode: "\/", compact, \u escapes


@pytest.fixture
async def shop() -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(consumer_key=KEY, consumer_secret=SECRET, accept_basic=True)
    transport = httpx.ASGITransport(app=app)
    base = "http://shop.test/wp-json/wc/v3/"
    async with httpx.AsyncClient(transport=transport, base_url=base, auth=(KEY, SECRET)) as client:
        yield client, app.state.sandbox


def _simple(state: Any) -> dict[str, Any]:
    return next(p for p in state.products.values() if p["type"] == "simple" and p["manage_stock"])


async def _order(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("orders", json=body)


@pytest.mark.parametrize(
    ("line", "code", "status"),
    [
        ({"quantity": 1}, "woocommerce_rest_required_product_reference", 400),
        ({"product_id": 10, "quantity": "two"}, "rest_invalid_param", 400),
        ({"product_id": 10, "quantity": 1.5}, "rest_invalid_param", 400),
        ({"product_id": 10, "quantity": -1}, "rest_invalid_param", 400),
    ],
)
async def test_a_line_woocommerce_would_refuse_is_refused(
    shop: tuple[httpx.AsyncClient, Any], line: dict[str, Any], code: str, status: int
) -> None:
    client, state = shop
    answer = await _order(client, {"line_items": [line]})
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert state.orders == {}


async def test_other_refusals_name_the_parameter(shop: tuple[httpx.AsyncClient, Any]) -> None:
    client, _state = shop
    bad_status = await _order(client, {"status": "shipped"})
    assert bad_status.json()["data"]["params"]["status"].startswith("status is not one of pending")
    no_method = await _order(client, {"shipping_lines": [{"method_title": "Post"}]})
    assert no_method.json()["code"] == "woocommerce_rest_invalid_shipping_item"
    assert (await _order(client, {"customer_id": 999999})).json()["code"] == "woocommerce_rest_invalid_customer_id"
    assert (await client.get("orders/999999")).status_code == 404
    assert (await client.put("orders/999999", json={})).json()["code"] == "woocommerce_rest_shop_order_invalid_id"


async def test_an_unknown_product_makes_a_line_without_product_and_takes_nothing(
    shop: tuple[httpx.AsyncClient, Any],
) -> None:
    client, state = shop
    before = state.quantities()
    answer = await _order(client, {"set_paid": True, "line_items": [{"product_id": 999999, "quantity": 2}]})
    assert answer.status_code == 201
    (line,) = answer.json()["line_items"]
    assert (line["product_id"], line["sku"], line["total"], line["meta_data"]) == (0, None, "0.00", [])
    assert state.quantities() == before


async def test_stock_is_taken_once_given_back_by_cancel_or_pending_and_kept_by_completed(
    shop: tuple[httpx.AsyncClient, Any],
) -> None:
    client, state = shop
    product = _simple(state)
    start = product["stock_quantity"]
    body = {
        "status": "on-hold",
        "line_items": [{"product_id": product["id"], "quantity": 3}, {"product_id": product["id"], "quantity": 0}],
    }
    created = (await _order(client, body)).json()
    assert len(created["line_items"]) == 1  # a line of 0 is left out
    assert state.item(product["sku"])["stock_quantity"] == start - 3
    order = f"orders/{created['id']}"
    await client.put(order, json={"status": "processing"})
    assert state.item(product["sku"])["stock_quantity"] == start - 3  # not taken twice
    back = (await client.put(order, json={"status": "pending"})).json()
    assert state.item(product["sku"])["stock_quantity"] == start
    assert back["line_items"][0]["meta_data"] == []
    await client.put(order, json={"status": "completed"})
    assert state.item(product["sku"])["stock_quantity"] == start - 3
    done = (await client.put(order, json={"status": "cancelled"})).json()
    assert done["date_completed_gmt"] is not None
    assert state.item(product["sku"])["stock_quantity"] == start  # cancelling a completed order restocks


async def test_a_stock_change_moves_the_product_modification_time(shop: tuple[httpx.AsyncClient, Any]) -> None:
    client, state = shop
    product = _simple(state)
    product["date_modified_gmt"] = "2001-01-01T00:00:00"
    await _order(client, {"set_paid": True, "line_items": [{"product_id": product["id"], "quantity": 1}]})
    assert product["date_modified_gmt"] > "2001-01-01T00:00:00"


@pytest.mark.parametrize(
    "query",
    [
        "status=processing,on-hold",
        "status[]=processing&status[]=on-hold",
        "status=processing&status=on-hold",
    ],
)
async def test_the_status_filter_takes_a_comma_list_or_an_array(
    shop: tuple[httpx.AsyncClient, Any], query: str
) -> None:
    client, state = shop
    product = _simple(state)
    for status in ("processing", "on-hold", "pending", "cancelled"):
        await _order(client, {"status": status, "line_items": [{"product_id": product["id"], "quantity": 1}]})
    answer = await client.get(f"orders?{query}&orderby=id&order=asc")
    assert [o["status"] for o in answer.json()] == ["processing", "on-hold"]
    assert answer.headers["X-WP-Total"] == "2"
    everything = await client.get("orders")
    assert everything.headers["X-WP-Total"] == "4"
    bad = await client.get("orders?status=open")
    assert (bad.status_code, bad.json()["code"]) == (400, "rest_invalid_param")


async def test_webhooks_are_listed_read_and_deleted_only_with_force(shop: tuple[httpx.AsyncClient, Any]) -> None:
    client, _state = shop
    body = {"name": "n", "topic": "order.created", "delivery_url": "http://127.0.0.1:9/x", "secret": "s"}
    created = await client.post("webhooks", json=body)
    assert created.status_code == 201 and created.headers["Location"].endswith(f"/webhooks/{created.json()['id']}")
    assert "secret" not in created.json()
    bad = await client.post("webhooks", json={**body, "topic": "order.shipped"})
    assert bad.json()["code"] == "woocommerce_rest_shop_webhook_invalid_topic"
    hook = f"webhooks/{created.json()['id']}"
    assert (await client.get(hook)).json()["topic"] == "order.created"
    assert (await client.get("webhooks")).headers["X-WP-Total"] == "1"
    assert (await client.delete(hook)).status_code == 501
    assert (await client.delete(f"{hook}?force=true")).status_code == 200
    assert (await client.get(hook)).status_code == 404
