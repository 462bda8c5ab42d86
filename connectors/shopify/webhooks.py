"""Shopify webhook deliveries read into the hub's hint (``WebhookDelivery``): orders, inventory, products.

Facts from Shopify's "Verify webhook deliveries" page (shopify.dev/docs/apps/build/webhooks/
verify-deliveries): ``X-Shopify-Hmac-SHA256`` is base64(HMAC-SHA256) of the raw body under the app's
client secret, and the delivery id in ``X-Shopify-Webhook-Id`` is the one to dedupe on (a retry
repeats it); ``X-Shopify-Topic`` names the topic and ``X-Shopify-Event-Id`` the event. Payloads
(REST shapes): orders carry ``line_items[].sku``, ``quantity``, ``variant_id``; ``inventory_levels/
update`` carries ``inventory_item_id``, ``location_id``, ``available`` and no SKU; ``products/update``
carries ``variants[].sku`` and ``variants[].id``. Shopify sends no unsigned ping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.sdk import WebhookDelivery, WebhookRefused, json_object, line_hint, lower_headers, verify_signature

__all__ = ["parse_webhook"]

_ORDER_HINT = frozenset({"orders", "stock"})
_INVENTORY_HINT = frozenset({"stock"})
_PRODUCT_HINT = frozenset({"products", "prices", "stock"})


def parse_webhook(connector: str, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookDelivery:
    """The hint of one delivery to ``connector``, or ``WebhookRefused`` (unsigned, forged, unreadable)."""
    named = lower_headers(headers)
    if not verify_signature(secret, body, named.get("x-shopify-hmac-sha256")):
        raise WebhookRefused("missing or wrong X-Shopify-Hmac-Sha256", unsigned=True)
    # shopify.dev ("Ignore duplicate webhooks"): the same X-Shopify-Event-Id on more than one
    # delivery is a duplicate (a retry, or one event sent to two subscriptions); older deliveries
    # without it are recognized by their X-Shopify-Webhook-Id, which a retry repeats.
    delivery_id = named.get("x-shopify-event-id") or named.get("x-shopify-webhook-id")
    if not delivery_id:
        raise WebhookRefused("no X-Shopify-Event-Id or X-Shopify-Webhook-Id to recognize a repeated delivery by")
    payload = json_object(body)
    topic = named.get("x-shopify-topic", "")
    resource = topic.partition("/")[0]
    if resource == "orders":
        skus, ids, quantities = _lines(payload.get("line_items"), "variant_id")
        entities = _ORDER_HINT
    elif resource == "inventory_levels":
        item = payload.get("inventory_item_id")
        skus, ids, quantities = set(), {f"inventory_item:{item}"} if item is not None else set(), {}
        entities = _INVENTORY_HINT
    elif resource == "products":
        skus, ids, _ = _lines(payload.get("variants"), "id")
        quantities, entities = {}, _PRODUCT_HINT
    else:
        skus, ids, quantities, entities = set(), set(), {}, frozenset()
    resource_id = payload.get("id", payload.get("inventory_item_id"))
    return WebhookDelivery(
        connector,
        topic,
        delivery_id,
        resource_id=None if resource_id is None else str(resource_id),
        skus=frozenset(skus),
        platform_ids=frozenset(ids),
        entities=entities,
        quantities=quantities,
    )


def _lines(rows: Any, id_field: str) -> tuple[set[str], set[str], dict[str, int]]:
    """SKUs and units of an order's lines or a product's variants; a row without a SKU by its variant id."""
    return line_hint(rows, lambda row: f"variant:{row[id_field]}" if row.get(id_field) is not None else None)
