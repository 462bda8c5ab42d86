"""Webhook deliveries: the shared signature check, the real WooCommerce deliveries read into hints,
a Shopify delivery signed as its documentation says, and a repeated delivery recognized."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from connectors.csv import CsvConnector
from connectors.shopify import ShopifyConnector
from connectors.shopify.webhooks import parse_webhook as parse_shopify
from connectors.woocommerce import WooCommerceConnector
from connectors.woocommerce.webhooks import parse_webhook as parse_woocommerce
from hub.ops.webhooks import DeliveryDedupe
from hub.plugins.contract import Connector
from hub.plugins.webhooks import WebhookDelivery, WebhookRefused, sign, verify_signature

WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-webhooks"
SECRET = "capture-secret"  # the captures' README: a test value of the throw-away store
SIGNED = ["02_order_created", "04_product_updated_simple", "05_product_updated_variation"]
PINGS = ["01_ping_on_create", "03_ping_product_updated"]


def capture(name: str) -> tuple[dict[str, str], bytes]:
    head = WEBHOOKS / f"{name}.headers"
    assert head.exists(), f"real delivery {head} is missing: the tests need the repository's captures"
    lines = head.read_text().splitlines()[1:]
    return dict(line.split(": ", 1) for line in lines if ": " in line), (WEBHOOKS / f"{name}.body").read_bytes()


def test_every_real_delivery_is_a_signed_one_or_a_ping() -> None:
    assert sorted(p.stem for p in WEBHOOKS.glob("*.body")) == sorted(SIGNED + PINGS)


@pytest.mark.parametrize("name", SIGNED)
def test_a_real_woocommerce_signature_verifies_and_nothing_else_does(name: str) -> None:
    headers, body = capture(name)
    signature = headers["X-WC-Webhook-Signature"]
    assert verify_signature(SECRET, body, signature)
    assert sign(SECRET, body) == signature
    changed = bytearray(body)
    changed[len(changed) // 2] ^= 0x01
    assert not verify_signature(SECRET, bytes(changed), signature)
    assert not verify_signature("wrong-secret", body, signature)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, "not base64 !")
    assert not verify_signature("", body, signature)


@pytest.mark.parametrize("name", SIGNED)
def test_a_woocommerce_delivery_with_a_changed_byte_or_no_signature_is_refused(name: str) -> None:
    headers, body = capture(name)
    with pytest.raises(WebhookRefused) as refused:
        parse_woocommerce("woo", headers, body + b" ", SECRET)
    assert refused.value.unsigned
    unsigned = {k: v for k, v in headers.items() if k != "X-WC-Webhook-Signature"}
    with pytest.raises(WebhookRefused):
        parse_woocommerce("woo", unsigned, body, SECRET)
    with pytest.raises(WebhookRefused):
        parse_woocommerce("woo", headers, body, "wrong-secret")


@pytest.mark.parametrize("name", PINGS)
def test_the_creation_ping_is_a_ping_without_a_signature(name: str) -> None:
    headers, body = capture(name)
    assert "X-WC-Webhook-Signature" not in headers
    delivery = parse_woocommerce("woo", headers, body, SECRET)
    assert delivery.ping
    assert delivery.topic == ""
    assert not delivery.skus and not delivery.entities and not delivery.platform_ids


def test_an_unsigned_body_that_is_not_a_ping_is_refused() -> None:
    headers, _ = capture("01_ping_on_create")
    for body in (b"webhook_id=3&x=1", b'{"id": 3}', b"webhook_id=abc"):
        with pytest.raises(WebhookRefused):
            parse_woocommerce("woo", headers, body, SECRET)


def test_order_created_names_its_skus_and_quantities() -> None:
    headers, body = capture("02_order_created")
    delivery = parse_woocommerce("woo", headers, body, SECRET)
    assert not delivery.ping
    assert delivery.topic == "order.created"
    assert delivery.resource_id == "248"
    assert delivery.skus == {"RW-S-0011"}
    assert dict(delivery.quantities) == {"RW-S-0011": 1}
    assert delivery.entities == {"orders", "stock"}
    assert delivery.delivery_id.startswith("2d9f95bf55164b6f2f5eba602488be95:")


@pytest.mark.parametrize(
    ("name", "sku", "platform_id"),
    [
        ("04_product_updated_simple", "RW-S-0012", "product:21"),
        ("05_product_updated_variation", "RW-V6-XXL", "variation:235"),
    ],
)
def test_product_updated_names_the_sku(name: str, sku: str, platform_id: str) -> None:
    headers, body = capture(name)
    delivery = parse_woocommerce("woo", headers, body, SECRET)
    assert delivery.topic == "product.updated"
    assert delivery.skus == {sku}
    assert delivery.platform_ids == {platform_id}
    assert delivery.entities == {"products", "prices", "stock"}
    assert not delivery.quantities


def test_two_woocommerce_deliveries_sharing_a_delivery_id_are_not_taken_for_one() -> None:
    """Captures 04 and 05 carry the same X-WC-Webhook-Delivery-ID (WooCommerce derives it from the
    webhook and the second): they are two deliveries, and the second must not be dropped."""
    first = parse_woocommerce("woo", *capture("04_product_updated_simple"), SECRET)
    second = parse_woocommerce("woo", *capture("05_product_updated_variation"), SECRET)
    dedupe = DeliveryDedupe()
    assert not dedupe.seen_before(first)
    assert not dedupe.seen_before(second)
    assert dedupe.seen_before(parse_woocommerce("woo", *capture("05_product_updated_variation"), SECRET))


# -- Shopify: a delivery built as shopify.dev documents it, signed in the test -----------------------

SHOPIFY_SECRET = "shopify-client-secret"


def shopify_delivery(
    topic: str, payload: dict[str, object], webhook_id: str = "b54557e4-0001", event_id: str | None = None
) -> tuple[dict, bytes]:
    body = json.dumps(payload).encode()
    digest = hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()  # the documented algorithm
    headers = {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": event_id or f"98880550-7158-44d4-{webhook_id}",
        "X-Shopify-Shop-Domain": "shop.example",
    }
    return headers, body


ORDER = {
    "id": 820982911946154508,
    "line_items": [
        {"id": 1, "sku": "RW-S-0011", "quantity": 2, "variant_id": 11},
        {"id": 2, "sku": "RW-S-0011", "quantity": 1, "variant_id": 11},
        {"id": 3, "sku": None, "quantity": 1, "variant_id": 12},
    ],
}


@pytest.mark.parametrize("topic", ["orders/create", "orders/paid", "orders/cancelled", "orders/fulfilled"])
def test_a_shopify_order_delivery_verifies_and_names_its_skus(topic: str) -> None:
    headers, body = shopify_delivery(topic, ORDER)
    delivery = parse_shopify("shop", headers, body, SHOPIFY_SECRET)
    assert delivery.topic == topic
    assert delivery.resource_id == "820982911946154508"
    assert delivery.skus == {"RW-S-0011"}
    assert dict(delivery.quantities) == {"RW-S-0011": 3}
    assert delivery.platform_ids == {"variant:12"}
    assert delivery.entities == {"orders", "stock"}


def test_a_shopify_inventory_level_update_names_its_inventory_item() -> None:
    payload = {"inventory_item_id": 271878346596884015, "location_id": 24826418, "available": 6}
    delivery = parse_shopify("shop", *shopify_delivery("inventory_levels/update", payload), SHOPIFY_SECRET)
    assert delivery.platform_ids == {"inventory_item:271878346596884015"}
    assert delivery.entities == {"stock"}
    assert not delivery.skus


def test_a_shopify_product_update_names_its_variants_skus() -> None:
    payload = {"id": 788032119674292922, "variants": [{"id": 1, "sku": "A-1"}, {"id": 2, "sku": "A-2"}]}
    delivery = parse_shopify("shop", *shopify_delivery("products/update", payload), SHOPIFY_SECRET)
    assert delivery.skus == {"A-1", "A-2"}
    assert delivery.entities == {"products", "prices", "stock"}


def test_a_forged_or_unsigned_shopify_delivery_is_refused() -> None:
    headers, body = shopify_delivery("orders/create", ORDER)
    with pytest.raises(WebhookRefused) as refused:
        parse_shopify("shop", headers, body.replace(b'"quantity": 2', b'"quantity": 9'), SHOPIFY_SECRET)
    assert refused.value.unsigned
    with pytest.raises(WebhookRefused):
        parse_shopify("shop", headers, body, "another-secret")
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    with pytest.raises(WebhookRefused):
        parse_shopify("shop", unsigned, body, SHOPIFY_SECRET)


def test_header_names_are_case_insensitive() -> None:
    headers, body = shopify_delivery("orders/paid", ORDER)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert parse_shopify("shop", lowered, body, SHOPIFY_SECRET).topic == "orders/paid"


def test_a_repeated_shopify_delivery_is_recognized() -> None:
    dedupe = DeliveryDedupe()
    first = parse_shopify("shop", *shopify_delivery("orders/create", ORDER, "id-1"), SHOPIFY_SECRET)
    again = parse_shopify("shop", *shopify_delivery("orders/create", ORDER, "id-1"), SHOPIFY_SECRET)
    other = parse_shopify("shop", *shopify_delivery("orders/create", ORDER, "id-2"), SHOPIFY_SECRET)
    assert not dedupe.seen_before(first)
    assert dedupe.seen_before(again)
    assert not dedupe.seen_before(other)
    elsewhere = WebhookDelivery("other-shop", "orders/create", first.delivery_id)
    assert not dedupe.seen_before(elsewhere)  # the key is (connector, delivery id)
    # shopify.dev: one event id on two deliveries (two subscriptions, new webhook ids) is a duplicate
    twice = parse_shopify("shop", *shopify_delivery("orders/create", ORDER, "id-3", "event-9"), SHOPIFY_SECRET)
    copy = parse_shopify("shop", *shopify_delivery("orders/create", ORDER, "id-4", "event-9"), SHOPIFY_SECRET)
    assert not dedupe.seen_before(twice)
    assert dedupe.seen_before(copy)
    headers, body = shopify_delivery("orders/create", ORDER, "id-5")
    del headers["X-Shopify-Event-Id"]  # an older delivery: its webhook id, which a retry repeats
    assert parse_shopify("shop", headers, body, SHOPIFY_SECRET).delivery_id == "id-5"


def test_the_dedupe_window_forgets_old_deliveries_and_stays_bounded() -> None:
    now = [0.0]
    dedupe = DeliveryDedupe(ttl_seconds=60, max_keys=2, clock=lambda: now[0])
    a, b, c = (WebhookDelivery("shop", "t", i) for i in ("a", "b", "c"))
    assert not dedupe.seen_before(a)
    assert dedupe.seen_before(a)
    now[0] = 61.0
    assert not dedupe.seen_before(a)  # expired, seen afresh
    assert not dedupe.seen_before(b)
    assert not dedupe.seen_before(c)
    assert len(dedupe) == 2
    assert not dedupe.seen_before(a)  # the oldest was dropped to keep the bound


def test_a_connector_class_names_its_parser_and_the_base_names_none() -> None:
    assert WooCommerceConnector.webhook_parser is parse_woocommerce
    assert ShopifyConnector.webhook_parser is parse_shopify
    assert Connector.webhook_parser is None
    assert CsvConnector.webhook_parser is None
    headers, body = capture("02_order_created")
    parser = WooCommerceConnector.webhook_parser
    assert parser is not None
    assert parser("woo", headers, body, SECRET).skus == {"RW-S-0011"}


def test_a_delivery_is_a_value_that_can_be_kept_in_a_set() -> None:
    headers, body = capture("02_order_created")
    one = parse_woocommerce("woo", headers, body, SECRET)
    assert {one, parse_woocommerce("woo", headers, body, SECRET)} == {one}
