"""The rest_wms connector against respx-mocked WMS answers: paging styles, auth, refusals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.rest_wms import RestWmsConnector, RestWmsSettings
from hub.errors import AuthError, FatalError
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext, PullPage

KEY = "wms_SECRET_0123456789"
BASE = "https://wms.example.com/api"


def connector(**overrides: Any) -> RestWmsConnector:
    options: dict[str, Any] = {"type": "rest_wms", "base_url": BASE, "api_key": KEY, "min_records": 0}
    options.update(overrides)
    return RestWmsConnector("wms", RestWmsSettings(**options), ConnectorContext())


def row(sku: str, warehouse: str = "WH-1", **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "warehouse_id": warehouse, "on_hand": 5, "committed": 1, "available": 4, **extra}


async def pull_all(wms: RestWmsConnector, entity: Entity = Entity.stock, since: str | None = None) -> list[PullPage]:
    async with wms:
        return [page async for page in wms.pull(entity, since)]


def skus(pages: list[PullPage]) -> list[str]:
    return [r.data["sku"] for p in pages for r in p.records]


@respx.mock(base_url=BASE)
async def test_cursor_paging_sends_the_cursor_back_until_the_body_has_none(respx_mock: respx.MockRouter) -> None:
    answers = {
        None: {"data": [row("A"), row("B")], "next_cursor": "c2"},
        "c2": {"data": [row("C")], "next_cursor": None},
    }
    route = respx_mock.get("/v1/inventory").mock(
        side_effect=lambda request: httpx.Response(200, json=answers[request.url.params.get("cursor")])
    )

    pages = await pull_all(connector(page_size=2))

    assert skus(pages) == ["A", "B", "C"]
    assert [c.request.url.params.get("limit") for c in route.calls] == ["2", "2"]
    assert all(p.complete for p in pages)


@respx.mock(base_url=BASE)
async def test_next_url_paging_follows_the_url_in_the_body(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory", params={"limit": "100"}).mock(
        return_value=httpx.Response(200, json={"data": [row("A")], "links": {"next": f"{BASE}/v1/inventory?p=2"}})
    )
    second = respx_mock.get("/v1/inventory", params={"p": "2"}).mock(
        return_value=httpx.Response(200, json={"data": [row("B")], "links": {"next": None}})
    )

    pages = await pull_all(connector(pagination={"style": "next_url"}))

    assert skus(pages) == ["A", "B"]
    assert second.call_count == 1


@respx.mock(base_url=BASE)
async def test_next_url_to_another_host_is_refused_before_the_key_is_sent(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(
        return_value=httpx.Response(200, json={"data": [row("A")], "links": {"next": "https://evil.example/steal"}})
    )
    elsewhere = respx.get("https://evil.example/steal").mock(return_value=httpx.Response(200, json={"data": []}))

    with pytest.raises(FatalError, match="refusing to send the API key"):
        await pull_all(connector(pagination={"style": "next_url"}))
    assert elsewhere.call_count == 0


@respx.mock(base_url=BASE)
async def test_page_paging_stops_at_the_total_pages_header(respx_mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"data": [row(f"S{page}")]}, headers={"X-Total-Pages": "3"})

    route = respx_mock.get("/v1/inventory").mock(side_effect=answer)

    pages = await pull_all(connector(pagination={"style": "page", "page_size_param": "per_page"}))

    assert skus(pages) == ["S1", "S2", "S3"]
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2", "3"]
    assert route.calls[0].request.url.params["per_page"] == "100"


@respx.mock(base_url=BASE)
async def test_page_paging_without_a_total_header_stops_at_the_first_empty_page(respx_mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"data": [row(f"S{page}")] if page <= 2 else []})

    route = respx_mock.get("/v1/inventory").mock(side_effect=answer)

    pages = await pull_all(connector(pagination={"style": "page", "total_pages_header": None}))

    assert skus(pages) == ["S1", "S2"]
    assert route.call_count == 3


@respx.mock(base_url=BASE)
async def test_a_cursor_that_comes_back_is_the_transports_loop_error(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/v1/inventory").mock(
        return_value=httpx.Response(200, json={"data": [row("A")], "next_cursor": "same"})
    )

    with pytest.raises(FatalError, match="pagination loop"):
        await pull_all(connector())
    assert route.call_count == 2  # the first page, then the cursor once; its second coming is refused unsent


@pytest.mark.parametrize(
    ("header", "scheme", "expected"),
    [("Authorization", "Bearer", f"Bearer {KEY}"), ("X-Api-Key", "", KEY), ("Authorization", "Token", f"Token {KEY}")],
)
@respx.mock(base_url=BASE)
async def test_the_key_is_sent_in_the_configured_header_form(
    respx_mock: respx.MockRouter, header: str, scheme: str, expected: str
) -> None:
    route = respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": [row("A")]}))

    await pull_all(connector(auth_header=header, auth_scheme=scheme))

    assert route.calls[0].request.headers[header] == expected


@respx.mock(base_url=BASE)
async def test_a_refused_key_is_one_auth_error_naming_the_connector_and_the_setting(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get("/v1/inventory").mock(
        return_value=httpx.Response(401, json={"code": "unauthorized", "message": "invalid API key"})
    )

    with pytest.raises(AuthError) as caught:
        await pull_all(connector())

    message = str(caught.value)
    assert message.startswith("[wms] ") and "`api_key`" in message and "invalid API key" in message
    assert KEY not in message and KEY not in repr(caught.value)
    assert route.call_count == 1


@respx.mock(base_url=BASE)
async def test_ping_asks_for_one_row_and_reports_a_refused_key(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/v1/inventory").mock(
        side_effect=[httpx.Response(200, json={"data": []}), httpx.Response(403, json={"message": "forbidden"})]
    )
    wms = connector()
    async with wms:
        await wms.ping()
        with pytest.raises(AuthError, match="api_key"):
            await wms.ping()
    assert route.calls[0].request.url.params["limit"] == "1"


@respx.mock(base_url=BASE)
async def test_incremental_pull_sends_the_cursor_and_returns_the_newest_time(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/v1/inventory").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    row("A", updated_at="2026-02-01T10:00:00Z"),
                    row("B", updated_at="2026-02-01T12:00:00+01:00"),  # 11:00 UTC: the newest
                    row("C", updated_at="2026-02-01T10:30:00Z"),
                ]
            },
        )
    )

    pages = await pull_all(connector(updated_since_param="updated_since"), since="2026-02-01T09:00:00Z")

    assert route.calls[0].request.url.params["updated_since"] == "2026-02-01T09:00:00Z"
    assert pages[-1].cursor == "2026-02-01T12:00:00+01:00"
    assert not any(p.complete for p in pages)


@respx.mock(base_url=BASE)
async def test_since_without_an_updated_since_param_makes_a_complete_pull(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"data": [row("A")]}))

    pages = await pull_all(connector(), since="2026-02-01T09:00:00Z")

    assert "updated_since" not in route.calls[0].request.url.params
    assert pages[-1].complete


@respx.mock(base_url=BASE)
async def test_rows_at_another_records_path_and_products(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/items").mock(
        return_value=httpx.Response(200, json={"result": {"items": [{"id": 7, "sku": "A", "name": "Tee"}]}})
    )

    pages = await pull_all(connector(records_path="result.items"), Entity.products)

    assert pages[0].records[0].data["name"] == "Tee"
    assert pages[0].records[0].link == {"id": "7"}


@respx.mock(base_url=BASE)
async def test_a_body_without_rows_is_a_fatal_error_naming_records_path(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/v1/inventory").mock(return_value=httpx.Response(200, json={"items": []}))

    with pytest.raises(FatalError, match="records_path"):
        await pull_all(connector())


async def test_prices_are_not_read() -> None:
    wms = connector()
    with pytest.raises(NotImplementedError):
        await pull_all(wms, Entity.prices)
    assert not wms.can(Entity.stock, "write") and wms.can(Entity.stock, "read") and wms.can(Entity.products, "read")


def test_secrets_stay_out_of_settings_and_connector_reprs() -> None:
    wms = connector()
    assert KEY not in repr(wms.settings) and KEY not in repr(wms) and KEY not in str(wms.settings.model_dump())
