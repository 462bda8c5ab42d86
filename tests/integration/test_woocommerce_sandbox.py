"""The WooCommerce connector against its sandbox over loopback (plain http, so OAuth 1.0a):
pulls, incremental pulls, batch pushes with failed items, the stock race, auth refusals and
injected faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.auth import OAuth1Auth
from connectors.woocommerce.sandbox import create_app
from hub.errors import AuthError
from hub.model.base import Entity
from hub.plugins.contract import Change, RawRecord
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, SeedItem, demo_store
from tests.conftest import TEST_SECRETS

KEY, SECRET = TEST_SECRETS[1], TEST_SECRETS[2]
API = "/wp-json/wc/v3"


class Clock:
    """The sandbox's modification clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def simple_catalogue(n: int) -> Catalogue:
    items = [SeedItem(f"S-{i:03d}", f"Item {i}", f"S-{i:03d}", "10.00") for i in range(n)]
    return Catalogue(items, {i.sku: {"web-warehouse": 20} for i in items}, [], ["web-warehouse"])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[ServedApp]:
    app = create_app(demo_store(), consumer_key=KEY, consumer_secret=SECRET, location_code="web-warehouse", clock=clock)
    with serve(app) as running:
        yield running


def woo(served: ServedApp, **overrides: Any) -> WooCommerceConnector:
    values: dict[str, Any] = {
        "type": "woocommerce",
        "url": served.url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "location": "web-warehouse",
        "max_attempts": 4,
    }
    values.update(overrides)
    return WooCommerceConnector("web", WooCommerceSettings.model_validate(values))


async def pull_all(connector: WooCommerceConnector, entity: Entity, since: str | None = None) -> tuple[dict, list]:
    mapping = connector.mapping[entity]
    records: dict[str, tuple[Any, RawRecord]] = {}
    pages = []
    async for page in connector.pull(entity, since):
        pages.append(page)
        for raw in page.records:
            record = mapping.to_canonical(raw)
            records[record.key] = (record, raw)
    return records, pages


def stats(served: ServedApp) -> dict[str, int]:
    return dict(served.app.state.requests)


async def test_full_pull_of_every_entity_matches_the_catalogue(served: ServedApp) -> None:
    catalogue = demo_store()
    async with woo(served) as connector:
        prices, _ = await pull_all(connector, Entity.prices)
        stock, pages = await pull_all(connector, Entity.stock)
        products, _ = await pull_all(connector, Entity.products)
        customers, _ = await pull_all(connector, Entity.customers)
        requests = connector.transport_stats.requests  # type: ignore[union-attr]
    assert sorted(prices) == sorted(i.sku for i in catalogue.items)
    for item in catalogue.items:
        assert prices[item.sku][0].amount == Decimal(item.price)
        assert stock[f"{item.sku}@web-warehouse"][0].available == catalogue.stock[item.sku]["web-warehouse"]
        assert products[item.sku][0].title == item.title
    assert products["TEE-BASIC-M"][0].group == "TEE-BASIC"
    assert prices["TEE-BASIC-M"][1].link.keys() == {"product_id", "parent_id"}
    assert pages[-1].complete and pages[-1].cursor
    assert sorted(customers) == sorted(c.email for c in catalogue.customers)
    assert customers["giulia.rossi@example.com"][0].phone == "+393471234567"
    # 1 product page + 1 page of all variations, listed once for the three item entities (the
    # connector keeps what it listed for its life, one sync), and 1 customers page.
    assert requests == 2 + 1
    assert connector.listings.replayed == 2 * 2  # prices listed; stock and products replayed


async def test_a_listing_is_read_again_for_an_entity_written_since(served: ServedApp) -> None:
    async with woo(served) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        listed = connector.transport_stats.requests  # type: ignore[union-attr]
        level = stock["CAP-WOOL@web-warehouse"][0]
        change = Change(
            entity=Entity.stock,
            key=level.key,
            connector="web",
            values={"available": level.available + 3},
            previous={"available": level.available},
            record=None,
            link=stock["CAP-WOOL@web-warehouse"][1].link,
            idempotency_key="k1",
        )
        [result] = await connector.push(Entity.stock, [change])
        assert result.ok
        before = connector.transport_stats.requests  # type: ignore[union-attr]
        await pull_all(connector, Entity.prices)  # prices were not written: the listing is replayed
        assert connector.transport_stats.requests == before  # type: ignore[union-attr]
        again, _ = await pull_all(connector, Entity.stock)  # stock was: listed again, the write seen
        assert connector.transport_stats.requests == before + listed  # type: ignore[union-attr]
        assert again["CAP-WOOL@web-warehouse"][0].available == level.available + 3


