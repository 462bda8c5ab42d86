"""WooCommerce webhook deliveries from the sandbox to a real HTTP receiver on loopback: the creation
ping, ``order.created`` and ``product.updated`` with the headers of the real deliveries, read by
``parse_webhook`` with the secret and refused with another; the sender's duplicate and reorder
knobs set over ``/_sandbox/webhooks``; a webhook failing 5 times in a row is disabled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.sandbox import create_app
from connectors.woocommerce.webhooks import parse_webhook
from hub.plugins.webhooks import WebhookRefused
from hub.sandbox.deliveries import WebhookSender
from hub.sandbox.kit import ServedApp, serve

KEY, SECRET, HOOK_SECRET = "ck_hooks_0123456789", "cs_hooks_0123456789", "hub-hook-secret"
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-webhooks"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny hub stand-in: records every request; paths under ``/fail`` answer 500."""

    got: list[Received] = field(default_factory=list)

    def app(self) -> Starlette:
        async def take(request: Request) -> Response:
            self.got.append(Received(request.method, request.url.path, dict(request.headers), await request.body()))
            return Response(status_code=500 if request.url.path.startswith("/fail") else 200)

        return Starlette(routes=[Route("/{path:path}", take, methods=["POST"])])


@pytest.fixture
def served() -> Iterator[tuple[ServedApp, ServedApp, Receiver]]:
    receiver = Receiver()
    sender = WebhookSender()
    sender.configure(attempts=1)
    shop = create_app(consumer_key=KEY, consumer_secret=SECRET, webhook_sender=sender)
    with serve(shop) as woo, serve(receiver.app()) as hub:
        yield woo, hub, receiver


def connector(woo: ServedApp) -> WooCommerceConnector:
    values = {
        "type": "woocommerce",
        "url": woo.url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "location": "web-warehouse",
        "webhook_secret": HOOK_SECRET,
    }
    return WooCommerceConnector("web", WooCommerceSettings.model_validate(values))


def settled(woo: ServedApp) -> dict[str, Any]:
    """Wait (briefly) until the sandbox has no delivery left to make; its knobs and counts."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = httpx.get(f"{woo.url}/_sandbox/webhooks").json()
        if state["pending"] == 0:
            return dict(state)
        time.sleep(0.02)
    raise AssertionError("deliveries still pending")


def set_knobs(woo: ServedApp, **knobs: Any) -> httpx.Response:
    """What a benchmark in another process does: POST the knobs to ``/_sandbox/webhooks``."""
    return httpx.post(f"{woo.url}/_sandbox/webhooks", json=knobs)


def real_header_names(name: str) -> set[str]:
    lines = (REAL / f"{name}.headers").read_text().splitlines()[1:]
    skip = {"host", "accept", "accept-encoding", "connection", "content-length"}
    return {line.split(":", 1)[0].lower() for line in lines} - skip


async def test_deliveries_reach_a_receiver_signed_as_woocommerce_signs_them(
    served: tuple[ServedApp, ServedApp, Receiver],
) -> None:
    woo, hub, receiver = served
    product = next(p for p in woo.app.state.sandbox.products.values() if p["type"] == "simple")
    async with connector(woo) as shop:
        subscriptions = await shop.register_webhooks(f"{hub.url}/webhooks/web", None)
        settled(woo)
        pings = list(receiver.got)
        order = {"set_paid": True, "line_items": [{"product_id": product["id"], "quantity": 1}]}
        placed = (await shop.client.transport.post("orders", json=order)).data
    settled(woo)
    assert len(pings) == 3 and all(not {k for k in p.headers if k.startswith("x-wc-")} for p in pings)
    assert {parse_webhook("web", p.headers, p.body, HOOK_SECRET).resource_id for p in pings} == {
        s.id for s in subscriptions
    }
    assert {p.headers["content-type"] for p in pings} == {"application/x-www-form-urlencoded"}

    deliveries = {r.headers["x-wc-webhook-topic"]: r for r in receiver.got[3:]}
    assert set(deliveries) == {"order.created", "product.updated"}
    created = deliveries["order.created"]
    assert set(created.headers) - {"host", "accept", "accept-encoding", "connection", "content-length"} == (
        real_header_names("02_order_created")
    )
    assert created.headers["user-agent"] == "WooCommerce/11.0.1 Hookshot (WordPress/7.1)"
    assert created.headers["x-wc-webhook-source"] == f"{woo.url}/"
    hint = parse_webhook("web", created.headers, created.body, HOOK_SECRET)
    assert (hint.topic, hint.resource_id) == ("order.created", str(placed["id"]))
    assert hint.skus == {product["sku"]}
    assert hint.quantities == {product["sku"]: 1}
    with pytest.raises(WebhookRefused):
        parse_webhook("web", created.headers, created.body, "another-secret")
    stock = parse_webhook("web", deliveries["product.updated"].headers, deliveries["product.updated"].body, HOOK_SECRET)
    assert stock.skus == {product["sku"]}
    assert b'"stock_quantity":' + str(product["stock_quantity"]).encode() in deliveries["product.updated"].body


async def test_duplicates_and_reorder_set_over_http_show_in_sent(served: tuple[ServedApp, ServedApp, Receiver]) -> None:
    woo, hub, _receiver = served
    answer = set_knobs(woo, duplicates=1.0, reorder=True)
    assert (answer.json()["duplicates"], answer.json()["reorder"]) == (1.0, True)
    assert set_knobs(woo, duplicatez=1).status_code == 400
    product = next(p for p in woo.app.state.sandbox.products.values() if p["type"] == "simple")
    async with connector(woo) as shop:
        await shop.register_webhooks(f"{hub.url}/webhooks/web", None)
        await shop.client.transport.request("PUT", f"products/{product['id']}", json={"regular_price": "9.00"})
    settled(woo)
    sent = woo.app.state.webhooks.sent
    updates = [d for d in sent if d.headers.get("X-WC-Webhook-Topic") == "product.updated"]
    assert [d.duplicate for d in updates] == [False, True] or [d.duplicate for d in updates] == [True, False]
    assert updates[0].body == updates[1].body and updates[0].headers == updates[1].headers


async def test_five_failed_deliveries_in_a_row_disable_the_webhook(
    served: tuple[ServedApp, ServedApp, Receiver],
) -> None:
    woo, hub, receiver = served
    product = next(p for p in woo.app.state.sandbox.products.values() if p["type"] == "simple")
    async with connector(woo) as shop:
        (subscription,) = [
            s for s in await shop.register_webhooks(f"{hub.url}/fail", None) if s.topic == "product.updated"
        ]
        for price in range(1, 7):
            await shop.client.transport.request(
                "PUT", f"products/{product['id']}", json={"regular_price": f"{price}.00"}
            )
            settled(woo)
        (after,) = [s for s in await shop.list_webhooks() if s.id == subscription.id]
    assert after.status == "disabled"
    failed = [r for r in receiver.got if r.headers.get("x-wc-webhook-topic") == "product.updated"]
    assert len(failed) == 5  # the sixth change found it disabled
