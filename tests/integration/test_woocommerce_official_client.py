"""The official ``woocommerce`` Python package, unchanged, against the sandbox: what WooCommerce's own
client sends must be answered as the real platform answers it. It signs OAuth 1.0a over plain
HTTP, and sends HTTP Basic (or the key pair as query parameters) over HTTPS: the sandbox is
served over TLS here with a certificate made for the test. The package is synchronous
(``requests``), so each call runs in a worker thread while the sandbox serves in its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from woocommerce import API

from connectors.woocommerce.sandbox import create_app
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, SeedItem
from tests.conftest import TEST_SECRETS

KEY, SECRET = TEST_SECRETS[1], TEST_SECRETS[2]


def catalogue(n: int) -> Catalogue:
    items = [SeedItem(f"OC-{i:03d}", f"Item {i}", f"OC-{i:03d}", "10.00") for i in range(n)]
    return Catalogue(items, {i.sku: {"web-warehouse": 5} for i in items}, [], ["web-warehouse"])


@pytest.fixture
def plain() -> Iterator[ServedApp]:
    with serve(create_app(catalogue(150), consumer_key=KEY, consumer_secret=SECRET)) as served:
        yield served


@pytest.fixture
def tls(certificate: tuple[Path, Path]) -> Iterator[ServedApp]:
    app = create_app(catalogue(150), consumer_key=KEY, consumer_secret=SECRET)
    with serve(app, tls=(str(certificate[0]), str(certificate[1]))) as served:
        yield served


def official(served: ServedApp, certificate: Path | None = None, **options: Any) -> API:
    return API(served.url, KEY, options.pop("secret", SECRET), verify_ssl=str(certificate or True), **options)


async def call(method: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(method, *args, **kwargs)


async def test_oauth_over_plain_http_pages_with_the_official_client(plain: ServedApp) -> None:
    wc = official(plain)
    first = await call(wc.get, "products", params={"per_page": 100, "orderby": "id", "order": "asc"})
    second = await call(wc.get, "products", params={"per_page": 100, "page": 2, "orderby": "id", "order": "asc"})
    past = await call(wc.get, "products", params={"per_page": 100, "page": 3})
    zero = await call(wc.get, "products", params={"page": 0})
    assert first.status_code == 200, first.text
    assert (first.headers["X-WP-Total"], first.headers["X-WP-TotalPages"]) == ("150", "2")
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    ids = [p["id"] for p in first.json()] + [p["id"] for p in second.json()]
    assert len(ids) == len(set(ids)) == 150 and ids == sorted(ids)
    assert (past.status_code, past.json(), past.headers["X-WP-Total"]) == (200, [], "150")
    assert (zero.status_code, zero.json()["code"]) == (400, "rest_invalid_param")


async def test_basic_over_plain_http_is_refused_and_a_wrong_secret_too(plain: ServedApp) -> None:
    wrong = await call(official(plain, secret="cs_wrong_secret").get, "products")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "woocommerce_rest_authentication_error")


async def test_batch_calls_with_the_official_client(plain: ServedApp) -> None:
    wc = official(plain)
    listed = (await call(wc.get, "products", params={"sku": "oc-001,OC-002"})).json()
    one, two = sorted(listed, key=lambda p: p["sku"])
    body = {
        "create": [{"name": "New", "type": "simple", "sku": "OC-NEW", "regular_price": "3.00"}],
        "update": [{"id": one["id"], "regular_price": "12,50"}, {"id": two["id"], "stock_quantity": 7.5}],
        "delete": [two["id"]],
    }
    answer = await call(wc.post, "products/batch", body)
    empty = await call(wc.post, "products/batch", {})
    after = await call(wc.get, "products", params={"per_page": 100, "page": 2, "orderby": "id", "order": "asc"})
    assert answer.status_code == 200
    data = answer.json()
    assert data["create"][0]["sku"] == "OC-NEW" and data["create"][0]["id"] > 0
    assert data["update"][0]["regular_price"] == "1250"  # stored silently, as captured
    assert data["update"][1]["stock_quantity"] == 7
    assert data["delete"][0]["id"] == two["id"]
    assert (empty.status_code, empty.json()) == (200, [])
    assert after.headers["X-WP-Total"] == "150"  # one created, one trashed


async def test_basic_and_query_string_auth_over_https(tls: ServedApp, certificate: tuple[Path, Path]) -> None:
    assert tls.url.startswith("https://")
    basic = await call(official(tls, certificate[0]).get, "products", params={"per_page": 5})
    query = await call(official(tls, certificate[0], query_string_auth=True).get, "products", params={"per_page": 5})
    wrong = await call(official(tls, certificate[0], secret="cs_wrong_secret").get, "products")
    assert basic.status_code == 200 and len(basic.json()) == 5
    assert basic.request.headers["authorization"].startswith("Basic ")
    assert query.status_code == 200 and "consumer_secret=" in query.request.url
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Consumer secret is invalid.")
