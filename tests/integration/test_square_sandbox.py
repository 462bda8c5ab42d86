"""Square against its sandbox over loopback: a stock job from a CSV truth enforced on the store's
point of sale, a write resent after a lost answer applied once, and the requests Square refuses."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.square import SquareConnector, SquareSettings
from connectors.square.sandbox import create_app
from hub.config.loader import load_config
from hub.model.base import Entity
from hub.plugins.contract import Change
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import demo_store
from hub.state.store import Store
from hub.sync.drive import pull_canonical
from hub.sync.engine import Engine

TOKEN = "EAAA-square-SECRET-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Square-Version": "2025-10-16"}
CHANGES = "/v2/inventory/changes/batch-create"


@pytest.fixture
def square() -> Iterator[ServedApp]:
    with serve(create_app(demo_store(), access_token=TOKEN)) as served:
        yield served


def store_location(served: ServedApp) -> str:
    """The Square location id of the demo store's shop in Milan."""
    return next(lid for lid, code in served.app.state.sandbox.locations.items() if code == "milano-store")


def connector(served: ServedApp) -> SquareConnector:
    settings = {"type": "square", "base_url": served.url, "access_token": TOKEN}
    return SquareConnector("pos", SquareSettings(**settings, locations={store_location(served): "milano-store"}))


def write_job(folder: Path, served: ServedApp, truth: dict[str, int]) -> Path:
    with (folder / "truth.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "location", "available", "on_hand"])
        writer.writerows([sku, "milano-store", n, ""] for sku, n in sorted(truth.items()))
    path = folder / "omnihub.yaml"
    path.write_text(f"""version: 1
hub: {{database: "sqlite:///state.db"}}
connectors:
  truth: {{type: csv, path: truth.csv}}
  pos:
    type: square
    base_url: "{served.url}"
    access_token: "{TOKEN}"
    locations: {{{store_location(served)}: milano-store}}
truth: {{stock: truth}}
jobs:
  stock: {{entity: stock, targets: [pos], mode: enforce}}
""")
    return path


def run(path: Path) -> Any:
    config = load_config(path)
    store = Store.open(config.database_url())
    try:
        (report,) = asyncio.run(Engine(config, store).sync(["stock"]))
    finally:
        store.close()
    return report


def test_a_stock_job_finds_the_drift_enforces_it_and_then_finds_nothing(tmp_path: Path, square: ServedApp) -> None:
    state = square.app.state.sandbox
    truth = {sku: levels["milano-store"] for sku, levels in demo_store().stock.items()}
    drifted = ["JKT-ALPINE-M", "TEE-BASIC-L", "CAP-WOOL"]
    for sku in drifted:
        truth[sku] += 5
    path = write_job(tmp_path, square, truth)

    first = run(path)
    assert (first.status, first.new_mismatches, first.resolved_mismatches, first.pushed) == ("ok", 3, 3, {"pos": 3})
    assert first.as_json()["requests"] == {"pos": 3}, "the catalog, the counts, one batch-create"
    assert {sku: state.quantity(sku, "milano-store") for sku in drifted} == {sku: str(truth[sku]) for sku in drifted}
    assert state.applied == 1, "three changes, one batch-create"

    second = run(path)
    assert (second.status, second.mismatches, second.new_mismatches) == ("ok", 0, 0)
    assert not any(second.pushed.values())

    state.sell("TEE-BASIC-L", "milano-store")  # a sale at the register: the next run puts the truth back
    third = run(path)
    assert (third.new_mismatches, third.pushed) == (1, {"pos": 1})
    assert state.quantity("TEE-BASIC-L", "milano-store") == str(truth["TEE-BASIC-L"])


async def test_a_write_whose_answer_is_lost_is_resent_and_applied_once(square: ServedApp) -> None:
    state = square.app.state.sandbox
    square.app.state.faults.add(kind="drop_after", method="POST", path=CHANGES, times=1)
    async with connector(square) as conn:
        pulled = await pull_canonical(conn, Entity.stock)
        record, raw = pulled.records["CAP-WOOL@milano-store"]
        change = Change(
            Entity.stock, record.key, "pos", {"available": 9}, {"available": record.available}, None, raw.link, "k1"
        )
        (result,) = await conn.push(Entity.stock, [change])
        (again,) = await conn.push(Entity.stock, [change])  # the outbox retrying the same change
    assert result.ok and again.ok
    assert state.quantity("CAP-WOOL", "milano-store") == "9"
    assert state.applied == 1, "the resent batch carried the same key and body: answered, not applied again"
    assert square.app.state.requests[f"POST {CHANGES}"] == 3


def batch(served: ServedApp, **physical: Any) -> dict[str, Any]:
    state = served.app.state.sandbox
    count = {
        "catalog_object_id": next(iter(state.variations)),
        "location_id": store_location(served),
        "quantity": "4",
        "state": "IN_STOCK",
        "occurred_at": "2026-03-01T10:00:00Z",
        **physical,
    }
    return {"idempotency_key": "key-1", "changes": [{"type": "PHYSICAL_COUNT", "physical_count": count}]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (lambda s: {**batch(s), "idempotency_key": None}, "MISSING_REQUIRED_PARAMETER"),
        (lambda s: {k: v for k, v in batch(s).items() if k != "idempotency_key"}, "MISSING_REQUIRED_PARAMETER"),
        (lambda s: {**batch(s), "dry_run": True}, "BAD_REQUEST"),
        (lambda s: batch(s, quantity=4), "INVALID_VALUE"),
        (lambda s: batch(s, quantity="4.1234567"), "INVALID_VALUE"),
        (lambda s: batch(s, quantity="four"), "INVALID_VALUE"),
        (lambda s: batch(s, occurred_at="yesterday"), "INVALID_TIME"),
        (lambda s: batch(s, sku="CAP-WOOL"), "BAD_REQUEST"),
        (lambda s: {**batch(s), "changes": batch(s)["changes"] * 101}, "ARRAY_LENGTH_TOO_LONG"),
    ],
)
async def test_the_sandbox_refuses_what_square_documents_as_wrong(square: ServedApp, body: Any, code: str) -> None:
    async with httpx.AsyncClient(base_url=square.url, headers=AUTH) as client:
        answer = await client.post(CHANGES, json=body(square))
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["category"], error["code"]) == ("INVALID_REQUEST_ERROR", code)
    assert square.app.state.sandbox.applied == 0


