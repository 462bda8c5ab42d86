"""The Shopify connector against its sandbox over loopback: real HTTP, real GraphQL execution."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import create_app, location_gids
from hub.errors import AuthError
from hub.model.base import Consent, Entity
from hub.model.customers import Customer
from hub.plugins.contract import Change, ConnectorContext, RawRecord
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import Fault, ServedApp, serve
from hub.sandbox.seed import Catalogue, demo_store, synthetic
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]
GRAPHQL = "/admin/api/2026-07/graphql.json"


@pytest.fixture
def catalogue() -> Catalogue:
    return demo_store()


@pytest.fixture
def served(catalogue: Catalogue) -> Iterator[ServedApp]:
    with serve(create_app(catalogue, access_token=TOKEN)) as running:
        yield running


def make(served: ServedApp, catalogue: Catalogue, **overrides: Any) -> ShopifyConnector:
    options: dict[str, Any] = {
        "shop": "demo.myshopify.com",
        "access_token": TOKEN,
        "base_url": served.url,
        "verify_tls": False,
        "locations": location_gids(catalogue),
        **overrides,
    }
    settings = ShopifySettings(**options)
    mapping = load_mapping("shopify", settings={"locations": settings.locations})
    return ShopifyConnector("shop", settings, ConnectorContext(mapping=mapping))


async def pull_all(
    connector: ShopifyConnector, entity: Entity, since: str | None = None
) -> tuple[list[Any], str | None]:
    mapping = connector.context.mapping
    assert mapping is not None
    records: list[tuple[Any, RawRecord]] = []
    cursor = None
    async for page in connector.pull(entity, since):
        records.extend((mapping[entity].to_canonical(raw), raw) for raw in page.records)
        cursor = page.cursor
    return records, cursor


def change(entity: Entity, key: str, values: dict[str, Any], previous: dict[str, Any], link: dict[str, str]) -> Change:
    return Change(entity, key, "shop", values, previous, None, link, f"idem-{key}")


async def test_full_pull_matches_the_catalogue(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as connector:
        prices, _ = await pull_all(connector, Entity.prices)
        stock, _ = await pull_all(connector, Entity.stock)
        products, _ = await pull_all(connector, Entity.products)
        customers, _ = await pull_all(connector, Entity.customers)
    assert {p.sku: p.amount for p, _ in prices} == {i.sku: Decimal(i.price) for i in catalogue.items}
    assert {s.key: s.available for s, _ in stock} == {
        f"{sku}@{loc}": n for sku, levels in catalogue.stock.items() for loc, n in levels.items()
    }
    assert {p.sku for p, _ in products} == {i.sku for i in catalogue.items}
    assert all(p.status == "active" and p.barcode for p, _ in products)
    by_email = {c.email: c for c, _ in customers}
    assert by_email["luca.neri@example.com"].email_marketing is Consent.unsubscribed
    assert by_email["giulia.rossi@example.com"].tags == ("vip",)
    assert connector.read_mode[Entity.prices] == "pages"


async def test_unmapped_location_is_skipped_with_a_note(
    served: ServedApp, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    only_first = dict(list(location_gids(catalogue).items())[:1])
    async with make(served, catalogue, locations=only_first) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
    assert {s.location for s, _ in stock} == set(only_first.values())
    assert "gid://shopify/Location/2" in caplog.text and "not in `locations`" in caplog.text


async def test_incremental_pull_returns_only_what_changed(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as connector:
        prices, cursor = await pull_all(connector, Entity.prices)
        assert cursor is not None
        record, raw = next((p, r) for p, r in prices if p.sku == "TEE-BASIC-M")
        [result] = await connector.push(
            Entity.prices, [change(Entity.prices, record.key, {"amount": Decimal("21.00")}, {}, raw.link)]
        )
        assert result.ok
        changed, new_cursor = await pull_all(connector, Entity.prices, since=cursor)
    assert [(p.sku, p.amount) for p, _ in changed] == [("TEE-BASIC-M", Decimal("21.00"))]
    assert new_cursor is not None and new_cursor > cursor


async def test_bulk_pull_reads_the_same_records_as_paging(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as paging:
        paged_stock, _ = await pull_all(paging, Entity.stock)
        paged_prices, _ = await pull_all(paging, Entity.prices)
    async with make(served, catalogue, bulk_threshold=3) as bulk:
        bulk_stock, _ = await pull_all(bulk, Entity.stock)
        bulk_prices, _ = await pull_all(bulk, Entity.prices)
        assert bulk.read_mode == {Entity.stock: "bulk", Entity.prices: "bulk"}
    assert {r.key: r for r, _ in bulk_stock} == {r.key: r for r, _ in paged_stock} and len(bulk_stock) == 22
    assert {r.key: r for r, _ in bulk_prices} == {r.key: r for r, _ in paged_prices}
    assert {tuple(sorted(raw.link)) for _, raw in bulk_stock} >= {("inventory_item_id", "location_id", "variant_id")}


async def test_price_push_reports_user_errors_per_record(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as connector:
        prices, _ = await pull_all(connector, Entity.prices)
        links = {p.sku: r.link for p, r in prices}
        changes = [
            change(Entity.prices, "JKT-ALPINE-S", {"amount": Decimal("99.00")}, {}, links["JKT-ALPINE-S"]),
            change(Entity.prices, "JKT-ALPINE-M", {"amount": Decimal("-1.00")}, {}, links["JKT-ALPINE-M"]),
            change(
                Entity.prices,
                "JKT-ALPINE-L",
                {"amount": Decimal("95.00")},
                {},
                {**links["JKT-ALPINE-L"], "variant_id": "gid://shopify/ProductVariant/999999"},
            ),
            change(
                Entity.prices,
                "CAP-WOOL",
                {"amount": Decimal("25.00"), "compare_at": Decimal("30.00")},
                {},
                links["CAP-WOOL"],
            ),
        ]
        results = await connector.push(Entity.prices, changes)
        requests = connector.transport_stats.requests if connector.transport_stats else 0
    assert [r.key for r in results] == [c.key for c in changes]
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].code == "NEGATIVE_PRICE_VALUE" and results[2].code == "PRODUCT_VARIANT_DOES_NOT_EXIST"
    state = served.app.state.sandbox
    assert state.variant("JKT-ALPINE-S").price == "99.00" and state.variant("JKT-ALPINE-M").price == "89.00"
    assert (state.variant("CAP-WOOL").price, state.variant("CAP-WOOL").compareAtPrice) == ("25.00", "30.00")
    assert requests == 2 + 2  # the count and one page, then one call per product


async def test_stock_push_racing_a_sale_keeps_the_sale(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        by_key = {s.key: (s, r) for s, r in stock}
        raced, raced_raw = by_key["JKT-ALPINE-M@web-warehouse"]
        calm, calm_raw = by_key["JKT-ALPINE-S@web-warehouse"]
        async with httpx.AsyncClient(base_url=served.url) as http:  # a customer buys 2 meanwhile
            sold = await http.post("/_sandbox/sale", json={"sku": raced.sku, "location": raced.location, "quantity": 2})
        assert sold.status_code == 200
        results = await connector.push(
            Entity.stock,
            [
                change(
                    Entity.stock,
                    raced.key,
                    {"available": raced.available + 10},
                    {"available": raced.available},
                    raced_raw.link,
                ),
                change(
                    Entity.stock,
                    calm.key,
                    {"available": calm.available + 1},
                    {"available": calm.available},
                    calm_raw.link,
                ),
            ],
        )
    state = served.app.state.sandbox
    truth_minus_sale = raced.available + 10 - 2
    assert state.available(raced.sku, raced.location) == truth_minus_sale
    assert state.available(calm.sku, calm.location) == calm.available + 1
    assert results[0].stale and not results[0].ok and results[0].actual == {"available": truth_minus_sale}
    assert results[1].ok and not results[1].stale


async def test_stock_push_to_an_unstocked_location_fails_that_record_only(catalogue: Catalogue) -> None:
    del catalogue.stock["CAP-WOOL"]["milano-store"]
    with serve(create_app(catalogue, access_token=TOKEN)) as served:
        async with make(served, catalogue) as connector:
            stock, _ = await pull_all(connector, Entity.stock)
            cap = next(r for s, r in stock if s.sku == "CAP-WOOL")
            tee, tee_raw = next((s, r) for s, r in stock if s.key == "TEE-BASIC-S@milano-store")
            results = await connector.push(
                Entity.stock,
                [
                    change(
                        Entity.stock,
                        "CAP-WOOL@milano-store",
                        {"available": 3},
                        {"available": 0},
                        {**cap.link, "location_id": "gid://shopify/Location/1"},
                    ),
                    change(Entity.stock, tee.key, {"available": 7}, {"available": tee.available}, tee_raw.link),
                ],
            )
        assert results[0].code == "ITEM_NOT_STOCKED_AT_LOCATION" and not results[0].ok
        assert results[1].ok and served.app.state.sandbox.available("TEE-BASIC-S", "milano-store") == 7


@pytest.mark.parametrize(
    ("version", "stale_code", "idempotency_keys"),
    [("2025-10", "COMPARE_QUANTITY_STALE", 0), ("2026-07", "CHANGE_FROM_QUANTITY_STALE", 2)],
)
async def test_each_api_version_gets_its_own_stock_write(
    served: ServedApp, catalogue: Catalogue, version: str, stale_code: str, idempotency_keys: int
) -> None:
    """2025-10 takes ``compareQuantity``; 2026-07 refuses it and needs ``changeFromQuantity`` with
    ``@idempotent`` on the mutation field. The sandbox runs each against that version's real schema."""
    async with make(served, catalogue, api_version=version) as connector:
        customers, _ = await pull_all(connector, Entity.customers)
        stock, _ = await pull_all(connector, Entity.stock)
        level, raw = next((s, r) for s, r in stock if s.key == "JNS-SLIM-32@web-warehouse")
        served.app.state.sandbox.sale(level.sku, level.location, 1)
        [result] = await connector.push(
            Entity.stock, [change(Entity.stock, level.key, {"available": 50}, {"available": level.available}, raw.link)]
        )
    assert len(customers) == 4
    assert result.stale and result.code == stale_code
    assert served.app.state.sandbox.available(level.sku, level.location) == 49
    assert len(served.app.state.sandbox.idempotency) == idempotency_keys  # each call's @idempotent key


