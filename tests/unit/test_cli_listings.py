"""``omnihub mismatches`` filters in the store and exports CSV/JSON with times in ``hub.timezone``;
the read-only commands need no connector secret; listing tables fit the width they are given."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hub.cli.app import app
from hub.cli.common import Column, fit_table, iso_time, short_time
from hub.state.store import Store

SEEN = datetime(2026, 11, 30, 9, 15, 0, 123456, tzinfo=UTC)
CONTRACT_KEYS = {"entity", "key", "field", "connector", "expected", "actual", "status", "first_seen", "last_seen"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config in Rome time whose connectors' secrets are not set, with mismatches in its store."""
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        "version: 1\n"
        "hub: {database: 'sqlite:///state.db', timezone: Europe/Rome}\n"
        "connectors:\n"
        "  shop: {type: shopify, shop: x.myshopify.com, access_token: '${OMNIHUB_TEST_NEVER_SET_TOKEN}'}\n"
        "  wms: {type: rest_wms, base_url: 'https://wms.example.com/api', api_key: '${OMNIHUB_TEST_NEVER_SET_KEY}'}\n"
        "truth: {stock: wms, prices: wms}\n"
        "jobs:\n"
        "  stock: {entity: stock, targets: [shop]}\n"
        "  prices: {entity: prices, targets: [shop]}\n",
        encoding="utf-8",
    )
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        stock = [
            {"key": f"SKU-{i:04d}@milano-store", "grp": f"SKU-{i:04d}", "field": "available", "connector": "shop",
             "expected": str(i % 7), "actual": "0", "detail": None}
            for i in range(30)
        ]  # fmt: skip
        prices = [
            {"key": "JKT-ALPINE-M", "grp": "JKT-ALPINE-M", "field": "amount", "connector": "shop",
             "expected": "89.00", "actual": "79.00", "detail": None}
        ]  # fmt: skip
        store.mismatches.save("stock", "stock", stock, [], SEEN)
        store.mismatches.save("prices", "prices", prices, [], SEEN)
    finally:
        store.close()
    return path


def _run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    return result.exit_code, result.stdout


def test_json_keeps_the_contract_keys_with_times_in_the_hub_timezone(config: Path) -> None:
    code, stdout = _run(config, "mismatches", "--json")
    assert code == 0
    items = json.loads(stdout)
    assert len(items) == 31
    assert CONTRACT_KEYS | {"job", "detail"} == set(items[0])
    # 09:15:00.123456 UTC is 10:15 in Rome: an offset, no microseconds
    assert {i["first_seen"] for i in items} == {"2026-11-30T10:15:00+01:00"}
    assert _run(config, "mismatches", "--format", "json")[1] == stdout  # --json is its alias


def test_filters_and_limit_are_applied(config: Path) -> None:
    def keys(*args: str) -> list[str]:
        code, stdout = _run(config, "mismatches", "--format", "json", *args)
        assert code == 0
        return [i["key"] for i in json.loads(stdout)]

    assert keys("--entity", "prices") == ["JKT-ALPINE-M"]
    assert keys("--job", "stock", "--limit", "3") == [
        "SKU-0000@milano-store",
        "SKU-0001@milano-store",
        "SKU-0002@milano-store",
    ]
    assert keys("--connector", "wms") == []
    assert _run(config, "mismatches", "--limit", "0")[0] == 2  # a usage error, not an empty list


def test_csv_export_has_a_header_and_one_row_per_mismatch(config: Path) -> None:
    code, stdout = _run(config, "mismatches", "--format", "csv", "--entity", "stock")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert len(rows) == 30
    assert set(rows[0]) >= CONTRACT_KEYS
    assert rows[0]["key"] == "SKU-0000@milano-store" and rows[0]["last_seen"] == "2026-11-30T10:15:00+01:00"


@pytest.mark.parametrize("command", [["mismatches"], ["runs"], ["quarantine"], ["reservations"], ["config", "schema"]])
def test_read_only_commands_need_no_connector_secret(config: Path, command: list[str]) -> None:
    code, stdout = _run(config, *command)
    assert code == 0, stdout
    assert "OMNIHUB_TEST_NEVER_SET" not in stdout


def test_times_for_machines_and_people() -> None:
    rome = ZoneInfo("Europe/Rome")
    assert iso_time(SEEN, UTC) == "2026-11-30T09:15:00Z"
    assert iso_time(SEEN, rome) == "2026-11-30T10:15:00+01:00"
    assert iso_time(None, rome) is None
    assert short_time(SEEN, rome, now=SEEN) == "10:15"
    assert short_time(SEEN, rome, now=datetime(2026, 12, 2, tzinfo=UTC)) == "30 Nov 10:15"
    assert short_time(SEEN, rome, now=datetime(2027, 1, 2, tzinfo=UTC)) == "2026-11-30 10:15"


def _render(table: object, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_narrow_table_leaves_out_columns_rather_than_cutting_a_key() -> None:
    rows = [{"key": "JKT-ALPINE-L@web-warehouse-north", "note": "a long explanation of the difference " * 3}] * 3
    columns = [
        Column("key", lambda r: r["key"], whole=True),
        Column("connector", lambda r: "shop", whole=True),
        Column("note", lambda r: r["note"], rank=2),
        Column("quarantined", lambda r: 0, rank=1),
    ]
    table, left_out = fit_table(rows, [columns], 64)
    shown = _render(table, 64)
    assert left_out == ["note"]
    assert "JKT-ALPINE-L@web-warehouse-north" in shown and "…" not in shown
    assert "quarantined" in shown and max(len(line) for line in shown.splitlines()) <= 64
    wide, nothing = fit_table(rows, [columns], 200)
    assert nothing == [] and "note" in _render(wide, 200)


def test_a_second_layout_is_chosen_when_it_leaves_out_less() -> None:
    rows = [{"expected": "unsubscribed", "actual": "subscribed"}]
    apart = [Column("expected", lambda r: r["expected"], rank=1), Column("actual", lambda r: r["actual"], rank=1)]
    merged = [Column("expected/actual", lambda r: f"{r['expected']} -> {r['actual']}")]
    table, left_out = fit_table(rows, [apart, merged], 24)
    shown = _render(table, 24)
    assert left_out == [] and "expected/actual" in shown and "…" not in shown
