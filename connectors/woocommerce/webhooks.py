"""WooCommerce webhook deliveries read into the hub's hint (``WebhookDelivery``): the ping, orders, products.

Facts from the real deliveries in ``tests/fixtures/platforms/woocommerce/real-webhooks/``
(WooCommerce 11.0.1): signed deliveries carry ``X-WC-Webhook-Topic/Resource/Event/Signature/ID/
Delivery-ID`` and sign the raw body (base64 HMAC-SHA256 with the webhook's secret); the ping sent
when a webhook is created is form-encoded ``webhook_id=N`` with **no** signature and no topic.
WooCommerce derives ``X-WC-Webhook-Delivery-ID`` from the webhook id and the current second, so two
different deliveries of one webhook within a second share it (captures 04 and 05 do): the dedupe
id is that header plus a digest of the body, which a retry of the same delivery repeats.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from hub.sdk import WebhookDelivery, WebhookRefused, json_object, line_hint, lower_headers, verify_signature

__all__ = ["parse_webhook"]

_PING = re.compile(rb"webhook_id=[0-9]+")
_ORDER_HINT = frozenset({"orders", "stock"})
_PRODUCT_HINT = frozenset({"products", "prices", "stock"})


def parse_webhook(connector: str, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookDelivery:
    """The hint of one delivery to ``connector``, or ``WebhookRefused`` (unsigned, forged, unreadable).

    Only the creation ping passes unsigned: it names no topic and its body is nothing but
    ``webhook_id=N``, so acknowledging it tells a forger nothing and changes nothing."""
    named = lower_headers(headers)
    signature = named.get("x-wc-webhook-signature")
    topic = named.get("x-wc-webhook-topic", "")
    if not topic and not signature and _PING.fullmatch(body.strip()):
        webhook_id = body.strip().split(b"=", 1)[1].decode()
        return WebhookDelivery(connector, "", f"ping:{webhook_id}", resource_id=webhook_id, ping=True)
    if not verify_signature(secret, body, signature):
        raise WebhookRefused("missing or wrong X-WC-Webhook-Signature", unsigned=True)
    payload = json_object(body)
    digest = hashlib.sha256(body).hexdigest()[:16]
    delivery_id = f"{named.get('x-wc-webhook-delivery-id', '')}:{digest}"
    resource = named.get("x-wc-webhook-resource") or topic.partition(".")[0]
    resource_id = None if payload.get("id") is None else str(payload["id"])
    base = WebhookDelivery(connector, topic, delivery_id, resource_id=resource_id)
    if resource == "order":
        return _order_hint(base, payload)
    if resource == "product":
        return _product_hint(base, payload)
    return base  # a topic the hub does not follow (customers, coupons): nothing to re-read


def _order_hint(base: WebhookDelivery, payload: dict[str, Any]) -> WebhookDelivery:
    """The SKUs of the order's ``line_items`` (and their units); a line without a SKU is named by
    its variation or product id, so the re-read can still find it."""
    skus, ids, quantities = line_hint(payload.get("line_items"), _line_id)
    return _with(base, skus, ids, _ORDER_HINT, quantities)


def _line_id(line: dict[str, Any]) -> str | None:
    """A line without a SKU: its variation, else its product (WooCommerce sends 0 for "none")."""
    if line.get("variation_id"):
        return f"variation:{line['variation_id']}"
    if line.get("product_id"):
        return f"product:{line['product_id']}"
    return None


def _product_hint(base: WebhookDelivery, payload: dict[str, Any]) -> WebhookDelivery:
    """The product's (or variation's) SKU; its id too, as a deleted product's payload is only ``{"id": N}``."""
    sku = str(payload.get("sku") or "").strip()
    ids: set[str] = set()
    if payload.get("id") is not None:
        kind = "variation" if payload.get("type") == "variation" else "product"
        ids.add(f"{kind}:{payload['id']}")
    return _with(base, {sku} - {""}, ids, _PRODUCT_HINT, {})


def _with(
    base: WebhookDelivery, skus: set[str], ids: set[str], entities: frozenset[Any], quantities: dict[str, int]
) -> WebhookDelivery:
    return WebhookDelivery(
        base.connector,
        base.topic,
        base.delivery_id,
        resource_id=base.resource_id,
        skus=frozenset(skus),
        platform_ids=frozenset(ids),
        entities=entities,
        quantities=quantities,
    )