async def test_incremental_pull_reads_only_changed_products_and_variations(served: ServedApp, clock: Clock) -> None:
    served.app.state.sandbox.sale("CAP-WOOL", 1)  # the newest change before the full pull
    async with woo(served) as connector:
        _, pages = await pull_all(connector, Entity.stock)
        cursor = pages[-1].cursor
        assert cursor == clock.now.strftime("%Y-%m-%dT%H:%M:%S")
        assert cursor is not None
        clock.now += timedelta(minutes=5)
        served.app.state.sandbox.sale("JNS-SLIM-32", 2)
        before = connector.transport_stats.requests  # type: ignore[union-attr]
        changed, pages = await pull_all(connector, Entity.stock, since=cursor)
        spent = connector.transport_stats.requests - before  # type: ignore[union-attr]
        # Nothing changed since: an empty incremental pull keeps the cursor.
        again, later = await pull_all(connector, Entity.stock, since=pages[-1].cursor)
    jeans = ["JNS-SLIM-32@web-warehouse"]
    # The changed variation, and CAP-WOOL again: it changed in the cursor's own second.
    assert sorted(changed) == ["CAP-WOOL@web-warehouse", *jeans]
    assert changed["JNS-SLIM-32@web-warehouse"][0].available == demo_store().stock["JNS-SLIM-32"]["web-warehouse"] - 2
    assert spent == 2  # the changed-products page and the changed-variations page
    assert not pages[-1].complete
    assert pages[-1].cursor == (clock.now.strftime("%Y-%m-%dT%H:%M:%S"))
    assert sorted(again) == jeans  # the one-second overlap re-reads the last second only
    assert later[-1].cursor == pages[-1].cursor


async def test_batch_of_100_prices_with_a_negative_and_an_unknown_item_applies_98_and_reports_two() -> None:
    app = create_app(simple_catalogue(100), consumer_key=KEY, consumer_secret=SECRET, variable_products=False)
    with serve(app) as served:
        async with woo(served) as connector:
            prices, _ = await pull_all(connector, Entity.prices)
            changes = []
            for n, (sku, (record, raw)) in enumerate(sorted(prices.items())):
                amount = Decimal("12.34") if n != 7 else Decimal("-1")
                link = dict(raw.link) if n != 42 else {"product_id": "987654"}
                changes.append(
                    Change(Entity.prices, sku, "web", {"amount": amount}, {"amount": record.amount}, None, link, sku)
                )
            results = await connector.push(Entity.prices, changes)
    assert len(results) == 100
    failed = {r.key: (r.code, r.message) for r in results if not r.ok}
    # WooCommerce would store -1 as sent: the connector refuses it before sending.
    assert failed["S-007"][0] == "invalid_price" and "-1" in failed["S-007"][1]
    assert failed["S-042"] == ("woocommerce_rest_product_invalid_id", "Invalid ID.")
    assert len(failed) == 2
    assert not any(r.retriable for r in results)
    assert stats(served)[f"POST {API}/products/batch"] == 1  # the 98 were sent once, never again
    final = app.state.sandbox.prices()
    assert sum(1 for regular, _ in final.values() if regular == "12.34") == 98


async def test_stock_race_keeps_the_sale(served: ServedApp) -> None:
    sandbox = served.app.state.sandbox
    async with woo(served) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        key = "TEE-BASIC-M@web-warehouse"
        record, raw = stock[key]
        other_key = "CAP-WOOL@web-warehouse"
        other, other_raw = stock[other_key]
        sandbox.sale("TEE-BASIC-M", 3)
        changes = [
            Change(
                Entity.stock,
                key,
                "web",
                {"available": record.available + 10},
                {"available": record.available},
                None,
                raw.link,
                key,
            ),
            Change(
                Entity.stock,
                other_key,
                "web",
                {"available": 50},
                {"available": other.available},
                None,
                other_raw.link,
                other_key,
            ),
        ]
        results = await connector.push(Entity.stock, changes)
    assert sandbox.item("TEE-BASIC-M")["stock_quantity"] == record.available + 10 - 3
    assert (results[0].ok, results[0].stale, results[0].actual) == (False, True, {"available": record.available + 7})
    assert results[1].ok and sandbox.item("CAP-WOOL")["stock_quantity"] == 50


