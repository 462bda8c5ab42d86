"""The sandbox's webhook subscriptions and deliveries, as Shopify's Admin API and webhook pages describe them.

* ``webhookSubscriptionCreate(topic, webhookSubscription)``: the address is ``callbackUrl`` up to
  2025-07 and ``uri`` from 2025-10 (Shopify's changelog "webhookSubscriptionCreate and
  webhookSubscriptionUpdate support all URI types", effective 2025-10; ``callbackUrl`` stays,
  deprecated). The served schema decides which exists: a field it lacks fails validation. A second
  subscription of the same topic to the same address is refused ("Address for this topic has
  already been taken"); an ``http://`` address is refused unless its host is the loopback (a
  sandbox leniency so local receivers can be tested: Shopify takes HTTPS only).
* ``webhookSubscriptions(first, after, callbackUrl | uri, topics)`` and ``webhookSubscriptionDelete(id)``.
* Deliveries: the REST-shaped JSON body, signed ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(app
  client secret, raw body)), with ``X-Shopify-Topic``, ``X-Shopify-Shop-Domain``,
  ``X-Shopify-API-Version`` (the subscription's), ``X-Shopify-Webhook-Id`` (one per delivery, the
  same on a retry), ``X-Shopify-Event-Id`` (one per event and topic) and ``X-Shopify-Triggered-At``.
  They leave through ``hub.sandbox.deliveries.WebhookSender`` (late, twice or out of order on
  request: ``/_sandbox/webhooks`` GET describes, POST configures its knobs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from graphql import GraphQLResolveInfo, GraphQLSchema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import hub.sdk
from connectors.shopify.sandbox_state import ShopState, gid, legacy_id

__all__ = ["DEFAULT_CLIENT_SECRET", "Subscription", "WebhookHub", "WebhookMutations", "install_webhooks"]

#: The app client secret the sandbox signs with unless told otherwise (a fake, never a real one).
DEFAULT_CLIENT_SECRET = "shpss_sandbox_client_secret_0000"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: Resources whose name has an underscore (``INVENTORY_LEVELS_UPDATE`` is ``inventory_levels/update``).
_RESOURCES = ("inventory_levels", "inventory_items", "fulfillment_orders", "fulfillment_events", "draft_orders")


@dataclass(eq=False)
class Subscription:
    id: str
    topic: str
    uri: str
    api_version: str
    createdAt: str
    updatedAt: str
    format: str = "JSON"
    filter: str | None = None
    includeFields: list[str] = field(default_factory=list)
    metafieldNamespaces: list[str] = field(default_factory=list)

    @property
    def callbackUrl(self) -> str:
        return self.uri

    @property
    def endpoint(self) -> dict[str, Any]:
        return {"__typename": "WebhookHttpEndpoint", "callbackUrl": self.uri}

    @property
    def apiVersion(self) -> dict[str, Any]:
        return {"handle": self.api_version, "displayName": self.api_version, "supported": True}

    @property
    def legacyResourceId(self) -> str:
        return str(legacy_id(self.id))

    @property
    def rest_topic(self) -> str:
        """``ORDERS_CREATE`` -> ``orders/create`` (the header's and the REST API's spelling)."""
        topic = self.topic.lower()
        resource = next((r for r in _RESOURCES if topic.startswith(f"{r}_")), topic.partition("_")[0])
        return f"{resource}/{topic.removeprefix(resource + '_')}"


class WebhookHub:
    """Subscriptions of one store and the sender that delivers its events to them."""

    def __init__(self, state: ShopState, *, client_secret: str, sender: Any = None, seed: int = 7) -> None:
        self.state = state
        self.client_secret = client_secret
        #: The hub's ``WebhookSender`` (``hub.sandbox.deliveries``): given, or the SDK's when it
        #: exports one. Without a sender, events are dropped (nothing subscribed can hear them).
        self.sender = sender if sender is not None else _sdk_sender(seed)
        self.subscriptions: list[Subscription] = []
        self._count = 0

    def subscribe(self, topic: str, uri: str, version: str, options: dict[str, Any]) -> Subscription:
        self._count += 1
        now = self.state.tick()
        found = Subscription(gid("WebhookSubscription", self._count), topic, uri, version, now, now)
        for name in ("format", "filter", "includeFields", "metafieldNamespaces"):
            if options.get(name) is not None:
                setattr(found, name, options[name])
        self.subscriptions.append(found)
        return found

    def flush(self) -> None:
        """Hand every queued event to the sender, one delivery per matching subscription. Runs on the
        sandbox's event loop (a route handler, or scheduled there by ``ShopState.on_event``)."""
        events = self.state.take_events()
        if self.sender is None:
            return
        for topic, payload, when in events:
            body = orjson.dumps(payload)
            event_id = str(uuid.uuid4())
            for subscription in self.subscriptions:
                if subscription.rest_topic != topic:
                    continue
                self.sender.send(subscription.uri, body, self.headers(subscription, body, event_id, when))

    def headers(self, subscription: Subscription, body: bytes, event_id: str, when: str) -> dict[str, str]:
        digest = hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": subscription.rest_topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.state.shop,
            "X-Shopify-API-Version": subscription.api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": when.replace("Z", ".000000Z"),
        }

    async def control(self, request: Request) -> JSONResponse:
        """``/_sandbox/webhooks``: GET the sender's knobs and counts, POST JSON to set knobs."""
        if self.sender is None:
            return JSONResponse({"error": "this sandbox was built without a webhook sender"}, status_code=501)
        if request.method == "POST":
            try:
                self.sender.configure(**(await request.json()))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        described = self.sender.describe()
        described["subscriptions"] = [{"id": s.id, "topic": s.topic, "uri": s.uri} for s in self.subscriptions]
        return JSONResponse(described)

    def routes(self) -> list[Route]:
        return [Route("/_sandbox/webhooks", self.control, methods=["GET", "POST"])]


