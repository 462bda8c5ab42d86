"""Every captured request of a real WooCommerce 11.0.1, sent again to the sandbox: the answers must
agree on status, error code, paging headers and every field the connector reads.

The captures (``tests/fixtures/platforms/woocommerce/real-captures``, origin in its README) come in
two sessions. 10-42 started from an empty store and have no ``.request`` file: their requests are
written out below from what each answer shows (the capture's name says what was done). 50-76 carry
their ``.request``; they ran on a store whose state is rebuilt here from the captures themselves
(the 30 variations listed by 61, the probe products as 52 and 56 first show them, 190 simple
products that only fill the totals, the three orders 73 lists besides the one 72 creates).
Orders and webhooks (70-76) are compared whole: the same fields, the same values where the store
decides them (status, totals, lines, dates, the topic's hooks), and the same effect on stock as
the ``.stock`` notes record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from woocommerce.oauth import OAuth

from connectors.woocommerce.sandbox import create_app
from hub.sandbox.deliveries import WebhookSender
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-captures"
KEY, SECRET = "ck_replay_0123456789abcdef", "cs_replay_0123456789abcdef"
#: The fields of a product or variation the connector reads (rows.py and the mapping file).
READ_FIELDS = (
    "id",
    "sku",
    "type",
    "status",
    "parent_id",
    "regular_price",
    "sale_price",
    "price",
    "on_sale",
    "manage_stock",
    "stock_quantity",
    "stock_status",
    "variations",
)
#: Captured routes the sandbox does not simulate yet, and why.
UNMODELLED: dict[str, str] = {}
#: The real store's clock when these requests were answered (the answers' own dates say it).
CLOCK_AT = {
    "70_webhook_create": "2026-11-30T09:50:21",
    "72_order_create_paid": "2026-11-30T09:50:21",
    "74_order_cancel": "2026-11-30T09:50:22",
    "75_product_touch": "2026-11-30T09:50:23",
}
#: Fields of an order or a webhook the store decides, compared by value (ids of new records,
#: order keys and hosts differ by design; the webhooks' ``date_modified`` follows their deliveries).
ORDER_VALUES = (
    "id",
    "parent_id",
    "status",
    "currency",
    "version",
    "total",
    "shipping_total",
    "customer_id",
    "created_via",
    "date_created_gmt",
    "date_modified_gmt",
    "date_paid_gmt",
    "date_completed_gmt",
    "is_editable",
    "needs_payment",
    "needs_processing",
    "billing",
    "shipping_lines",
    "currency_symbol",
)
LINE_VALUES = ("name", "product_id", "variation_id", "quantity", "subtotal", "total", "sku", "price", "parent_name")
WEBHOOK_VALUES = ("id", "name", "status", "topic", "resource", "event", "hooks", "delivery_url", "date_created_gmt")


@dataclass
class Sent:
    """One request to replay: ``auth`` is ``basic``, ``oauth``, ``bad_key``, ``wrong_secret`` or ``plain_basic``."""

    method: str
    path: str
    body: str | None = None
    auth: str = "basic"


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


#: Session one (22 November 2026), requests reconstructed from the answers.
FIRST_SESSION: dict[str, Sent] = {
    "10_create_simple_a": Sent(
        "POST",
        "products",
        _json(
            {
                "name": "Test Simple A",
                "type": "simple",
                "sku": "TSA-1",
                "regular_price": "10.00",
                "manage_stock": True,
                "stock_quantity": 5,
            }
        ),
    ),
    "11_create_simple_b": Sent(
        "POST",
        "products",
        _json(
            {
                "name": "Test Simple B",
                "type": "simple",
                "sku": "TSB-1",
                "regular_price": "20.50",
                "manage_stock": True,
                "stock_quantity": 3,
            }
        ),
    ),
    "12_create_variable": Sent(
        "POST",
        "products",
        _json(
            {
                "name": "Test Tee",
                "type": "variable",
                "sku": "TEE",
                "attributes": [{"name": "Size", "variation": True, "visible": True, "options": ["S", "M"]}],
            }
        ),
    ),
    "13_create_variation_s": Sent(
        "POST",
        "products/12/variations",
        _json({"sku": "TEE-S", "regular_price": "15.00", "manage_stock": True, "stock_quantity": 7}),
    ),
    "14_create_variation_m": Sent(
        "POST",
        "products/12/variations",
        _json({"sku": "TEE-M", "regular_price": "15.00", "manage_stock": True, "stock_quantity": 9}),
    ),
    "20_update_stock_simple": Sent("PUT", "products/10", _json({"stock_quantity": 42})),
    "21_update_stock_variation": Sent("PUT", "products/12/variations/13", _json({"stock_quantity": 0})),
    "22_batch_products": Sent(
        "POST",
        "products/batch",
        _json(
            {
                "create": [
                    {
                        "name": "Batch Created C",
                        "type": "simple",
                        "sku": "TBC-1",
                        "regular_price": "5.00",
                        "manage_stock": True,
                        "stock_quantity": 1,
                    },
                    {"name": "Duplicate", "type": "simple", "sku": "TSA-1", "regular_price": "1.00"},
                ],
                "update": [{"id": 11, "regular_price": "19.99", "stock_quantity": 99}, {"id": 999999}],
            }
        ),
    ),
    "23_variations_batch": Sent(
        "POST", "products/12/variations/batch", _json({"update": [{"id": 14, "stock_quantity": 4}]})
    ),
    "30_list_products_p1": Sent("GET", "products?per_page=2&page=1&orderby=id&order=asc"),
    "31_list_products_p2": Sent("GET", "products?per_page=2&page=2&orderby=id&order=asc"),
    "32_list_variations": Sent("GET", "products/12/variations"),
    "33_get_by_sku": Sent("GET", "products?sku=TSB-1"),
    "34_get_variable": Sent("GET", "products/12"),
    "35_batch_delete": Sent("POST", "products/batch", _json({"delete": [15]})),
    "36_list_after_delete": Sent("GET", "products?per_page=2&page=1&orderby=id&order=asc"),
    "37_https_bad_key": Sent("GET", "products", auth="bad_key"),
    "40_http_basic_rejected": Sent("GET", "products", auth="plain_basic"),
    "41_http_oauth1_list_p1": Sent("GET", "products?per_page=2&orderby=id&order=asc", auth="oauth"),
    "42_rest_route_form": Sent("GET", "/?rest_route=/wc/v3/products"),
}


def _from_file(name: str) -> Sent:
    """A ``.request`` file: a comment, ``METHOD URL``, a blank line, the body."""
    lines = (CAPTURES / f"{name}.request").read_text().splitlines()
    method, url = lines[1].split(" ", 1)
    body = "\n".join(lines[3:]).strip() or None
    path = url.split("/wp-json/wc/v3/", 1)[1]
    return Sent(method, path, body, "wrong_secret" if "wrong_secret" in name else "basic")


def _captured(name: str) -> tuple[int, dict[str, str], Any]:
    """Status, headers and body; 42 was kept without headers, its status is the one its body names."""
    body = json.loads((CAPTURES / f"{name}.json").read_text())
    path = CAPTURES / f"{name}.headers"
    if not path.exists():
        return int(body["data"]["status"]), {}, body
    head = path.read_text().splitlines()
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in head[1:]) if v}
    return int(head[0].split()[1]), headers, body


def _names() -> list[str]:
    return sorted(p.stem for p in CAPTURES.glob("*.json"))


# ------------------------------------------------------------------ comparing


def _fields(record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    if "error" in record:
        return {"id": record.get("id"), "error": record["error"]["code"], "status": record["error"]["data"]["status"]}
    return {k: record.get(k) for k in READ_FIELDS if k in record}


def _shape(body: Any) -> Any:
    """What the connector reads of an answer: codes of errors, read fields of records, in order."""
    if isinstance(body, dict) and "code" in body and "data" in body:
        return {"code": body["code"], "status": body["data"].get("status")}
    if isinstance(body, list):
        return [_fields(r) for r in body]
    if isinstance(body, dict) and body.keys() & {"create", "update", "delete"}:
        return {k: [_fields(r) for r in v] for k, v in body.items()}
    return _fields(body)


def _links(value: str | None) -> dict[str, dict[str, str]]:
    """``Link`` rel -> the query of its URL without credentials (the host differs by design)."""
    found = {}
    for part in (value or "").split(","):
        if 'rel="' not in part or "api.w.org" in part:
            continue
        url = part.split("<", 1)[1].split(">", 1)[0]
        rel = part.split('rel="', 1)[1].split('"', 1)[0]
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        found[rel] = {k: v for k, v in query.items() if not k.startswith("oauth_")}
    return found


def _paging(headers: Any) -> dict[str, Any]:
    return {
        "total": headers.get("x-wp-total"),
        "pages": headers.get("x-wp-totalpages"),
        "links": _links(headers.get("link")),
    }


# ------------------------------------------------------------------ the two stores


class Clock:
    def __init__(self, start: str) -> None:
        self.now = datetime.fromisoformat(start).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _record(item_id: int, sku: str, **fields: Any) -> dict[str, Any]:
    stamp = fields.pop("date_created_gmt", "2026-11-30T09:32:00")
    return {
        "id": item_id,
        "sku": sku,
        "name": sku,
        "status": "publish",
        "parent_id": 0,
        "date_created": stamp,
        "date_created_gmt": stamp,
        "date_modified": stamp,
        "date_modified_gmt": stamp,
        "regular_price": "10.00",
        "sale_price": "",
        "manage_stock": True,
        "stock_quantity": 10,
        "attributes": [],
        "variations": [],
        **fields,
    }


def _second_store(served: ServedApp) -> None:
    """The store of session two, rebuilt from what its captures show."""
    state = served.app.state.sandbox
    variations = json.loads((CAPTURES / "61_list_all_variations.json").read_text())
    for n in range(1, 191):  # RW-S-0001..0190, ids 10..199 (RW-S-0010 is product 19)
        state.products[9 + n] = _record(9 + n, f"RW-S-{n:04d}", type="simple", name=f"RW Simple {n:04d}")
    state.products[19].update(stock_quantity=42, regular_price="25.00")
    for parent_id in sorted({v["parent_id"] for v in variations}):
        number = (parent_id - 194) // 6
        state.products[parent_id] = _record(
            parent_id,
            f"RW-V{number}",
            type="variable",
            manage_stock=False,
            stock_quantity=None,
            name=f"RW Tee {number}",
        )
    for v in sorted(variations, key=lambda v: v["id"]):
        state.variations[v["id"]] = {k: v[k] for k in v if k != "_links"}
        state.products[v["parent_id"]]["variations"].append(v["id"])
    probe = _record(245, "CAP-PROBE-1", type="simple", regular_price="20.00", stock_quantity=5)
    probe["date_created_gmt"] = "2026-11-30T09:44:56"
    unmanaged = _record(246, "CAP-PROBE-2", type="simple", manage_stock=False, stock_quantity=None)
    unmanaged["date_created_gmt"] = "2026-11-30T09:44:57"
    state.products[245], state.products[246] = probe, unmanaged
    for record in [*state.products.values(), *state.variations.values()]:
        state._settle(record)
    # The orders placed before the captured one (73 lists them), and the ids they used.
    for order in json.loads((CAPTURES / "73_orders_list_after.json").read_text()):
        if order["id"] != 247:
            state.orders[order["id"]] = {**{k: v for k, v in order.items() if k != "_links"}, "_stock_reduced": True}
    state._next_id = 247


@pytest.fixture(scope="module")
def stores() -> Iterator[dict[str, ServedApp]]:
    empty = Catalogue([], {}, [], ["web-warehouse"])
    first = create_app(
        empty, consumer_key=KEY, consumer_secret=SECRET, accept_basic=True, clock=Clock("2026-11-22T23:30:12")
    )
    second = create_app(
        empty,
        consumer_key=KEY,
        consumer_secret=SECRET,
        accept_basic=True,
        clock=Clock("2026-11-30T09:44:58"),
        webhook_sender=WebhookSender(),
    )
    with serve(first) as one, serve(second) as two, serve(_receiver()) as receiver:
        _second_store(two)
        yield {"first": one, "second": two, "receiver": receiver}


#: Where the captured webhooks delivered; the replay's receiver stands in for it.
CAPTURED_RECEIVER = "http://127.0.0.1:18777"


def _receiver() -> Starlette:
    """What received the real deliveries: anything at all, answered 200."""

    async def take(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    return Starlette(routes=[Route("/{path:path}", take, methods=["POST"])])


def _send(served: ServedApp, sent: Sent, receiver: str = "") -> httpx.Response:
    url = served.url + (sent.path if sent.path.startswith("/") else f"/wp-json/wc/v3/{sent.path}")
    state = served.app.state.sandbox
    auth: httpx.Auth | None = httpx.BasicAuth(KEY, SECRET)
    if sent.auth == "bad_key":
        auth = httpx.BasicAuth("ck_not_a_key", SECRET)
    elif sent.auth == "wrong_secret":
        auth = httpx.BasicAuth(KEY, "cs_wrong")
    elif sent.auth == "oauth":  # signed by the official client's OAuth 1.0a code
        auth, url = None, OAuth(url, KEY, SECRET, version="wc/v3", method=sent.method).get_oauth_url()
    state.accept_basic = sent.auth != "plain_basic"
    body = sent.body.replace(CAPTURED_RECEIVER, receiver) if sent.body and receiver else sent.body
    try:
        headers = {"content-type": "application/json"} if sent.body else {}
        answer = httpx.request(sent.method, url, content=body, auth=auth, headers=headers)
        if receiver:  # the answer as if the captured receiver had been used
            answer._content = answer.content.replace(receiver.encode(), CAPTURED_RECEIVER.encode())
        return answer
    finally:
        state.accept_basic = True


# ------------------------------------------------------------------ the tests


def test_every_capture_is_replayed_or_named_as_not_simulated() -> None:
    names = set(_names())
    covered = set(FIRST_SESSION) | {p.stem for p in CAPTURES.glob("*.request")}
    assert names == covered, f"captures without a replayed request: {sorted(names - covered)}"
    assert set(UNMODELLED) <= names


def _replayed() -> list[str]:
    return [n for n in _names() if n not in UNMODELLED]


@pytest.mark.parametrize("name", _replayed())
def test_sandbox_answers_as_the_real_store(stores: dict[str, ServedApp], name: str) -> None:
    """Run in capture order: each session's requests change its store as they changed the real one."""
    first = name in FIRST_SESSION
    served = stores["first" if first else "second"]
    sent = FIRST_SESSION[name] if first else _from_file(name)
    status, headers, body = _captured(name)
    if name in CLOCK_AT:
        served.app.state.sandbox._clock.now = datetime.fromisoformat(CLOCK_AT[name]).replace(tzinfo=UTC)
    if name.startswith("76_"):
        _wait_for_deliveries(served)
    answer = _send(served, sent, stores["receiver"].url)
    assert answer.status_code == status
    assert _shape(answer.json()) == _shape(body)
    if isinstance(body, list):
        assert _paging(answer.headers) == _paging(headers)
    if name >= "70_":
        assert _whole(answer.json()) == _whole(body)
        assert ("location" in answer.headers) == ("location" in headers)
    stock = CAPTURES / f"{name}.stock"
    if stock.exists():
        assert _quantities(served, stock) == _stock_after(stock)


