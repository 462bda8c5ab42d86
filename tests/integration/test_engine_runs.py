"""Engine runs: past ``hub.memory_records`` records stream through the store with the same results;
a cancelled run is recorded as such and leaves nothing pending."""

from __future__ import annotations

import asyncio
import csv
import logging
import random
import shutil
from pathlib import Path

import pytest

import hub.sync.decide as decide_module
from hub.config.loader import load_config
from hub.state.store import Store
from hub.sync.engine import Engine

REPO = Path(__file__).resolve().parents[2]


def _copy_demo(folder: Path, memory_records: int | None) -> Path:
    shutil.copytree(REPO / "config", folder, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    path = folder / "demo-csv.yaml"
    if memory_records is not None:
        text = path.read_text().replace("  currency: EUR\n", f"  currency: EUR\n  memory_records: {memory_records}\n")
        path.write_text(text)
    return path


def _sync(path: Path) -> list[dict[str, object]]:
    config = load_config(path)
    store = Store.open(config.database_url())
    try:
        reports = asyncio.run(Engine(config, store).sync())
        listing = store.mismatches.rows(include_resolved=True)
    finally:
        store.close()
    keep = (
        "name",
        "status",
        "pulled",
        "mismatches",
        "new_mismatches",
        "resolved_mismatches",
        "pushed",
        "failed",
        "quarantined",
    )
    return [{k: r.as_json()[k] for k in keep} for r in reports] + [
        {k: m[k] for k in ("entity", "key", "field", "connector", "expected", "actual", "status")} for m in listing
    ]


def test_spilled_runs_decide_exactly_as_in_memory_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    held, spilled = _copy_demo(tmp_path / "held", None), _copy_demo(tmp_path / "spilled", 2)
    with caplog.at_level(logging.INFO, logger="omnihub.engine"):
        for _ in range(2):  # the first run finds and pushes, the second finds nothing left
            assert _sync(held) == _sync(spilled)
    assert "reconciling them from the store" in caplog.text
    for feed in ("shop-prices.csv", "web-stock.csv"):
        assert (held.parent / "feeds" / feed).read_bytes() == (spilled.parent / "feeds" / feed).read_bytes()

    # An incremental change after that: the same decision on both sides.
    for path in (held, spilled):
        feed = path.parent / "feeds" / "wms-stock.csv"
        feed.write_text(feed.read_text().replace("CAP-WOOL,main-wh,40,40", "CAP-WOOL,main-wh,12,40"))
    assert _sync(held) == _sync(spilled)


def test_a_duplicate_spanning_pages_is_taken_out_of_the_store(tmp_path: Path) -> None:
    rows = [(f"SKU-{i:05d}", f"{10 + i % 50}.00") for i in range(2500)]
    rows.insert(2300, ("SKU-00007", "99.00"))  # on the second page: the first copy is written already
    for name in ("truth", "shop"):
        with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "price", "compare_at_price", "currency"])
            writer.writerows(
                [(sku, price, "", "EUR") for sku, price in (rows if name == "shop" else rows[:2300] + rows[2301:])]
            )
    path = tmp_path / "omnihub.yaml"
    path.write_text("""version: 1
hub: {database: "sqlite:///state.db", memory_records: 100}
connectors:
  truth: {type: csv, path: truth.csv}
  shop: {type: csv, path: shop.csv}
truth: {prices: truth}
jobs:
  prices: {entity: prices, targets: [shop], mode: monitor}
""")
    config = load_config(path)
    store = Store.open(config.database_url())
    (report,) = asyncio.run(Engine(config, store).sync())
    assert report.status == "ok" and report.quarantined == 2 and report.mismatches == 0
    assert "SKU-00007" not in store.observations.hashes("shop", "prices")
    assert len(store.observations.hashes("shop", "prices")) == 2499
    reasons = [q["reason"] for q in store.quarantine.recent()]
    assert all("duplicate key 'SKU-00007'" in r for r in reasons)
    store.close()