async def test_customers_push_protects_consent(served: ServedApp, catalogue: Catalogue) -> None:
    async with make(served, catalogue) as connector:
        customers, _ = await pull_all(connector, Entity.customers)
        by_email = {c.email: (c, r) for c, r in customers}
        luca, luca_raw = by_email["luca.neri@example.com"]
        giulia, giulia_raw = by_email["giulia.rossi@example.com"]
        new = Customer(email="nuovo@example.com", first_name="Nuovo", email_marketing=Consent.subscribed)
        results = await connector.push(
            Entity.customers,
            [
                change(
                    Entity.customers,
                    luca.key,
                    {"email_marketing": Consent.subscribed},
                    {"email_marketing": Consent.unsubscribed},
                    luca_raw.link,
                ),
                change(
                    Entity.customers,
                    giulia.key,
                    {"email_marketing": Consent.unsubscribed, "last_name": "Rossini"},
                    {"email_marketing": Consent.subscribed, "last_name": "Rossi"},
                    giulia_raw.link,
                ),
                Change(Entity.customers, new.key, "shop", {"email": new.email}, {}, new, {}, "idem-new"),
            ],
        )
        after, _ = await pull_all(connector, Entity.customers)
    assert results[0].code == "CONSENT_PROTECTED" and not results[0].ok
    assert results[1].ok and results[2].ok and results[2].link and results[2].link["customer_id"].startswith("gid://")
    final = {c.email: c for c, _ in after}
    assert final["luca.neri@example.com"].email_marketing is Consent.unsubscribed
    assert final["giulia.rossi@example.com"].email_marketing is Consent.unsubscribed
    assert final["giulia.rossi@example.com"].last_name == "Rossini"
    assert final["nuovo@example.com"].email_marketing is Consent.subscribed


