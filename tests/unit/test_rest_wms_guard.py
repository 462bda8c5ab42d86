"""The truncation guard: an empty or cut-short complete pull must fail, never zero the stock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.rest_wms import RestWmsConnector, RestWmsSettings
from connectors.rest_wms.guard import PullGuard
from hub.errors import FatalError
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext, PullPage

BASE = "https://wms.example.com/api"


def connector(**overrides: Any) -> RestWmsConnector:
    options: dict[str, Any] = {"type": "rest_wms", "base_url": BASE, "api_key": "wms_SECRET_0123456789"}
    options.update(overrides)
    return RestWmsConnector("wms", RestWmsSettings(**options), ConnectorContext())


def rows(n: int, warehouse: str = "WH-1") -> list[dict[str, Any]]:
    return [{"sku": f"S{i}", "warehouse_id": warehouse, "on_hand": 1, "committed": 0} for i in range(n)]


async def collect(wms: RestWmsConnector, seen: list[PullPage], since: str | None = None) -> None:
    async for page in wms.pull(Entity.stock, since):
        seen.append(page)


@respx.mock(base_url=BASE)
async def test_an_empty_answer_fails_naming_the_connector_and_min_records(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": []}))
    seen: list[PullPage] = []

    async with connector() as wms:
        with pytest.raises(FatalError, match=r"^\[wms\] .*`min_records` \(1\)"):
            await collect(wms, seen)

    assert seen == []  # not even an empty "complete" page reached the engine


@respx.mock(base_url=BASE)
async def test_fewer_rows_than_announced_fail_and_the_last_page_is_held_back(respx_mock: respx.MockRouter) -> None:
    answers = {
        None: {"data": rows(2), "meta": {"total": 100}, "next_cursor": "2"},
        "2": {"data": rows(1), "meta": {"total": 100}, "next_cursor": None},
    }
    respx_mock.get("/v1/inventory").mock(
        side_effect=lambda request: httpx.Response(200, json=answers[request.url.params.get("cursor")])
    )
    seen: list[PullPage] = []

    async with connector() as wms:
        with pytest.raises(FatalError, match=r"received 3 rows but 100 were expected .*`max_drop_fraction`"):
            await collect(wms, seen)

    assert [len(p.records) for p in seen] == [2]


@respx.mock(base_url=BASE)
async def test_a_pull_much_shorter_than_the_previous_one_fails(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(
        side_effect=[httpx.Response(200, json={"data": rows(10)}), httpx.Response(200, json={"data": rows(4)})]
    )

    async with connector(total_path=None, total_header=None) as wms:
        first: list[PullPage] = []
        await collect(wms, first)
        with pytest.raises(FatalError, match="the previous complete pull"):
            await collect(wms, [])

    assert sum(len(p.records) for p in first) == 10


@respx.mock(base_url=BASE)
async def test_rows_all_in_unmapped_warehouses_trip_min_records(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": rows(5, "WH-7")}))

    async with connector(locations={"WH-1": "milano-store"}) as wms:
        with pytest.raises(FatalError, match="check `locations`"):
            await collect(wms, [])
        assert wms.skipped_warehouses == {"WH-7": 5}


@respx.mock(base_url=BASE)
async def test_incremental_pulls_are_not_guarded(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": [], "meta": {"total": 0}}))
    seen: list[PullPage] = []

    async with connector(updated_since_param="updated_since") as wms:
        await collect(wms, seen, since="2026-01-01T00:00:00Z")

    assert len(seen) == 1 and seen[0].records == [] and not seen[0].complete
    assert seen[0].cursor == "2026-01-01T00:00:00Z"


@respx.mock(base_url=BASE)
async def test_min_records_zero_lets_an_empty_wms_through_as_complete(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": []}))
    seen: list[PullPage] = []

    async with connector(min_records=0) as wms:
        await collect(wms, seen)

    assert len(seen) == 1 and seen[0].complete and seen[0].records == []


@pytest.mark.parametrize(
    ("kept", "received", "expected", "fraction", "fails"),
    [
        (50, 50, 100, 0.5, False),  # exactly the floor
        (49, 49, 100, 0.5, True),
        (10, 10, 100, 1.0, False),  # check turned off
        (99, 99, 100, 0.0, True),  # no shrink allowed at all
        (0, 100, 100, 0.5, True),  # everything skipped: min_records
    ],
)
def test_guard_thresholds(kept: int, received: int, expected: int, fraction: float, fails: bool) -> None:
    guard = PullGuard("wms", "stock", min_records=1, max_drop_fraction=fraction, expected=expected, expected_from="x")
    if fails:
        with pytest.raises(FatalError):
            guard.check(kept=kept, received=received)
    else:
        guard.check(kept=kept, received=received)
