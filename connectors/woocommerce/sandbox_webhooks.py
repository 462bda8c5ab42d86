"""The WooCommerce sandbox's webhooks: ``/webhooks`` records and the deliveries they make.

What a real WooCommerce 11.0.1 was seen doing (captures 70, 71 and 76 in ``real-captures``, the
deliveries in ``real-webhooks``):

* ``POST /webhooks {name, topic, delivery_url, secret, status}`` answers 201 with ``resource``,
  ``event`` and the ``hooks`` behind the topic, ``date_modified`` null; WooCommerce then pings the
  URL with a form-encoded ``webhook_id=N``, unsigned and without topic headers;
* each delivery is a POST of the resource as the REST API shows it, ``User-Agent: WooCommerce/11.0.1
  Hookshot (WordPress/7.1)``, ``X-WC-Webhook-Source/Topic/Resource/Event/Signature/ID/Delivery-ID``;
  the signature is base64(HMAC-SHA256(secret, raw body)); the body is PHP's ``json_encode`` (``\\/``);
  ``X-WC-Webhook-Delivery-ID`` is a hash of the webhook id and the current second, so two deliveries
  of one webhook in the same second share it (real-webhooks 04 and 05);
* a delivery saves the webhook (its ``date_modified`` moves: capture 76); a webhook whose
  deliveries fail 5 times in a row becomes ``disabled`` and delivers no more; a success resets the
  count (2xx, 301 and 302 count as success);
* one request fires a topic once per resource (WooCommerce's ``is_already_processed``).

Deliveries go out through the sandbox's ``WebhookSender`` (the hub's background queue with its
delay, duplicate, reorder and retry knobs) so that they arrive late, twice or out of order as real
ones do. Signatures are computed here with ``hmac``, never with the hub's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAILURES_TO_DISABLE", "HOOKS", "USER_AGENT", "WooWebhooks", "php_json", "signature"]

USER_AGENT = "WooCommerce/11.0.1 Hookshot (WordPress/7.1)"
#: Failed deliveries in a row after which WooCommerce disables a webhook.
FAILURES_TO_DISABLE = 5
_RESOURCES = ("coupon", "customer", "order", "product")
_EVENTS = ("created", "updated", "deleted", "restored")
#: The WordPress actions behind each topic, as ``GET /webhooks/{id}`` lists them (70, 71 captured).
HOOKS: dict[str, list[str]] = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
}
_STATUSES = ("active", "paused", "disabled")
_LINK_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def php_json(data: Any) -> bytes:
    """``wp_json_encode``: compact, slashes escaped, non-ASCII as ``\\uXXXX``."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def signature(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _problem(code: str, message: str, status: int = 400) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "data": {"status": status}}}