async def test_wrong_secret_is_one_auth_error_after_one_request(served: ServedApp) -> None:
    async with woo(served, consumer_secret="cs_wrong_0123456789") as connector:
        with pytest.raises(AuthError) as info:
            await pull_all(connector, Entity.prices)
    text = str(info.value)
    assert "woocommerce_rest_authentication_error" in text and "Invalid signature" in text
    assert "consumer_key" in text and "consumer_secret" in text and "[web]" in text
    assert stats(served)["total"] == 1


async def test_basic_over_plain_http_is_refused_as_captured(served: ServedApp) -> None:
    async with woo(served, auth="basic") as connector:
        with pytest.raises(AuthError) as info:
            await connector.ping()
    assert "woocommerce_rest_cannot_view" in str(info.value) and "oauth1" in str(info.value)
    assert SECRET not in str(info.value)


async def test_basic_and_query_auth_work_where_the_site_accepts_them() -> None:
    app = create_app(demo_store(), consumer_key=KEY, consumer_secret=SECRET, accept_basic=True)
    with serve(app) as served:
        for mode in ("basic", "query"):
            async with woo(served, auth=mode) as connector:
                prices, _ = await pull_all(connector, Entity.prices)
            assert len(prices) == len(demo_store().items)


async def test_sandbox_refuses_oversized_pages_and_batches_and_replayed_nonces(served: ServedApp) -> None:
    auth = OAuth1Auth(KEY, SECRET)
    async with httpx.AsyncClient(base_url=served.url + API, auth=auth) as client:
        page = await client.get("/products", params={"per_page": 101})
        batch = await client.post("/products/batch", json={"update": [{"id": i} for i in range(101)]})
        ok = await client.get("/products", params={"per_page": 1})
        replay = await httpx.AsyncClient().get(str(ok.request.url))
        stale = await httpx.AsyncClient(auth=OAuth1Auth(KEY, SECRET, clock=lambda: 1_000_000)).get(
            served.url + API + "/products"
        )
    assert (page.status_code, page.json()["code"]) == (400, "rest_invalid_param")
    assert (batch.status_code, batch.json()["code"]) == (413, "woocommerce_rest_request_entity_too_large")
    assert ok.status_code == 200 and ok.headers["X-WP-TotalPages"] == ok.headers["X-WP-Total"]
    assert 'rel="next"' in ok.headers["Link"] and "oauth_signature=" in ok.headers["Link"]
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."
    assert stale.json()["message"] == "Invalid timestamp."


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 429, "headers": {"Retry-After": "0"}},
        {"kind": "drop"},
        {"kind": "malformed"},
    ],
)
async def test_pull_survives_injected_faults(served: ServedApp, fault: dict[str, Any]) -> None:
    served.app.state.faults.add(method="GET", path=f"{API}/variations", times=1, **fault)
    async with woo(served) as connector:
        prices, _ = await pull_all(connector, Entity.prices)
        retries = connector.transport_stats.retries  # type: ignore[union-attr]
    assert len(prices) == len(demo_store().items)
    assert retries == 1 and served.app.state.faults.injected[fault["kind"]] == 1


async def test_dropped_answer_on_a_price_batch_is_resent_and_applied_once(served: ServedApp) -> None:
    async with woo(served) as connector:
        prices, _ = await pull_all(connector, Entity.prices)
        record, raw = prices["CAP-WOOL"]
        served.app.state.faults.add(kind="drop_after", method="POST", path=f"{API}/products/batch", times=1)
        change = Change(
            Entity.prices,
            "CAP-WOOL",
            "web",
            {"amount": Decimal("30.00")},
            {"amount": record.amount},
            None,
            raw.link,
            "k",
        )
        results = await connector.push(Entity.prices, [change])
    # Batch updates set absolute values: the resent call leaves the same state as one call.
    assert results[0].ok
    assert stats(served)[f"POST {API}/products/batch"] == 2
    assert served.app.state.sandbox.item("CAP-WOOL")["regular_price"] == "30.00"


