"""CSV feeds through the engine: a feed cut in its last line syncs the rest and quarantines that
row; a run that dies after the hub rewrote a feed does not leave the pre-write digest behind as
the feed's cursor."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.csv.connector import CUT_REASON, CsvConnector
from hub.config.loader import load_config
from hub.model.base import Entity
from hub.plugins.contract import Change, PushResult
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

REPO = Path(__file__).resolve().parents[2]


def _sync(config_path: Path, *jobs: str, mode: str | None = None) -> tuple[list[JobReport], Store]:
    config = load_config(config_path)
    store = Store.open(config.database_url())
    return asyncio.run(Engine(config, store, mode=mode).sync(list(jobs))), store


def test_a_stock_feed_cut_in_its_last_line_syncs_the_rest_and_quarantines_that_row(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config", ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    config = tmp_path / "config" / "demo-csv.yaml"
    feeds = tmp_path / "config" / "feeds"
    _, store = _sync(config, "stock")
    store.close()
    wms = feeds / "wms-stock.csv"
    text = wms.read_text()
    assert text.endswith("CAP-WOOL,main-wh,40,40\n")
    wms.write_text(text.replace("CAP-WOOL,main-wh,40,40\n", "CAP-WOOL,main-wh,4"))  # cut while being written
    web_before = (feeds / "web-stock.csv").read_text()

    (report,), store = _sync(config, "stock")
    try:
        assert report.status == "ok" and report.quarantined == 1 and report.mismatches == 0
        assert report.pulled["wms"] == 7  # every row before the cut was read
        (entry,) = store.quarantine.recent()
        assert (entry["origin"], entry["key"], entry["reason"]) == (
            "wms-stock.csv:9",
            "CAP-WOOL@main-wh",
            CUT_REASON,
        )
    finally:
        store.close()
    assert (feeds / "web-stock.csv").read_text() == web_before  # 39 on the web, not 4 - 1


def test_a_run_that_dies_after_rewriting_a_feed_does_not_keep_the_old_digest_as_its_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = "sku,price\nA,79.00\nB,10.00\n"
    (tmp_path / "erp.csv").write_text("sku,price\nA,89.00\nB,10.00\n")
    (tmp_path / "web.csv").write_text(drifted)
    shop = tmp_path / "shop.csv"
    shop.write_text(drifted)
    config = tmp_path / "omnihub.yaml"
    config.write_text(
        "version: 1\nhub: {database: 'sqlite:///state.db', currency: EUR}\n"
        "connectors:\n  erp: {type: csv, path: erp.csv}\n  shop: {type: csv, path: shop.csv}\n"
        "  web: {type: csv, path: web.csv}\n"
        "truth: {prices: erp}\njobs:\n  prices: {entity: prices, targets: [shop, web], mode: enforce}\n"
    )
    (report,), store = _sync(config, mode="monitor")  # every feed read once, cursors saved
    store.close()
    assert report.status == "ok" and report.mismatches == 2

    push = CsvConnector.push

    async def dies_at_web(self: CsvConnector, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        if self.name == "web":  # after shop's push: the run ends before it saves any cursor
            raise RuntimeError("the process died")
        return await push(self, entity, changes)

    with monkeypatch.context() as patch:
        patch.setattr(CsvConnector, "push", dies_at_web)
        (report,), store = _sync(config)
    store.close()
    assert report.status == "failed" and "the process died" in report.errors[0]
    assert "A,89.00" in shop.read_text()

    shop.write_text(drifted)  # the drift is put back, byte for byte
    (report,), store = _sync(config, mode="monitor")
    try:
        assert report.pulled["shop"] == 2  # read again: its saved cursor went with the write
        still_open = {(m["connector"], m["key"]) for m in store.mismatches.rows()}
        assert ("shop", "A") in still_open
    finally:
        store.close()
