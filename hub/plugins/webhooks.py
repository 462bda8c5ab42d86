"""Webhook deliveries: the signature check every platform shares and ``WebhookDelivery``, the hint one carries.

A delivery is a hint to re-read, never the value to write: platforms send them late, twice and out
of order, so the hub only learns *which* SKUs and entities to read again from the platform.

The core knows no platform. A connector that receives deliveries names a ``WebhookParser`` as its
class's ``webhook_parser``: a function that knows its platform's headers and payloads and returns a
``WebhookDelivery`` or raises ``WebhookRefused``. A plain function on the class rather than a method
of a connector instance: reading a delivery needs no open connection, no settings beyond the secret
and no transport, so the receiver can answer at once without building or opening a connector.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "HintEntity",
    "WebhookDelivery",
    "WebhookParser",
    "WebhookRefused",
    "WebhookSubscription",
    "json_object",
    "line_hint",
    "lower_headers",
    "sign",
    "verify_signature",
]

#: The entities a delivery may ask the hub to read again.
HintEntity = Literal["stock", "prices", "products", "orders"]


class WebhookRefused(Exception):
    """A delivery the hub must not act on (no signature, a wrong one, a body it cannot read); the
    receiver answers 401 (signature) or 400 and changes nothing."""

    def __init__(self, reason: str, *, unsigned: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The signature was missing or wrong (401), rather than the body unreadable (400).
        self.unsigned = unsigned


def sign(secret: str, raw_body: bytes) -> str:
    """base64(HMAC-SHA256(secret, raw body)): what Shopify and WooCommerce both send."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(secret: str, raw_body: bytes, signature_header: str | None) -> bool:
    """Whether ``signature_header`` is the signature of ``raw_body`` under ``secret``.

    The digests are compared in constant time (``hmac.compare_digest``), so the time an answer
    takes says nothing about how much of a forged signature was right. The raw bytes are signed,
    never a re-encoded JSON: one changed byte (a re-serialized float, a reordered key) fails."""
    if not secret or not signature_header:
        return False
    try:
        given = base64.b64decode(signature_header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers by lower-case name: HTTP names are case-insensitive and servers spell them freely."""
    return {name.lower(): value for name, value in headers.items()}


@dataclass(frozen=True)
class WebhookDelivery:
    """What one delivery tells the hub: which connector, which event, and what to read again."""

    connector: str
    #: The platform's topic (``order.created``, ``orders/paid``); empty for a ping.
    topic: str
    #: The id to dedupe on: a retry of the same delivery carries the same one.
    delivery_id: str
    #: The id of the event or resource the delivery is about (an order id, a product id).
    resource_id: str | None = None
    #: A subscription's test or creation ping: acknowledged, changes nothing.
    ping: bool = False
    #: SKUs to read again.
    skus: frozenset[str] = frozenset()
    #: Platform ids to read again when the payload names no SKU (variant, inventory item, product).
    platform_ids: frozenset[str] = frozenset()
    #: Entities to read again for those SKUs and ids.
    entities: frozenset[HintEntity] = frozenset()
    #: Units by SKU for order deliveries, as the payload gave them (a hint, like everything here).
    quantities: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def dedupe_key(self) -> tuple[str, str]:
        return (self.connector, self.delivery_id)


@dataclass(frozen=True)
class WebhookSubscription:
    """One subscription on a platform: which topic is delivered where, and whether it is live."""

    #: The platform's id of the subscription (WooCommerce webhook id, Shopify ``WebhookSubscription`` gid).
    id: str
    topic: str
    url: str
    #: ``active``, or the platform's word for a subscription that does not deliver (``disabled``,
    #: ``paused``): WooCommerce disables a webhook after 5 failed deliveries in a row.
    status: str = "active"
    #: Whether the call that answered it created it (``register``), rather than found it there.
    created: bool = False


def json_object(body: bytes) -> dict[str, Any]:
    """A delivery's body as a JSON object, or ``WebhookRefused`` saying why it cannot be read."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise WebhookRefused(f"the body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise WebhookRefused("the body is not a JSON object")
    return payload


def line_hint(rows: object, id_of: Callable[[dict[str, Any]], str | None]) -> tuple[set[str], set[str], dict[str, int]]:
    """The SKUs of a payload's lines (or variants), the units by SKU where a line says how many, and,
    for a row without a SKU, the platform id ``id_of`` names it by (``variant:N``), so that the
    re-read can still find it. Rows that are not objects are skipped: a hint, not a record."""
    skus: set[str] = set()
    ids: set[str] = set()
    quantities: dict[str, int] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        sku = str(row.get("sku") or "").strip()
        if not sku:
            if (platform_id := id_of(row)) is not None:
                ids.add(platform_id)
            continue
        skus.add(sku)
        quantity = row.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool):
            quantities[sku] = quantities.get(sku, 0) + quantity
    return skus, ids, quantities


#: How a connector reads one delivery: ``(connector name, headers, raw body, webhook secret)`` to a
#: ``WebhookDelivery``, raising ``WebhookRefused``. A connector class names its own as
#: ``webhook_parser`` (``hub.plugins.contract.Connector``), so the receiver finds it by the connector's
#: type without importing the connector package.
WebhookParser = Callable[[str, Mapping[str, str], bytes, str], WebhookDelivery]
