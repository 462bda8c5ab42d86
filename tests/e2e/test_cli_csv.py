"""The CLI contract on the shipped CSV example: sync, enforce, dry run, listings, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.e2e.conftest import Cli


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_sync_reports_seeded_mismatches_then_enforce_converges(cli: Cli, csv_demo: Path) -> None:
    first = cli("--config", str(csv_demo), "sync", "--json")
    assert first.returncode == 0, first.stderr
    jobs = {job["name"]: job for job in json.loads(first.stdout)["jobs"]}
    assert set(jobs) == {"prices", "stock"}
    prices, stock = jobs["prices"], jobs["stock"]
    for job in (prices, stock):
        assert {"name", "entity", "pulled", "mismatches", "pushed", "failed", "quarantined", "duration_s"} <= set(job)
    # seeded: JKT-ALPINE-S at 79 instead of 89, TEE-BASIC-M lost its compare-at price
    assert prices["pulled"] == {"erp": 8, "shop": 9}
    assert prices["new_mismatches"] == 2 and prices["pushed"] == {"shop": 2}
    # quarantined: the "abc" price and both rows of the duplicated CAP-WOOL, the rest still synced
    assert prices["quarantined"] == 3
    # seeded: the web shows 2 of a jacket the warehouse sold out, and 0 of jeans it has 9 of (safety stock 1)
    assert stock["new_mismatches"] == 2 and stock["pushed"] == {"web": 2}

    shop = {r["Articolo"]: r for r in _rows(csv_demo.parent / "feeds" / "shop-prices.csv", ";")}
    assert shop["JKT-ALPINE-S"]["Prezzo"] == "89,00"  # corrected, in the feed's own decimal comma
    assert shop["TEE-BASIC-M"]["Prezzo_pieno"] == "24,90"
    assert shop["TEE-BASIC-L"]["Prezzo"] == "abc"  # a quarantined row is left as it was
    assert shop["JKT-ALPINE-S"]["Note"] == "listino vecchio"  # columns omnihub does not know survive
    web = {r["sku"]: r for r in _rows(csv_demo.parent / "feeds" / "web-stock.csv")}
    assert web["JKT-ALPINE-M"]["available"] == "0"
    assert web["JNS-SLIM-32"]["available"] == "8"

    second = cli("--config", str(csv_demo), "sync", "--json")
    assert second.returncode == 0, second.stderr
    assert [job["mismatches"] for job in json.loads(second.stdout)["jobs"]] == [0, 0]
    listing = cli("--config", str(csv_demo), "mismatches", "--json")
    assert json.loads(listing.stdout) == []

    everything = json.loads(cli("--config", str(csv_demo), "mismatches", "--all", "--json").stdout)
    assert len(everything) == 4
    item = next(m for m in everything if m["key"] == "JKT-ALPINE-S")
    assert item == {
        **item,
        "entity": "prices",
        "field": "amount",
        "connector": "shop",
        "expected": "89.00",
        "actual": "79.00",
        "status": "resolved",
    }
    assert item["first_seen"].endswith("Z") and item["last_seen"].endswith("Z")

    quarantine = json.loads(cli("--config", str(csv_demo), "quarantine", "--json").stdout)
    reasons = {(q["origin"], q["key"]): q["reason"] for q in quarantine}
    assert "'abc' is not a decimal number" in reasons[("shop-prices.csv:7", "TEE-BASIC-L")]
    assert any("duplicate key 'CAP-WOOL'" in r for (origin, _), r in reasons.items() if origin == "shop-prices.csv:10")

    runs = json.loads(cli("--config", str(csv_demo), "runs", "--json").stdout)
    assert [r["status"] for r in runs] == ["ok"] * 4


def test_dry_run_prints_the_plan_and_changes_nothing(cli: Cli, csv_demo: Path) -> None:
    feeds = csv_demo.parent / "feeds"
    before = {p.name: p.read_bytes() for p in feeds.iterdir()}
    result = cli("--config", str(csv_demo), "sync", "prices", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    assert {"connector": "shop", "key": "JKT-ALPINE-S", "field": "amount", "from": "79.00", "to": "89.00"} in job[
        "planned"
    ]
    assert {p.name: p.read_bytes() for p in feeds.iterdir()} == before
    assert not (csv_demo.parent / "demo-csv.db").exists()  # not even the state store was written

    table = cli("--config", str(csv_demo), "sync", "--dry-run")
    assert table.returncode == 0
    assert "JKT-ALPINE-S" in table.stdout and "dry run: nothing was changed" in table.stdout


def test_monitor_flag_reports_without_pushing(cli: Cli, csv_demo: Path) -> None:
    feed = csv_demo.parent / "feeds" / "web-stock.csv"
    before = feed.read_bytes()
    result = cli("--config", str(csv_demo), "sync", "stock", "--monitor", "--json")
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["mode"] == "monitor" and job["mismatches"] == 2 and job["pushed"] == {}
    assert feed.read_bytes() == before


def test_unknown_job_is_a_config_error(cli: Cli, csv_demo: Path) -> None:
    result = cli("--config", str(csv_demo), "sync", "nope")
    assert result.returncode == 2
    assert "unknown job 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_bad_configs_exit_2_with_located_messages(cli: Cli, tmp_path: Path) -> None:
    cases = {
        "typo.yaml": (
            "version: 1\nconnectors:\n  a: {type: csv, path: a.csv, delimeter: ';'}\n",
            "typo.yaml:3:31 (connectors.a.delimeter): unknown key 'delimeter'",
        ),
        "env.yaml": (
            "version: 1\nconnectors:\n  a: {type: csv, path: '${OMNIHUB_TEST_UNSET_VARIABLE}'}\n",
            "env.yaml:3:24 (connectors.a.path): environment variable OMNIHUB_TEST_UNSET_VARIABLE is not set",
        ),
        "type.yaml": (
            "version: 1\nconnectors:\n  a: {type: shopifyy}\n",
            "type.yaml:3:7 (connectors.a.type): unknown connector type 'shopifyy'",
        ),
        "syntax.yaml": ("version: 1\nconnectors: [\n", "syntax.yaml:3:1: YAML syntax error"),
        "mode.yaml": (
            "version: 1\nconnectors:\n  a: {type: csv, path: a.csv}\n  b: {type: csv, path: b.csv}\n"
            "truth: {prices: a}\njobs:\n  p: {entity: prices, targets: [b], mode: enforse}\n",
            "mode.yaml:7:37 (jobs.p.mode): Input should be 'enforce' or 'monitor' (got 'enforse')",
        ),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        result = cli("--config", name, "check")
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
    missing = cli("--config", "absent.yaml", "sync")
    assert missing.returncode == 2 and "absent.yaml: file not found" in missing.stderr


def test_check_accepts_the_shipped_examples(cli: Cli, csv_demo: Path) -> None:
    result = cli("--config", str(csv_demo), "check")
    assert result.returncode == 0 and "4 connectors, 2 jobs" in result.stdout


def test_config_schema_is_json_with_connector_variants(cli: Cli) -> None:
    result = cli("config", "schema")
    schema = json.loads(result.stdout)
    variants = schema["properties"]["connectors"]["additionalProperties"]["oneOf"]
    assert {v["properties"]["type"]["const"] for v in variants} >= {
        "csv",
        "shopify",
        "woocommerce",
        "hubspot",
        "mailchimp",
        "rest_wms",
    }


def test_a_failing_job_exits_1_and_the_others_still_run(cli: Cli, csv_demo: Path) -> None:
    (csv_demo.parent / "feeds" / "erp-prices.csv").unlink()
    result = cli("--config", str(csv_demo), "sync", "--json")
    assert result.returncode == 1
    jobs = {job["name"]: job for job in json.loads(result.stdout)["jobs"]}
    assert jobs["prices"]["status"] == "failed" and "erp-prices.csv not found" in jobs["prices"]["errors"][0]
    assert jobs["stock"]["status"] == "ok"


def test_an_emptied_feed_is_refused_instead_of_deleting_everything(cli: Cli, csv_demo: Path) -> None:
    assert cli("--config", str(csv_demo), "sync", "stock").returncode == 0
    (csv_demo.parent / "feeds" / "wms-stock.csv").write_text("sku,location,available,on_hand\n")
    result = cli("--config", str(csv_demo), "sync", "stock", "--json")
    assert result.returncode == 1
    (job,) = json.loads(result.stdout)["jobs"]
    assert "looks empty or truncated" in job["errors"][0] and "max_delete_fraction" in job["errors"][0]


def test_drift_put_back_after_the_hub_rewrote_the_feeds_is_found_and_corrected_again(cli: Cli, csv_demo: Path) -> None:
    feeds = csv_demo.parent / "feeds"
    original = {path: path.read_bytes() for path in feeds.iterdir()}

    def sync() -> dict[str, dict[str, object]]:
        result = cli("--config", str(csv_demo), "sync", "--json")
        assert result.returncode == 0, result.stderr
        return {job["name"]: job for job in json.loads(result.stdout)["jobs"]}

    first = sync()
    assert first["prices"]["pushed"] == {"shop": 2} and first["stock"]["pushed"] == {"web": 2}
    for path, content in original.items():  # `git checkout config/feeds`: the drift is back
        path.write_bytes(content)

    second = sync()
    for name, target in (("prices", "shop"), ("stock", "web")):
        assert second[name]["new_mismatches"] == 2, second[name]
        assert second[name]["pushed"] == {target: 2} and second[name]["mismatches"] == 0
    shop = {r["Articolo"]: r for r in _rows(feeds / "shop-prices.csv", ";")}
    assert shop["JKT-ALPINE-S"]["Prezzo"] == "89,00"

    third = sync()  # nothing changed since the hub's own writes: nothing to read, nothing found
    for name in ("prices", "stock"):
        assert set(third[name]["pulled"].values()) == {0}, third[name]
        assert third[name]["new_mismatches"] == 0 and third[name]["mismatches"] == 0
        assert third[name]["pushed"] == {}