@pytest.mark.parametrize("since", [None, "2000-01-01T00:00:00Z"], ids=["full", "incremental"])
async def test_a_spent_bucket_is_throttled_at_most_once(since: str | None) -> None:
    catalogue = synthetic(600, locations=1)
    app = create_app(catalogue, access_token=TOKEN, bucket_size=1000, restore_rate=2000)
    with serve(app) as served:
        # Another app of the same store has just spent most of the bucket. A full pull learns the
        # store's level from the count's answer (1 point) and waits before its first page; an
        # incremental one, which pages at once, is answered THROTTLED once, then waits by the
        # store's own figures.
        app.state.sandbox.bucket.charge(950)
        async with make(served, catalogue, bulk_threshold=10**6) as connector:
            prices, _ = await pull_all(connector, Entity.prices, since)
            stats = connector.transport_stats
    throttled, counts = (0, 1) if since is None else (1, 0)
    assert len(prices) == 600
    assert stats is not None and stats.throttled == throttled and stats.throttled_in_a_row_max == throttled
    assert app.state.sandbox.bucket.throttled == throttled and stats.requests == counts + 3 + throttled


@pytest.mark.parametrize(
    "fault", [Fault(status=503, times=2), Fault(kind="drop", times=1), Fault(kind="malformed", times=1)]
)
async def test_pull_survives_injected_faults(catalogue: Catalogue, fault: Fault) -> None:
    fault.path = GRAPHQL
    # A failed request still spent its cost in the client's bucket mirror (it cannot know the
    # store did not charge it); a fast restore rate keeps this test quick.
    with serve(create_app(catalogue, access_token=TOKEN, restore_rate=10000)) as served:
        served.app.state.faults.add(fault)
        async with make(served, catalogue, max_attempts=4, restore_rate=10000) as connector:
            prices, _ = await pull_all(connector, Entity.prices)
            stats = connector.transport_stats
    assert len(prices) == len(catalogue.items)
    assert stats is not None and stats.retries >= 1 and served.app.state.faults.injected[fault.kind] >= 1


