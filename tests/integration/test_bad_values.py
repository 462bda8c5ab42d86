"""One bad value in a source of truth is quarantined with its origin, and the rest of the job goes
on: an out-of-range quantity no longer stops every push, and a price finer than its currency is
not pushed again on every run (Shopify keeps it at the currency's precision)."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.shopify.sandbox import create_app, location_gids
from hub.config.loader import load_config
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import demo_store
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport
from tests.conftest import TEST_SECRETS


def _sync(config_path: Path) -> tuple[JobReport, list[dict[str, object]]]:
    config = load_config(config_path)
    store = Store.open(config.database_url())
    try:
        (report,) = asyncio.run(Engine(config, store).sync())
        return report, store.quarantine.recent()
    finally:
        store.close()


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_one_out_of_range_quantity_is_quarantined_and_the_rest_is_pushed(tmp_path: Path) -> None:
    """It used to end the job (``Integer exceeds 64-bit range`` while journaling) with A and C never corrected."""
    _write(
        tmp_path / "truth.csv",
        ["sku", "location", "available"],
        [
            ["A", "loc-1", "5"],
            ["B", "loc-1", "99999999999999999999999999"],
            ["C", "loc-1", "7"],
            ["D", "loc-1", "2147483648"],
        ],
    )
    _write(tmp_path / "web.csv", ["sku", "location", "available"], [[s, "loc-1", "1"] for s in "ABCD"])
    (tmp_path / "omnihub.yaml").write_text("""version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  wms: {type: csv, path: truth.csv}
  web: {type: csv, path: web.csv}
truth: {stock: wms}
jobs:
  stock: {entity: stock, targets: [web], mode: enforce}
""")
    report, quarantine = _sync(tmp_path / "omnihub.yaml")

    assert report.status == "ok", report.errors
    assert report.pushed == {"web": 2} and report.failed == 0 and report.quarantined == 2
    with (tmp_path / "web.csv").open() as handle:
        assert {row["sku"]: row["available"] for row in csv.DictReader(handle)} == {
            "A": "5",
            "B": "1",
            "C": "7",
            "D": "1",
        }
    assert {(q["key"], q["origin"], q["reason"]) for q in quarantine} == {
        (
            "B@loc-1",
            "truth.csv:3",
            "available: 99999999999999999999999999 is out of range for a quantity (-2147483648 to 2147483647)",
        ),
        ("D@loc-1", "truth.csv:5", "available: 2147483648 is out of range for a quantity (-2147483648 to 2147483647)"),
    }


@pytest.fixture
def shopify() -> Iterator[ServedApp]:
    with serve(create_app(demo_store(), access_token=TEST_SECRETS[0])) as running:
        yield running


def test_prices_no_currency_can_hold_are_quarantined_instead_of_pushed_on_every_run(
    tmp_path: Path, shopify: ServedApp
) -> None:
    truth = {item.sku: item.price for item in demo_store().items}
    bad = {
        "JKT-ALPINE-S": "12.345",  # Shopify would keep 12.34, and the hub would push 12.345 again next run
        "JKT-ALPINE-M": "0.001",
        "JKT-ALPINE-L": "1e30",
        "TEE-BASIC-S": "99999999999999999999999999.99",
        "TEE-BASIC-M": "1_000.00",
    }
    truth |= bad | {"CAP-WOOL": "26.00"}  # and one honest correction
    _write(
        tmp_path / "prices.csv",
        ["sku", "price", "compare_at_price", "currency"],
        [[s, p, "", "EUR"] for s, p in truth.items()],
    )
    locations = ", ".join(f'"{gid}": {code}' for gid, code in location_gids(demo_store()).items())
    (tmp_path / "omnihub.yaml").write_text(f"""version: 1
hub: {{database: "sqlite:///state.db", currency: EUR}}
connectors:
  erp: {{type: csv, path: prices.csv}}
  shop: {{type: shopify, shop: demo.myshopify.com, access_token: "{TEST_SECRETS[0]}", base_url: "{shopify.url}",
          verify_tls: false, locations: {{{locations}}}}}
truth: {{prices: erp}}
jobs:
  prices: {{entity: prices, targets: [shop], mode: enforce}}
""")
    first, quarantine = _sync(tmp_path / "omnihub.yaml")
    assert first.status == "ok", first.errors
    assert first.pushed == {"shop": 1} and first.quarantined == 5
    reasons = {q["key"]: q["reason"] for q in quarantine}
    assert reasons["JKT-ALPINE-S"] == "amount: 12.345 EUR has more decimals than EUR's 2"
    assert reasons["JKT-ALPINE-M"] == "amount: 0.001 EUR has more decimals than EUR's 2"
    assert "exponent notation" in reasons["JKT-ALPINE-L"]
    assert "too large for a price" in reasons["TEE-BASIC-S"]
    assert "has an underscore" in reasons["TEE-BASIC-M"]
    variants = {v.sku: v.price for v in shopify.app.state.sandbox.variants}
    assert variants["CAP-WOOL"] == "26.00" and variants["JKT-ALPINE-S"] == "89.00"

    again, _ = _sync(tmp_path / "omnihub.yaml")
    assert again.status == "ok" and again.pushed == {} and again.mismatches == 0
