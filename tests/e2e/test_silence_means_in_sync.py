"""Silence means in sync: what was not compared, not present or not delivered is never "ok".

Each test runs the real command line, as a user would, and reads what the user reads: the exit
code, ``sync --json``, ``mismatches --json``, ``runs --json`` and the alert digest on disk.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import sqlite3
from pathlib import Path

from hub.cli.demo import CREDENTIALS, DemoShop
from hub.sandbox.kit import Fault
from hub.state.store import Store
from tests.e2e.conftest import Cli


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jobs(stdout: str) -> dict[str, dict]:
    return {job["name"]: job for job in json.loads(stdout)["jobs"]}


# ------------------------------------------------------------------ presence


def test_skus_missing_on_either_side_are_presence_mismatches_everywhere_a_user_looks(cli: Cli, tmp_path: Path) -> None:
    _write(tmp_path / "erp.csv", "sku,price,compare_at_price,currency\nA,10.00,,EUR\nB,20.00,,EUR\nC,30.00,,EUR\n")
    _write(tmp_path / "shop.csv", "sku,price,compare_at_price,currency\nA,10.00,,EUR\nB,21.00,,EUR\nZ,5.00,,EUR\n")
    config = _write(
        tmp_path / "omnihub.yaml",
        """version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  erp: {type: csv, path: erp.csv}
  shop: {type: csv, path: shop.csv}
truth: {prices: erp}
jobs:
  prices: {entity: prices, targets: [shop], mode: enforce}
alerts:
  outbox_dir: digests
""",
    )
    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 0, result.stderr
    job = _jobs(result.stdout)["prices"]
    # A and B compared (B corrected), C missing on the shop, Z unknown to the truth: both reported, neither "fixed"
    assert job["compared"] == 2 and job["status"] == "ok"
    assert job["new_mismatches"] == 3 and job["pushed"] == {"shop": 1} and job["mismatches"] == 2

    listed = json.loads(cli("--config", str(config), "mismatches", "--json").stdout)
    presence = sorted((m["key"], m["field"], m["expected"], m["actual"]) for m in listed)
    assert presence == [("C", "presence", "present", "missing"), ("Z", "presence", "missing", "present")]
    assert "Z,5.00" in (tmp_path / "shop.csv").read_text() and "C," not in (tmp_path / "shop.csv").read_text()

    (digest,) = sorted((tmp_path / "digests").glob("*.eml"))
    mail = email.message_from_bytes(digest.read_bytes(), policy=email.policy.default)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    words = " ".join(text.split())
    assert "* C [new] presence: shop (CSV) shows missing, erp (CSV) has present" in words
    assert "* Z [new] presence: shop (CSV) shows present, erp (CSV) has missing" in words

    # the channel catches up: the finding closes by itself, and silence now means in sync
    _write(tmp_path / "shop.csv", "sku,price,compare_at_price,currency\nA,10.00,,EUR\nB,20.00,,EUR\nC,30.00,,EUR\n")
    again = _jobs(cli("--config", str(config), "sync", "--json").stdout)["prices"]
    assert (again["mismatches"], again["resolved_mismatches"], again["status"]) == (0, 2, "ok")
    assert again["compared"] >= 1  # an incremental run compares what changed since the last one


# ------------------------------------------------------------------ compared nothing


_STOCK = """version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  wms: {type: csv, path: wms.csv}
  web: {type: csv, path: web.csv}
truth: {stock: wms}
jobs:
  stock:
    entity: stock
    targets: [web]
    mode: enforce
    RULES
