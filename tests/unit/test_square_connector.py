"""The square connector with HTTP mocked by respx: the bodies it sends, its idempotency keys, its batches, a 401."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from connectors.square import SquareConnector, SquareSettings
from hub.errors import AuthError
from hub.model.base import Entity
from hub.plugins.contract import Change
from hub.sync.drive import pull_canonical, push_batched

TOKEN = "EAAA-square-SECRET-0123456789"
BASE = "https://square.example.com"
COUNTS = f"{BASE}/v2/inventory/counts/batch-retrieve"
CATALOG = f"{BASE}/v2/catalog/list"
CHANGES = f"{BASE}/v2/inventory/changes/batch-create"
LOCATIONS = {"LMILANO": "milano-store", "LWEB": "web-warehouse"}


def connector(**settings: Any) -> SquareConnector:
    raw = {"type": "square", "base_url": BASE, "access_token": TOKEN, "locations": LOCATIONS, **settings}
    return SquareConnector("pos", SquareSettings.model_validate(raw))


def variation(vid: str, sku: str | None) -> dict[str, Any]:
    return {"type": "ITEM_VARIATION", "id": vid, "item_variation_data": {"item_id": "I1", "sku": sku}}


def count(vid: str, location: str, quantity: str, at: str = "2026-01-02T10:00:00.000Z") -> dict[str, Any]:
    return {
        "catalog_object_id": vid,
        "catalog_object_type": "ITEM_VARIATION",
        "state": "IN_STOCK",
        "location_id": location,
        "quantity": quantity,
        "calculated_at": at,
    }


def change(sku: str, location: str, available: int, link: dict[str, str] | None = None) -> Change:
    key = f"{sku}@{location}"
    return Change(Entity.stock, key, "pos", {"available": available}, {"available": 0}, None, link or {}, f"k-{key}")


def catalog_pages() -> None:
    """Two catalog pages: the cursor goes back in the query."""
    pages = {
        None: {"objects": [variation("V1", "TEE-S"), variation("V2", None)], "cursor": "cat2"},
        "cat2": {"objects": [variation("V3", "TEE-M")]},
    }
    respx.get(CATALOG).mock(
        side_effect=lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")])
    )


@respx.mock
async def test_a_pull_sends_its_filters_since_and_cursor_in_the_body_and_adds_the_skus() -> None:
    catalog_pages()
    pages = {
        None: {
            "counts": [count("V1", "LMILANO", "4"), count("V3", "LWEB", "12", "2026-01-03T00:00:00Z")],
            "cursor": "c2",
        },
        "c2": {"counts": [count("V2", "LWEB", "1"), {**count("V1", "LWEB", "9"), "state": "WASTE"}]},
    }
    route = respx.post(COUNTS).mock(
        side_effect=lambda request: httpx.Response(200, json=pages[orjson.loads(request.content).get("cursor")])
    )
    async with connector(page_size=2) as conn:
        pulled = await pull_canonical(conn, Entity.stock, since="2026-01-01T00:00:00Z")

    sent = [orjson.loads(call.request.content) for call in route.calls]
    first = {
        "location_ids": ["LMILANO", "LWEB"],
        "states": ["IN_STOCK"],
        "limit": 2,
        "updated_after": "2026-01-01T00:00:00Z",
    }
    assert sent == [first, {**first, "cursor": "c2"}]
    assert {key: str(record.available) for key, (record, _) in pulled.records.items()} == {
        "TEE-S@milano-store": "4",
        "TEE-M@web-warehouse": "12",
    }
    assert pulled.quarantined == 1  # V2 has no SKU; the WASTE count is not sellable stock
    assert pulled.records["TEE-S@milano-store"][1].link == {"catalog_object_id": "V1", "location_id": "LMILANO"}
    assert pulled.cursor == "2026-01-03T00:00:00+00:00"
    assert [c.request.url.params.get("types") for c in respx.calls if c.request.method == "GET"] == [
        "ITEM_VARIATION"
    ] * 2


@respx.mock
async def test_a_write_is_physical_counts_under_a_key_that_a_retry_sends_again_unchanged() -> None:
    catalog_pages()
    route = respx.post(CHANGES).mock(
        side_effect=[httpx.ReadError("dropped"), httpx.Response(200, json={"counts": []}), httpx.Response(200, json={})]
    )
    changes = [change("TEE-S", "milano-store", 7, {"catalog_object_id": "V1"}), change("TEE-M", "web-warehouse", 3)]
    async with connector() as conn:
        first = await conn.push(Entity.stock, changes)  # the first answer is lost: the transport sends again
        again = await conn.push(Entity.stock, changes)  # the outbox tries the same changes again

    bodies = [call.request.content for call in route.calls]
    assert [r.ok for r in first + again] == [True] * 4
    assert bodies[0] == bodies[1] == bodies[2], "a resent batch is the same request, byte for byte"
    body = orjson.loads(bodies[0])
    assert len(body["idempotency_key"]) == 32
    assert [c["physical_count"] | {"occurred_at": None} for c in body["changes"]] == [
        {
            "catalog_object_id": "V1",
            "location_id": "LMILANO",
            "quantity": "7",
            "state": "IN_STOCK",
            "occurred_at": None,
        },
        {"catalog_object_id": "V3", "location_id": "LWEB", "quantity": "3", "state": "IN_STOCK", "occurred_at": None},
    ]
    assert {c["type"] for c in body["changes"]} == {"PHYSICAL_COUNT"}


@respx.mock
async def test_other_changes_get_another_key() -> None:
    catalog_pages()
    route = respx.post(CHANGES).mock(return_value=httpx.Response(200, json={}))
    async with connector() as conn:
        await conn.push(Entity.stock, [change("TEE-S", "milano-store", 7)])
        await conn.push(Entity.stock, [change("TEE-S", "web-warehouse", 7)])
    keys = [orjson.loads(call.request.content)["idempotency_key"] for call in route.calls]
    assert len(set(keys)) == 2


@respx.mock
async def test_pushes_are_batched_at_squares_maximum_of_100_changes() -> None:
    catalog_pages()
    route = respx.post(CHANGES).mock(return_value=httpx.Response(200, json={}))
    changes = [change("TEE-S", "milano-store", n, {"catalog_object_id": "V1"}) for n in range(250)]
    changes = [
        Change(c.entity, c.key, c.connector, c.values, c.previous, None, c.link, f"k{n}") for n, c in enumerate(changes)
    ]
    async with connector() as conn:
        results = await push_batched(conn, Entity.stock, changes)
    assert [len(orjson.loads(call.request.content)["changes"]) for call in route.calls] == [100, 100, 50]
    assert len(results) == 250 and all(r.ok for r in results)


@respx.mock
async def test_a_refused_batch_fails_each_change_with_squares_code_and_an_unknown_sku_fails_alone() -> None:
    catalog_pages()
    error = {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "INVALID_VALUE", "detail": "bad quantity"}]}
    respx.post(CHANGES).mock(return_value=httpx.Response(400, json=error))
    async with connector() as conn:
        results = await conn.push(Entity.stock, [change("TEE-S", "milano-store", 1), change("NOPE", "milano-store", 1)])
    assert [(r.ok, r.code) for r in results] == [(False, "INVALID_VALUE"), (False, "not_linked")]
    assert "bad quantity" in (results[0].message or "")


@respx.mock
async def test_a_401_names_the_access_token_setting() -> None:
    unauthorized = {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED", "detail": "no"}]}
    route = respx.get(CATALOG).mock(return_value=httpx.Response(401, json=unauthorized))
    async with connector() as conn:
        with pytest.raises(AuthError, match="access_token") as caught:
            await pull_canonical(conn, Entity.stock)
    assert TOKEN not in str(caught.value)
    sent = route.calls[0].request.headers
    assert sent["Authorization"] == f"Bearer {TOKEN}" and sent["Square-Version"] == "2025-10-16"