def _sdk_sender(seed: int) -> Any:
    """``WebhookSender`` through the SDK (the only part of the hub a connector package imports)."""
    sender_class = getattr(hub.sdk, "WebhookSender", None)
    return sender_class(seed=seed) if sender_class is not None else None


def _address_problem(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return None
    if parts.scheme in ("http", "https"):
        return "Address protocol http:// is not supported"
    return "Address is invalid"


class WebhookMutations:
    """The webhook fields of the root value (mixed into ``_Root``); ``hub`` is the ``WebhookHub``."""

    state: ShopState
    version: str
    hooks: WebhookHub

    def webhookSubscriptionCreate(
        self, info: GraphQLResolveInfo, topic: str, webhookSubscription: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        uri = webhookSubscription.get("uri") or webhookSubscription.get("callbackUrl") or ""
        where = ["webhookSubscription", "uri" if "uri" in webhookSubscription else "callbackUrl"]
        problem = _address_problem(uri)
        if problem is None and any(s.topic == topic and s.uri == uri for s in self.hooks.subscriptions):
            problem = "Address for this topic has already been taken"
        if problem is not None:
            return {"webhookSubscription": None, "userErrors": [{"field": where, "message": problem}]}
        made = self.hooks.subscribe(topic, uri, self.version, webhookSubscription)
        return {"webhookSubscription": made, "userErrors": []}

    def webhookSubscriptionDelete(self, info: GraphQLResolveInfo, id: str, **_: Any) -> dict[str, Any]:
        found = next((s for s in self.hooks.subscriptions if s.id == id), None)
        if found is None:
            message = "Webhook subscription does not exist"
            return {"deletedWebhookSubscriptionId": None, "userErrors": [{"field": ["id"], "message": message}]}
        self.hooks.subscriptions.remove(found)
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}

    def subscriptions_matching(self, args: dict[str, Any]) -> list[Subscription]:
        """``webhookSubscriptions``' filters (``callbackUrl``/``uri``, ``topics``), popped from ``args``."""
        address = args.pop("uri", None) or args.pop("callbackUrl", None)
        args.pop("callbackUrl", None)
        topics = args.pop("topics", None)
        args.pop("format", None)
        args.pop("sortKey", None)
        return [
            s
            for s in self.hooks.subscriptions
            if (address is None or s.uri == address) and (not topics or s.topic in topics)
        ]


def install_webhooks(schema: GraphQLSchema) -> None:
    """The endpoint union's type resolver (a subscription's endpoint is always HTTP here)."""
    schema.type_map["WebhookSubscriptionEndpoint"].resolve_type = (  # type: ignore[union-attr]
        lambda obj, info, type_: obj.get("__typename")
    )