def _valid_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class WooWebhooks:
    """The webhooks of one sandbox and the deliveries they make through ``sender``.

    ``sender`` is a ``WebhookSender`` (``hub.sdk``; or anything with its ``send`` and ``sent``);
    ``None`` keeps the webhooks but delivers nothing (``undelivered`` counts them).
    """

    def __init__(self, sender: Any, now: Callable[[], str]) -> None:
        self.sender = sender
        self.now = now
        self.records: dict[int, dict[str, Any]] = {}
        self.undelivered = 0
        self._next_id = 1
        self._seen = 0

    # ------------------------------------------------------------------ REST

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        topic = str(body.get("topic") or "").strip().lower()
        if topic not in HOOKS and not topic.startswith("action."):
            message = "Webhook topic is required and must be valid."
            return _problem("woocommerce_rest_shop_webhook_invalid_topic", message)
        if not _valid_url(body.get("delivery_url")):
            return _problem(
                "woocommerce_rest_shop_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )
        status = body.get("status", "active")
        if status not in _STATUSES:
            return _problem(
                "rest_invalid_param", f"Invalid parameter(s): status (status is not one of {', '.join(_STATUSES)}.)"
            )
        webhook_id, stamp = self._next_id, self.now()
        self._next_id += 1
        resource, _, event = topic.partition(".")
        self.records[webhook_id] = {
            "id": webhook_id,
            "name": str(body.get("name") or f"Webhook created on {stamp}"),
            "status": status,
            "topic": topic,
            "resource": resource,
            "event": event,
            "hooks": list(HOOKS.get(topic, [f"{event}"])),
            "delivery_url": str(body["delivery_url"]).strip(),
            "date_created": stamp,
            "date_created_gmt": stamp,
            "date_modified": None,
            "date_modified_gmt": None,
            "_secret": str(body.get("secret") or secrets.token_hex(16)),
            "_failures": 0,
        }
        return self.records[webhook_id]

    def update(self, webhook_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        record = self.records.get(webhook_id)
        if record is None:
            return _problem("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
        if "status" in body:
            if body["status"] not in _STATUSES:
                return _problem("rest_invalid_param", "Invalid parameter(s): status")
            record["status"] = body["status"]
            record["_failures"] = 0
        for field in ("name", "delivery_url"):
            if isinstance(body.get(field), str):
                record[field] = body[field]
        if isinstance(body.get("secret"), str):
            record["_secret"] = body["secret"]
        record["date_modified"] = record["date_modified_gmt"] = self.now()
        return record

    def delete(self, webhook_id: int, force: bool) -> dict[str, Any]:
        if not force:
            return _problem("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501)
        record = self.records.pop(webhook_id, None)
        if record is None:
            return _problem("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", 404)
        return record

    @staticmethod
    def show(record: Mapping[str, Any], site: str) -> dict[str, Any]:
        shown = {k: v for k, v in record.items() if not k.startswith("_")}
        shown["_links"] = {
            "self": [{"href": f"{site}wp-json/wc/v3/webhooks/{record['id']}", "targetHints": {"allow": _LINK_METHODS}}],
            "collection": [{"href": f"{site}wp-json/wc/v3/webhooks"}],
        }
        return shown

    # ------------------------------------------------------------------ deliveries

    def ping(self, record: Mapping[str, Any]) -> None:
        """The creation ping: form-encoded ``webhook_id=N``, no signature, no topic."""
        if record["status"] != "active":
            return
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
        self._send(record["delivery_url"], f"webhook_id={record['id']}".encode(), headers)

    def deliver(self, events: list[tuple[str, int]], payload: Callable[[str, int, str], Any], site: str) -> None:
        """Send each (topic, resource id) once to every active webhook of that topic."""
        self.reconcile()
        done: set[tuple[str, int]] = set()
        for topic, resource_id in events:
            if (topic, resource_id) in done:
                continue
            done.add((topic, resource_id))
            targets = [w for w in self.records.values() if w["topic"] == topic and w["status"] == "active"]
            if not targets:
                continue
            body = php_json(payload(topic, resource_id, site))
            for record in targets:
                self._send(record["delivery_url"], body, self._headers(record, body, site))

    def _headers(self, record: Mapping[str, Any], body: bytes, site: str) -> dict[str, str]:
        delivery = hashlib.md5(f"{record['id']}{int(time.time())}".encode(), usedforsecurity=False).hexdigest()
        return {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": site,
            "X-WC-Webhook-Topic": record["topic"],
            "X-WC-Webhook-Resource": record["resource"],
            "X-WC-Webhook-Event": record["event"],
            "X-WC-Webhook-Signature": signature(record["_secret"], body),
            "X-WC-Webhook-ID": str(record["id"]),
            "X-WC-Webhook-Delivery-ID": delivery,
        }

    def _send(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        if self.sender is None:
            self.undelivered += 1
            return
        self.sender.send(url, body, headers)

    def reconcile(self) -> None:
        """Count the deliveries made since the last look: a success saves the webhook and resets
        its failures, the fifth failure in a row disables it."""
        if self.sender is None:
            return
        sent = self.sender.sent
        for delivery in sent[self._seen :]:
            record = self.records.get(int(delivery.headers.get("X-WC-Webhook-ID") or 0))
            if record is None:
                continue  # a ping, or a webhook deleted since
            status = delivery.status
            if status is not None and (200 <= status < 300 or status in (301, 302)):
                record["_failures"] = 0
            else:
                record["_failures"] += 1
                if record["_failures"] >= FAILURES_TO_DISABLE:
                    record["status"] = "disabled"
            record["date_modified"] = record["date_modified_gmt"] = self.now()
        self._seen = len(sent)
