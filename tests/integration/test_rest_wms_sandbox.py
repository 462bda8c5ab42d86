"""The rest_wms connector against its sandbox over loopback: paging, increments, limits, faults."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.rest_wms import RestWmsConnector, RestWmsSettings
from connectors.rest_wms.sandbox import WmsState, create_app
from hub.errors import AuthError, FatalError
from hub.model.base import Entity
from hub.model.catalogue import Product, StockLevel
from hub.plugins.contract import ConnectorContext, PullPage
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import Fault, ServedApp, serve
from hub.sandbox.seed import Catalogue, demo_store

KEY = "wms_SECRET_0123456789"
PAGE = 4


@pytest.fixture
def catalogue() -> Catalogue:
    return demo_store()


@pytest.fixture
def sandbox(catalogue: Catalogue, request: pytest.FixtureRequest) -> Iterator[ServedApp]:
    options: dict[str, Any] = getattr(request, "param", {})
    with serve(create_app(catalogue.copy(), api_key=KEY, **options)) as served:
        yield served


def state(served: ServedApp) -> WmsState:
    return served.app.state.sandbox


def connector(served: ServedApp, **overrides: Any) -> RestWmsConnector:
    style = state(served).pagination
    options: dict[str, Any] = {
        "type": "rest_wms",
        "base_url": served.url,
        "api_key": KEY,
        "page_size": PAGE,
        "pagination": {"style": style, "page_size_param": "per_page" if style == "page" else "limit"},
        "updated_since_param": "updated_since",
        "locations": state(served).warehouses,
        "max_attempts": 4,
    }
    options.update(overrides)
    settings = RestWmsSettings(**options)
    mapping = load_mapping("rest_wms", settings={"locations": settings.locations})
    return RestWmsConnector("wms", settings, ConnectorContext(mapping=mapping))


async def pull(wms: RestWmsConnector, entity: Entity = Entity.stock, since: str | None = None) -> list[PullPage]:
    return [page async for page in wms.pull(entity, since)]


def levels(wms: RestWmsConnector, pages: list[PullPage]) -> dict[str, StockLevel]:
    mapping = wms.context.mapping
    assert mapping is not None
    out: dict[str, StockLevel] = {}
    for page in pages:
        for record in page.records:
            level = mapping[Entity.stock].to_canonical(record)
            assert isinstance(level, StockLevel)
            out[level.key] = level
    return out


def catalogue_levels(catalogue: Catalogue) -> dict[str, int]:
    return {f"{sku}@{code}": n for sku, by_code in catalogue.stock.items() for code, n in by_code.items()}


@pytest.mark.parametrize(
    "sandbox", [{"pagination": "cursor"}, {"pagination": "next_url"}, {"pagination": "page"}], indirect=True
)
async def test_a_full_pull_returns_every_level_in_the_fewest_requests(sandbox: ServedApp, catalogue: Catalogue) -> None:
    async with connector(sandbox) as wms:
        pages = await pull(wms)
        got = levels(wms, pages)

    assert {key: level.available for key, level in got.items()} == catalogue_levels(catalogue)
    assert all(level.on_hand is not None and level.on_hand >= level.available for level in got.values())
    rows = len(got)
    assert wms.transport_stats is not None
    assert wms.transport_stats.requests == math.ceil(rows / PAGE) == sandbox.app.state.requests["total"]
    assert pages[-1].complete and pages[-1].total == rows


@pytest.mark.parametrize("sandbox", [{"report_available": False}], indirect=True)
async def test_available_is_derived_from_on_hand_and_committed_when_the_wms_omits_it(
    sandbox: ServedApp, catalogue: Catalogue
) -> None:
    async with connector(sandbox) as wms:
        got = levels(wms, await pull(wms))

    assert {key: level.available for key, level in got.items()} == catalogue_levels(catalogue)


@pytest.mark.parametrize("sandbox", [{"pagination": "cursor"}, {"pagination": "page"}], indirect=True)
async def test_an_incremental_pull_returns_only_what_moved_since_the_cursor(sandbox: ServedApp) -> None:
    async with connector(sandbox) as wms:
        full = await pull(wms)
        cursor = full[-1].cursor
        assert cursor is not None
        state(sandbox).set_stock("JKT-ALPINE-M", "milano-store", on_hand=9, committed=2)
        async with httpx.AsyncClient(base_url=sandbox.url) as client:  # the control route moves stock too
            answer = await client.post(
                "/_sandbox/stock", json={"sku": "CAP-WOOL", "location": "web-warehouse", "on_hand": 1, "committed": 1}
            )
            assert answer.status_code == 200
        changed = await pull(wms, since=cursor)
        nothing = await pull(wms, since=changed[-1].cursor)

    got = levels(wms, changed)
    assert got == {
        "JKT-ALPINE-M@milano-store": StockLevel(sku="JKT-ALPINE-M", location="milano-store", available=7, on_hand=9),
        "CAP-WOOL@web-warehouse": StockLevel(sku="CAP-WOOL", location="web-warehouse", available=0, on_hand=1),
    }
    assert not changed[-1].complete and changed[-1].cursor is not None and changed[-1].cursor > cursor
    assert [p.records for p in nothing] == [[]]


async def test_products_are_read_from_the_items_listing(sandbox: ServedApp, catalogue: Catalogue) -> None:
    async with connector(sandbox) as wms:
        pages = await pull(wms, Entity.products)
    mapping = wms.context.mapping
    assert mapping is not None
    products = [mapping[Entity.products].to_canonical(r) for p in pages for r in p.records]

    expected = [Product(sku=i.sku, title=i.title, barcode=i.barcode) for i in catalogue.items]
    assert sorted(products, key=lambda p: p.sku) == sorted(expected, key=lambda p: p.sku)


@pytest.mark.parametrize("sandbox", [{"rate_limit_per_s": 4}], indirect=True)
async def test_a_429_is_waited_out_for_its_retry_after(sandbox: ServedApp, catalogue: Catalogue) -> None:
    async with connector(sandbox, rate_limit_remaining_header=None) as wms:
        got = levels(wms, await pull(wms))

    assert len(got) == len(catalogue_levels(catalogue))
    assert wms.transport_stats is not None and wms.transport_stats.by_status[429] >= 1


@pytest.mark.parametrize("sandbox", [{"rate_limit_per_s": 4}], indirect=True)
async def test_the_rate_limit_headers_pace_requests_so_no_429_comes(sandbox: ServedApp) -> None:
    async with connector(sandbox) as wms:
        await pull(wms)

    assert wms.transport_stats is not None and wms.transport_stats.by_status[429] == 0
    assert wms.transport_stats.requests == math.ceil(22 / PAGE)


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=503, times=2),
        Fault(status=429, headers={"Retry-After": "0"}, times=2),
        Fault(kind="drop", times=1),
        Fault(kind="malformed", times=1),
    ],
    ids=["5xx", "429", "drop", "malformed"],
)
async def test_injected_faults_are_retried_and_lose_nothing(
    sandbox: ServedApp, catalogue: Catalogue, fault: Fault
) -> None:
    sandbox.app.state.faults.add(fault)
    async with connector(sandbox) as wms:
        got = levels(wms, await pull(wms))

    assert {key: level.available for key, level in got.items()} == catalogue_levels(catalogue)
    assert sum(sandbox.app.state.faults.injected.values()) >= 1
    assert wms.transport_stats is not None and wms.transport_stats.retries >= 1


async def test_a_wrong_key_is_one_auth_error_naming_the_connector_and_api_key(sandbox: ServedApp) -> None:
    async with connector(sandbox, api_key="wms_wrong_key_999") as wms:
        with pytest.raises(AuthError) as caught:
            await pull(wms)

    message = str(caught.value)
    assert message.startswith("[wms] ") and "`api_key`" in message and "HTTP 401" in message
    assert "wms_wrong_key_999" not in message and KEY not in message
    assert sandbox.app.state.requests["total"] == 1


@pytest.mark.parametrize("sandbox", [{"auth_header": "X-Api-Key", "auth_scheme": ""}], indirect=True)
async def test_a_bare_key_header_is_accepted(sandbox: ServedApp) -> None:
    async with connector(sandbox, auth_header="X-Api-Key", auth_scheme="") as wms:
        await wms.ping()
        assert len(levels(wms, await pull(wms))) == 22


async def test_a_page_size_above_the_wms_maximum_is_a_fatal_error_with_the_wms_reason(sandbox: ServedApp) -> None:
    async with connector(sandbox, page_size=501) as wms:
        with pytest.raises(FatalError, match="limit must be between 1 and 500"):
            await pull(wms)


async def test_an_empty_wms_is_refused_by_the_guard(sandbox: ServedApp) -> None:
    state(sandbox).clear_stock()
    async with connector(sandbox) as wms:
        with pytest.raises(FatalError, match="min_records"):
            await pull(wms)


async def test_the_sandbox_refuses_a_cursor_it_did_not_give_out(sandbox: ServedApp) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=sandbox.url, headers=headers) as client:
        forged = await client.get("/v1/inventory", params={"cursor": "bm90LWEtY3Vyc29y"})
        warehouses = await client.get("/_sandbox/warehouses")

    assert forged.status_code == 400 and forged.json()["code"] == "invalid_cursor"
    assert warehouses.json() == {"WH-1": "milano-store", "WH-2": "web-warehouse"}


async def test_a_slow_answer_times_out_and_is_asked_again(sandbox: ServedApp, catalogue: Catalogue) -> None:
    sandbox.app.state.faults.add(Fault(kind="delay", seconds=0.6, times=1))
    async with connector(sandbox, timeout_s=0.2) as wms:
        got = levels(wms, await pull(wms))

    assert len(got) == len(catalogue_levels(catalogue))
    assert wms.transport_stats is not None and wms.transport_stats.by_kind["timeout"] == 1