def _whole(body: Any) -> Any:
    """Every field name of an order or webhook (and of its lines), and the values the store decides."""
    if isinstance(body, list):
        return [_whole(item) for item in body]
    if not isinstance(body, dict) or "code" in body:
        return body
    if "line_items" not in body and "topic" not in body:
        return None  # a product: the sandbox keeps the fields the connector reads (READ_FIELDS)
    out: dict[str, Any] = {"keys": sorted(body), "links": sorted(body.get("_links", {}))}
    if "topic" in body:
        out.update({k: body[k] for k in WEBHOOK_VALUES})
        out["modified"] = body["date_modified_gmt"] is not None
        return out
    out.update({k: body[k] for k in ORDER_VALUES})
    out["lines"] = [
        {
            "keys": sorted(line),
            "meta": [m["key"] for m in line["meta_data"]],
            **{k: line[k] for k in LINE_VALUES},
        }
        for line in body["line_items"]
    ]
    return out


def _stock_after(note: Path) -> dict[str, int]:
    """``simple RW-S-0010: 42 -> 40`` lines: the quantity each SKU was left with."""
    found = {}
    for line in note.read_text().splitlines():
        if "->" in line:
            head, _, after = line.partition("->")
            found[head.split()[1].rstrip(":")] = int(after)
    return found


def _quantities(served: ServedApp, note: Path) -> dict[str, int]:
    shown = served.app.state.sandbox.quantities()
    return {sku: shown[sku] for sku in _stock_after(note)}


def _wait_for_deliveries(served: ServedApp) -> None:
    """The webhooks of 76 were read back after their deliveries were made (or failed)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(f"{served.url}/_sandbox/webhooks").json()["pending"] == 0:
            return
        time.sleep(0.02)
    raise AssertionError("the sandbox's deliveries did not finish")