async def test_dropped_answer_on_a_stock_batch_is_confirmed_by_reread_not_applied_twice(served: ServedApp) -> None:
    sandbox = served.app.state.sandbox
    async with woo(served) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        key = "JKT-ALPINE-L@web-warehouse"
        record, raw = stock[key]
        path = f"{API}/products/{raw.link['parent_id']}/variations/batch"
        served.app.state.faults.add(kind="drop_after", method="POST", path=path, times=1)
        change = Change(
            Entity.stock,
            key,
            "web",
            {"available": record.available + 5},
            {"available": record.available},
            None,
            raw.link,
            key,
        )
        results = await connector.push(Entity.stock, [change])
    assert results[0].ok
    assert stats(served)[f"POST {path}"] == 1
    assert sandbox.item("JKT-ALPINE-L")["stock_quantity"] == record.available + 5


async def test_customers_push_creates_and_updates(served: ServedApp) -> None:
    async with woo(served) as connector:
        customers, _ = await pull_all(connector, Entity.customers)
        record, raw = customers["anna.verdi@example.com"]
        changes = [
            Change(Entity.customers, record.key, "web", {"phone": "+393400000000"}, {}, None, raw.link, "u"),
            Change(Entity.customers, "new.person@example.com", "web", {"first_name": "New"}, {}, None, {}, "c"),
            Change(Entity.customers, "marco.bianchi@example.com", "web", {"first_name": "M"}, {}, None, {}, "d"),
        ]
        results = await connector.push(Entity.customers, changes)
        after, _ = await pull_all(connector, Entity.customers)
    assert results[0].ok and results[1].ok and results[1].link and results[1].link["customer_id"]
    assert (results[2].ok, results[2].code) == (False, "registration-error-email-exists")
    assert after["anna.verdi@example.com"][0].phone == "+393400000000"
    assert after["new.person@example.com"][0].first_name == "New"


async def test_sale_endpoint_and_method(served: ServedApp) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        answer = await client.post("/_sandbox/sale", json={"sku": "CAP-WOOL", "quantity": 2})
        unknown = await client.post("/_sandbox/sale", json={"sku": "NOPE"})
    start = demo_store().stock["CAP-WOOL"]["web-warehouse"]
    assert answer.json()["stock_quantity"] == start - 2
    assert unknown.status_code == 404
    assert served.app.state.sandbox.sale("CAP-WOOL", 1) == start - 3


async def test_an_older_store_without_the_variations_route_is_read_per_parent_after_one_probe() -> None:
    app = create_app(demo_store(), consumer_key=KEY, consumer_secret=SECRET, variations_route=False)
    with serve(app) as served:
        async with woo(served) as connector:
            first, _ = await pull_all(connector, Entity.stock)
            second, _ = await pull_all(connector, Entity.stock)
        counts = stats(served)
    assert sorted(first) == sorted(second) == sorted(f"{i.sku}@web-warehouse" for i in demo_store().items)
    assert counts[f"GET {API}/variations"] == 1  # asked once, then remembered
    assert sum(n for route, n in counts.items() if route.endswith("/variations") and "products" in route) == 2 * 3


async def test_variations_sharing_their_parents_stock_are_one_pool_read_and_written_as_the_parent(
    served: ServedApp,
) -> None:
    sandbox = served.app.state.sandbox
    sandbox.share_stock("JNS-SLIM", 12)
    async with woo(served) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        assert "JNS-SLIM-32@web-warehouse" not in stock  # no pool of its own
        record, raw = stock["JNS-SLIM@web-warehouse"]
        assert record.available == 12 and raw.link == {"product_id": str(sandbox.item("JNS-SLIM")["id"])}
        sandbox.sale("JNS-SLIM-30", 2)  # a sale of any variation takes from the pool
        change = Change(
            Entity.stock, record.key, "web", {"available": 20}, {"available": 12}, None, raw.link, record.key
        )
        results = await connector.push(Entity.stock, [change])
    assert (results[0].stale, results[0].actual) == (True, {"available": 18})
    assert sandbox.item("JNS-SLIM")["stock_quantity"] == 18
    assert {sandbox.item(f"JNS-SLIM-{size}")["stock_quantity"] for size in (30, 32, 34)} == {18}
    assert sandbox.item("JNS-SLIM-32")["manage_stock"] == "parent"