async def test_a_cancelled_run_is_recorded_as_such_and_leaves_nothing_pending(tmp_path: Path) -> None:
    import asyncio as aio

    from connectors.csv import CsvConnector

    path = _copy_demo(tmp_path / "cfg", None)
    config = load_config(path)
    store = Store.open(config.database_url())
    started = aio.Event()
    original = CsvConnector.push

    async def slow_push(self, entity, changes):  # type: ignore[no-untyped-def]
        started.set()
        await aio.sleep(30)
        return await original(self, entity, changes)

    CsvConnector.push = slow_push  # type: ignore[method-assign]
    try:
        task = aio.create_task(Engine(config, store).run_job("prices"))
        await aio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(aio.CancelledError):
            await task
    finally:
        CsvConnector.push = original  # type: ignore[method-assign]
    run = store.runs.recent(1)[0]
    assert run["status"] == "failed" and "cancelled" in run["error"]
    assert {row["status"] for row in store.outbox.rows()} == {"superseded"}
    store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_spilled_catalogue_is_reconciled_key_by_key_in_pages_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Random price catalogues (drift, a currency slip, keys missing on either side, a duplicate,
    a markup on one channel): a run past the memory budget reads the store back key by key, one
    page of the budget at a time, and decides exactly as a run that holds everything."""
    rng = random.Random(seed)
    skus = [f"SKU-{i:04d}" for i in range(rng.randint(300, 600))]
    feeds = {}
    for name in ("truth", "shop", "web"):
        rows = []
        for sku in skus:
            if name != "truth" and rng.random() < 0.05:
                continue  # missing on this channel
            amount = rng.randint(100, 9999) / 100 + (1 if name != "truth" and rng.random() < 0.1 else 0)
            currency = "USD" if name == "shop" and rng.random() < 0.02 else "EUR"
            rows.append((sku, f"{amount:.2f}", rng.choice(["", f"{amount + 5:.2f}"]), currency))
        rows += [(f"ONLY-{name}-{i}", "1.00", "", "EUR") for i in range(rng.randint(0, 3))]
        rows.append(rows[rng.randrange(len(rows))])  # a duplicate key
        rng.shuffle(rows)
        feeds[name] = rows
    config = """version: 1
hub: {database: "sqlite:///state.db"%s}
connectors:
  truth: {type: csv, path: truth.csv}
  shop: {type: csv, path: shop.csv}
  web: {type: csv, path: web.csv}
truth: {prices: truth}
jobs:
  prices:
    entity: prices
    targets: [shop, web]
    mode: monitor
    rules: {web: {markup_percent: 10, price_ending: "0.90"}}
"""
    paths = {}
    for side, budget in (("held", ""), ("spilled", ", memory_records: 60")):
        folder = tmp_path / side
        folder.mkdir()
        for name, rows in feeds.items():
            with (folder / f"{name}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["sku", "price", "compare_at_price", "currency"])
                writer.writerows(rows)
        (folder / "omnihub.yaml").write_text(config % budget)
        paths[side] = folder / "omnihub.yaml"
    pages: list[int] = []
    original = decide_module.reconcile_keyed

    def counting(job_input, truth, targets):  # type: ignore[no-untyped-def]
        pages.append(len(truth) + sum(map(len, targets.values())))
        return original(job_input, truth, targets)

    monkeypatch.setattr(decide_module, "reconcile_keyed", counting)
    monkeypatch.chdir(tmp_path / "held")
    held = _sync(paths["held"])
    assert len(pages) == 1  # everything in memory: one call for the catalogue
    pages.clear()
    monkeypatch.chdir(tmp_path / "spilled")
    assert _sync(paths["spilled"]) == held
    assert len(pages) > 10 and max(pages) <= 60 + 3  # a page of the budget, give or take a key


def test_a_run_left_running_on_another_host_is_settled_by_the_next_run_of_its_job(tmp_path: Path) -> None:
    """A worker killed on another machine cannot be checked from here; but holding the job's lock,
    the next run knows it is dead: it is marked interrupted and its journaled change decided again
    at once, not six hours later."""
    from sqlalchemy import update

    from hub.state import schema as t

    path = _copy_demo(tmp_path / "cfg", None)
    config = load_config(path)
    store = Store.open(config.database_url())
    try:
        dead = store.runs.start("prices", "prices", "enforce", False)
        other = store.runs.start("stock", "stock", "enforce", False)
        with store.engine.begin() as conn:  # both started on another host, a minute ago
            conn.execute(update(t.runs).where(t.runs.c.id.in_([dead, other])).values(owner="worker-7:4242"))
        store.outbox.journal(
            [
                {
                    "run_id": dead,
                    "job": "prices",
                    "connector": "shop",
                    "entity": "prices",
                    "key": "JKT-ALPINE-M",
                    "idempotency_key": "dead-run-1",
                    "decision": "d1",
                    "payload": "{}",
                }
            ]
        )
        report = asyncio.run(Engine(config, store).run_job("prices"))
        runs = {r["id"]: r for r in store.runs.recent(10)}
        outbox = {row["idempotency_key"]: row["status"] for row in store.outbox.rows()}
    finally:
        store.close()
    assert report.status == "ok"
    assert runs[dead]["status"] == "failed" and "interrupted" in runs[dead]["error"]
    assert outbox["dead-run-1"] == "superseded"
    assert runs[other]["status"] == "running"  # another job's run is not this lock's to judge