"""


def test_a_stock_job_that_compares_nothing_fails_and_names_the_locations(cli: Cli, tmp_path: Path) -> None:
    _write(tmp_path / "wms.csv", "sku,location,available\nA,main-wh,4\nB,main-wh,0\nA,north-wh,2\n")
    _write(tmp_path / "web.csv", "sku,location,available\nA,web-warehouse,9\nB,web-warehouse,1\n")
    config = _write(tmp_path / "omnihub.yaml", _STOCK.replace("RULES", ""))

    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 1
    job = _jobs(result.stdout)["stock"]
    assert job["status"] == "failed" and job["compared"] == 0 and job["pushed"] == {}
    (error,) = job["errors"]
    assert "compared nothing" in error and "main-wh, north-wh" in error and "web sells at web-warehouse" in error
    assert json.loads(cli("--config", str(config), "mismatches", "--json").stdout) == []  # no flood of findings
    runs = json.loads(cli("--config", str(config), "runs", "--json").stdout)
    assert runs[0]["status"] == "failed"

    table = cli("--config", str(config), "sync")
    assert table.returncode == 1 and "compared" in table.stdout and "failed" in table.stdout

    checked = cli("--config", str(config), "check")
    assert checked.returncode == 0  # valid YAML; what it could not compare is said, not hidden
    assert "web-warehouse" in checked.stdout + checked.stderr
    assert "main-wh" in checked.stdout + checked.stderr


def test_a_rule_mapping_part_of_the_truth_compares_and_warns_about_the_rest(cli: Cli, tmp_path: Path) -> None:
    _write(tmp_path / "wms.csv", "sku,location,available\nA,main-wh,4\nB,main-wh,0\nA,north-wh,2\n")
    _write(tmp_path / "web.csv", "sku,location,available\nA,web-warehouse,9\nB,web-warehouse,1\nA,outlet,3\n")
    rules = "rules: {web: {locations: {web-warehouse: [main-wh]}}}"
    config = _write(tmp_path / "omnihub.yaml", _STOCK.replace("RULES", rules))

    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 0, result.stderr
    job = _jobs(result.stdout)["stock"]
    assert job["status"] == "ok" and job["compared"] == 2 and job["pushed"] == {"web": 2}
    warnings = " ".join(job["warnings"])
    assert "web sells at outlet" in warnings and "north-wh" in warnings


# ------------------------------------------------------------------ failed work


def test_changes_that_do_not_land_fail_the_job_and_are_decided_again_next_run(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        config.write_text(
            config.read_text().replace("    manage_stock: true\n", "    manage_stock: true\n    max_attempts: 2\n")
        )
        env = {**os.environ, **CREDENTIALS}
        shop.apps["woocommerce"].state.faults.add(
            Fault(
                kind="status",
                status=502,
                method="POST",
                times=None,
                body=b"<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>",
                headers={"content-type": "text/html"},
            )
        )
        down = cli("--config", str(config), "sync", "prices", "--json", env=env)
        assert down.returncode == 1, down.stdout + down.stderr
        job = _jobs(down.stdout)["prices"]
        assert job["status"] == "failed" and job["failed"] > 0 and not job["pushed"].get("web")
        failure = job["failures"][0]
        assert failure["connector"] == "web" and failure["fields"]
        assert "<html" not in down.stdout + down.stderr and "502" in failure["message"]

        runs = json.loads(cli("--config", str(config), "runs", "--json", env=env).stdout)
        assert runs[0]["job"] == "prices" and runs[0]["status"] == "failed"

        shop.apps["woocommerce"].state.faults.clear()
        up = cli("--config", str(config), "sync", "prices", "--json", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        job = _jobs(up.stdout)["prices"]
        assert job["status"] == "ok" and job["pushed"].get("web") and job["failed"] == 0

        store = Store.open(f"sqlite:///{config.parent / 'omnihub-demo.db'}")
        try:
            statuses = {row["status"] for row in store.outbox.rows("web")}
        finally:
            store.close()
        assert "retry" not in statuses and "pending" not in statuses
        assert {"superseded", "done"} <= statuses


# ------------------------------------------------------------------ what the customer pays


def test_a_half_saved_woocommerce_item_is_a_mismatch_and_is_written_again(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        env = {**os.environ, **CREDENTIALS}
        settled = cli("--config", str(config), "sync", "prices", "stock", "--json", env=env)
        assert settled.returncode == 0, settled.stdout + settled.stderr
        woo = shop.apps["woocommerce"].state.sandbox
        priced = next(sku for sku, (regular, sale) in sorted(woo.prices().items()) if regular and not sale)
        stocked = next(sku for sku, quantity in sorted(woo.quantities().items()) if quantity and sku != priced)
        regular = woo.item(priced)["regular_price"]
        # a save killed halfway: the new regular price is there, customers still pay the old one;
        # and a quantity that is right beside a stock status that says sold out
        woo.tear(priced, price="1.00")
        woo.tear(stocked, stock_status="outofstock")

        torn = _jobs(cli("--config", str(config), "sync", "prices", "stock", "--json", env=env).stdout)
        assert torn["prices"]["status"] == "ok" and torn["prices"]["pushed"] == {"web": 1}
        assert torn["stock"]["status"] == "ok" and torn["stock"]["pushed"] == {"web": 1}
        listed = json.loads(cli("--config", str(config), "mismatches", "--all", "--json", env=env).stdout)
        seen = {(m["key"], m["field"], m["expected"], m["actual"]) for m in listed}
        assert (priced, "effective", regular, "1.00") in seen
        assert (f"{stocked}@web-warehouse", "in_stock", "True", "False") in seen
        assert woo.item(priced)["price"] == regular and woo.item(stocked)["stock_status"] == "instock"

        after = _jobs(cli("--config", str(config), "sync", "prices", "stock", "--json", env=env).stdout)
        assert after["prices"]["mismatches"] == 0 and after["stock"]["mismatches"] == 0
        assert after["prices"]["pushed"] == {} and after["stock"]["pushed"] == {}


# ------------------------------------------------------------------ values a channel cannot hold


def test_a_quantity_a_channel_cannot_hold_fails_alone_and_the_rest_lands(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        env = {**os.environ, **CREDENTIALS}
        wms = shop.apps["wms"].state.sandbox
        shop_codes = set(shop.apps["shopify"].state.sandbox.location_gids().values())
        row = next(
            r
            for r in sorted(wms.stock.values(), key=lambda r: (r.sku, r.warehouse_id))
            if wms.warehouses[r.warehouse_id] in shop_codes
        )
        row.on_hand, row.committed = 1_500_000_000, 0  # a 32-bit count, more than Shopify stores
        result = cli("--config", str(config), "sync", "stock", "--json", env=env)
        assert result.returncode == 1, result.stdout + result.stderr
        (job,) = json.loads(result.stdout)["jobs"]
        assert job["status"] == "partial" and job["pushed"]["shop"] > 0 and job["pushed"]["web"] > 0
        (failure,) = [f for f in job["failures"] if f["connector"] == "shop"]
        assert failure["key"] == f"{row.sku}@{wms.warehouses[row.warehouse_id]}"
        assert failure["code"] == "out_of_range" and "1500000000" in failure["message"]
        assert "Traceback" not in result.stderr


def test_negative_stock_from_the_truth_is_quarantined_and_the_rest_is_pushed(cli: Cli, tmp_path: Path) -> None:
    _write(tmp_path / "wms.csv", "sku,location,available\nA,wh,5\nB,wh,-5\nC,wh,7\n")
    _write(tmp_path / "web.csv", "sku,location,available\nA,wh,1\nB,wh,1\nC,wh,1\n")
    config = _write(tmp_path / "omnihub.yaml", _STOCK.replace("RULES", ""))
    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    job = _jobs(result.stdout)["stock"]
    assert job["quarantined"] == 1 and job["pushed"] == {"web": 2}
    (row,) = json.loads(cli("--config", str(config), "quarantine", "--json").stdout)
    assert row["key"] == "B@wh" and "negative" in row["reason"] and row["origin"].endswith("wms.csv:3")
    assert (tmp_path / "web.csv").read_text().splitlines()[1:] == ["A,wh,5", "B,wh,1", "C,wh,7"]


def test_a_stored_record_stricter_rules_refuse_is_quarantined_not_an_internal_error(cli: Cli, tmp_path: Path) -> None:
    _write(tmp_path / "wms.csv", "sku,location,available\nA,wh,5\nB,wh,6\nC,wh,7\n")
    _write(tmp_path / "web.csv", "sku,location,available\nA,wh,5\nB,wh,6\nC,wh,7\n")
    config = _write(tmp_path / "omnihub.yaml", _STOCK.replace("RULES", ""))
    assert cli("--config", str(config), "sync").returncode == 0
    # what an older omnihub stored under looser rules: a count no platform holds
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "UPDATE observations SET data = ? WHERE connector = 'wms' AND key = 'B@wh'",
            ('{"sku":"B","location":"wh","available":2147483648,"on_hand":null,"in_stock":null}',),
        )
    _write(tmp_path / "web.csv", "sku,location,available\nA,wh,5\nB,wh,1\nC,wh,1\n")  # B's group is read back
    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "internal error" not in result.stdout + result.stderr
    job = _jobs(result.stdout)["stock"]
    assert job["status"] == "ok" and job["quarantined"] == 1 and job["pushed"] == {"web": 1}  # C corrected
    listed = json.loads(cli("--config", str(config), "mismatches", "--json").stdout)
    assert [m for m in listed if m["key"] == "B@wh"] == []  # unreadable is not missing
    (row,) = json.loads(cli("--config", str(config), "quarantine", "--json").stdout)
    assert row["key"] == "B@wh" and "stored record no longer valid" in row["reason"]


def test_the_sync_table_and_plan_fit_80_columns_with_whole_headers_and_values(cli: Cli, csv_demo: Path) -> None:
    narrow = {"COLUMNS": "80"}
    planned = cli("--config", str(csv_demo), "sync", "--dry-run", env=narrow)
    assert planned.returncode == 0, planned.stderr
    assert "JNS-SLIM-32@" in planned.stdout and "…" not in planned.stdout  # long keys wrap, never cut
    result = cli("--config", str(csv_demo), "sync", env=narrow)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in result.stdout
    header = next(line for line in lines if "job" in line)
    assert all(f" {h} " in header for h in ("status", "pulled", "mismatches", "pushed", "failed", "compared"))
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]] for line in lines if "│ ok" in line}
    assert rows["prices"][-1] == "6" and rows["stock"][-1] == "8"  # compared
    assert "not shown at this width: quarantined, seconds" in result.stdout  # what was left out is named