async def test_a_dropped_answer_to_a_stock_write_does_not_apply_it_twice(
    served: ServedApp, catalogue: Catalogue
) -> None:
    async with make(served, catalogue) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        level, raw = next((s, r) for s, r in stock if s.key == "TEE-BASIC-L@web-warehouse")
        served.app.state.faults.add(Fault(kind="drop_after", method="POST", path=GRAPHQL, times=1))
        [result] = await connector.push(
            Entity.stock, [change(Entity.stock, level.key, {"available": 77}, {"available": level.available}, raw.link)]
        )
    state = served.app.state.sandbox
    assert result.ok and not result.stale
    assert state.available(level.sku, level.location) == 77
    assert state.stock_writes == [(level.sku, level.location, 77)]


async def test_wrong_token_is_an_auth_error_naming_the_setting(served: ServedApp, catalogue: Catalogue) -> None:
    wrong = TEST_SECRETS[0] + "x"
    async with make(served, catalogue, access_token=wrong) as connector:
        with pytest.raises(AuthError) as caught:
            await connector.ping()
        text = f"{caught.value} {caught.value!r} {connector!r} {connector.settings!r} {connector.client!r}"
        text += repr(connector.client.transport)
    assert "[shop]" in str(caught.value) and "access_token" in str(caught.value) and "401" in str(caught.value)
    assert wrong not in text and TOKEN not in text


async def test_sale_hook_over_http_and_in_process(served: ServedApp) -> None:
    state = served.app.state.sandbox
    before = state.available("CAP-WOOL", "web-warehouse")
    assert state.sale("CAP-WOOL", "web-warehouse", 1) == before - 1
    async with httpx.AsyncClient(base_url=served.url) as http:
        answer = await http.post("/_sandbox/sale", json={"sku": "CAP-WOOL", "location": "web-warehouse", "quantity": 2})
        unknown = await http.post("/_sandbox/sale", json={"sku": "NOPE", "location": "web-warehouse"})
    assert answer.json()["available"] == before - 3 and unknown.status_code == 404
    await asyncio.sleep(0)


async def test_no_access_token_in_logs_errors_or_reprs(
    served: ServedApp, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    seen: list[str] = []
    served.app.state.faults.add(Fault(status=500, path=GRAPHQL, times=1))
    async with make(served, catalogue) as connector:
        stock, _ = await pull_all(connector, Entity.stock)
        seen += [repr(connector), repr(connector.client), repr(connector.client.transport), repr(connector.settings)]
        seen += [repr(raw) for _, raw in stock]
    async with make(served, catalogue, access_token=TEST_SECRETS[0][::-1]) as refused:
        with pytest.raises(AuthError) as caught:
            await refused.ping()
        seen += [str(caught.value), repr(caught.value)]
    everything = caplog.text + "\n".join(seen)
    assert "retry" in caplog.text  # the 500 was logged, and redacted
    assert TOKEN not in everything and TEST_SECRETS[0][::-1] not in everything