async def test_a_key_is_answered_again_for_the_same_body_and_refused_for_another(square: ServedApp) -> None:
    async with httpx.AsyncClient(base_url=square.url, headers=AUTH) as client:
        first = await client.post(CHANGES, json=batch(square))
        same = await client.post(CHANGES, json=batch(square))
        other = await client.post(CHANGES, json=batch(square, quantity="5"))
    assert first.status_code == same.status_code == 200 and first.json() == same.json()
    assert first.json()["counts"][0]["quantity"] == "4"
    assert other.status_code == 400 and other.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert square.app.state.sandbox.applied == 1


async def test_counts_are_paged_by_a_cursor_in_the_body_and_a_bad_token_gets_squares_401(square: ServedApp) -> None:
    async with httpx.AsyncClient(base_url=square.url, headers=AUTH) as client:
        path = "/v2/inventory/counts/batch-retrieve"
        page = (await client.post(path, json={"limit": 5})).json()
        rest = (await client.post(path, json={"limit": 500, "cursor": page["cursor"]})).json()
        refused = await client.post(path, json={"limit": 5}, headers={"Authorization": "Bearer nope"})
        unknown = await client.post(path, json={"limit": 5, "location_id": "x"})
    total = sum(len(levels) for levels in demo_store().stock.values())
    assert len(page["counts"]) == 5 and len(rest["counts"]) == total - 5 and "cursor" not in rest
    assert refused.status_code == 401
    assert refused.json()["errors"][0] | {"detail": ""} == {
        "category": "AUTHENTICATION_ERROR",
        "code": "UNAUTHORIZED",
        "detail": "",
    }
    assert unknown.status_code == 400
