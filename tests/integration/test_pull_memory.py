"""A pull past ``hub.memory_records`` keeps one window in memory and the rest of what it must know
(its keys, the stored row hashes) in a ledger on disk: duplicates across windows, deletions and
re-syncs decide as a pull held in memory does, and the pull's peak memory no longer grows with the
catalogue."""

from __future__ import annotations

import asyncio
import csv
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from hub.config.loader import load_config
from hub.state.store import Store
from hub.sync.engine import Engine

CONFIG = """version: 1
hub: {database: "sqlite:///%(folder)s/state.db"%(budget)s}
connectors:
  truth: {type: csv, path: %(folder)s/truth.csv}
  shop: {type: csv, path: %(folder)s/shop.csv}
truth: {prices: truth}
jobs:
  prices: {entity: prices, targets: [shop], mode: monitor}
"""


def _feed(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "price", "compare_at_price", "currency"])
        writer.writerows((sku, price, "", "EUR") for sku, price in rows)


def _sides(tmp_path: Path, truth: list[tuple[str, str]], shop: list[tuple[str, str]]) -> dict[str, Path]:
    """The same feeds twice: held in memory, and past a budget of 100 records (50 per connector)."""
    paths = {}
    for side, budget in (("held", ""), ("spilled", ", memory_records: 100")):
        folder = tmp_path / side
        folder.mkdir()
        _feed(folder / "truth.csv", truth)
        _feed(folder / "shop.csv", shop)
        (folder / "omnihub.yaml").write_text(CONFIG % {"folder": folder, "budget": budget})
        paths[side] = folder / "omnihub.yaml"
    return paths


def _sync(path: Path) -> dict[str, Any]:
    """What a run decided and left behind: its report, its mismatches and quarantine, the store."""
    config = load_config(path)
    store = Store.open(config.database_url())
    try:
        (report,) = asyncio.run(Engine(config, store).sync())
        summary = report.as_json()
        return {
            "report": {k: summary[k] for k in ("status", "pulled", "mismatches", "quarantined", "errors")},
            "mismatches": sorted(
                (m["key"], m["field"], m["connector"], m["status"])
                for m in store.mismatches.rows(include_resolved=True)
            ),
            "quarantine": sorted(
                (q["connector"], q["key"], q["origin"], q["reason"]) for q in store.quarantine.recent(report.run_id)
            ),
            "stored": {name: sorted(store.observations.hashes(name, "prices")) for name in ("truth", "shop")},
        }
    finally:
        store.close()


def _catalogue(count: int) -> list[tuple[str, str]]:
    return [(f"SKU-{i:05d}", f"{10 + i % 50}.00") for i in range(count)]


def test_every_copy_of_a_key_split_across_windows_is_quarantined(tmp_path: Path) -> None:
    rows = _catalogue(1000)
    shop = list(rows)
    # SKU-00007 three times: twice in the first window, once far past it (its first copy is written).
    shop.insert(9, ("SKU-00007", "11.00"))
    shop.insert(700, ("SKU-00007", "12.00"))
    paths = _sides(tmp_path, rows, shop)
    held, spilled = _sync(paths["held"]), _sync(paths["spilled"])
    assert spilled == held
    copies = [q for q in spilled["quarantine"] if q[1] == "SKU-00007"]
    assert [q[2] for q in copies] == ["shop.csv:11", "shop.csv:702", "shop.csv:9"]
    assert "also at shop.csv:9, shop.csv:11" in copies[1][3]  # each copy names the others
    assert "SKU-00007" not in spilled["stored"]["shop"]  # neither copy is used
    assert len(spilled["stored"]["shop"]) == 999


def test_a_re_sync_past_the_budget_finds_changes_and_deletions_on_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _catalogue(1000)
    paths = _sides(tmp_path, rows, rows)
    assert _sync(paths["held"]) == _sync(paths["spilled"])
    for path in paths.values():  # 40 products gone from the shop, one price changed, one new
        shop = [r for r in rows if not r[0].endswith("3") or int(r[0][4:]) >= 400]
        shop[500] = (shop[500][0], "99.00")
        _feed(path.parent / "shop.csv", [*shop, ("SKU-NEW", "1.00")])
    with caplog.at_level(logging.INFO, logger="omnihub.engine"):
        held, spilled = _sync(paths["held"]), _sync(paths["spilled"])
    assert "more than 100 stored prices records; comparing them on disk" in caplog.text
    assert spilled == held
    assert len(spilled["stored"]["shop"]) == 1000 - 40 + 1
    assert "SKU-00003" not in spilled["stored"]["shop"] and "SKU-NEW" in spilled["stored"]["shop"]
    assert len(spilled["mismatches"]) == 40 + 1 + 1  # missing, changed, and the one the truth lacks


def test_a_spilled_re_sync_refuses_a_truncated_feed_as_one_in_memory_does(tmp_path: Path) -> None:
    rows = _catalogue(1000)
    paths = _sides(tmp_path, rows, rows)
    _sync(paths["held"]), _sync(paths["spilled"])
    for path in paths.values():
        _feed(path.parent / "shop.csv", rows[:300])
    held, spilled = _sync(paths["held"]), _sync(paths["spilled"])
    assert spilled == held
    assert spilled["report"]["status"] == "failed"
    assert "returned 300 records where 1000 were known" in spilled["report"]["errors"][0]
    assert len(spilled["stored"]["shop"]) == 1000  # nothing taken as deleted


def test_a_pull_past_the_budget_peaks_with_the_budget_not_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100,000 rows with a budget of 2,000: the pull held every key and origin it saw (about
    42 MB traced); it now holds a window and the feed's text (about 18 MB)."""
    folder = tmp_path / "big"
    folder.mkdir()
    _feed(folder / "truth.csv", _catalogue(100_000))
    _feed(folder / "shop.csv", _catalogue(10))
    (folder / "omnihub.yaml").write_text(CONFIG % {"folder": folder, "budget": ", memory_records: 2000"})
    peaks: list[int] = []

    async def measure_the_pulls(self: Engine, *args: object, **kwargs: object) -> None:
        peaks.append(tracemalloc.get_traced_memory()[1])  # the pulls are done; nothing reconciled yet

    monkeypatch.setattr(Engine, "_decide", measure_the_pulls)
    config = load_config(folder / "omnihub.yaml")
    store = Store.open(config.database_url())
    tracemalloc.start()
    try:
        (report,) = asyncio.run(Engine(config, store).sync())
    finally:
        tracemalloc.stop()
    try:
        assert report.pulled == {"truth": 100_000, "shop": 10}
        assert store.observations.count("truth", "prices") == 100_000
    finally:
        store.close()
    assert peaks and peaks[0] < 28_000_000, f"the pulls peaked at {peaks[0] / 1e6:.1f} MB"
