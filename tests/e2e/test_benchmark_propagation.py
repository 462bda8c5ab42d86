"""``benchmarks/propagation.py`` at CI size: paid WooCommerce orders reach Shopify through the daemon's
webhooks, no sale is lost or oversold, and it ends with its one-line summary. (The full-size run
itself is not a test.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "propagation.py"
SUMMARY = re.compile(
    r"skus=(?P<skus>\d+) sales=(?P<sales>\d+) rate_per_s=(?P<rate>[\d.]+) p50_ms=(?P<p50>\d+) p95_ms=(?P<p95>\d+)"
    r" max_ms=(?P<max>\d+) lost_sales=(?P<lost>\d+) oversold=(?P<oversold>\d+) runs=(?P<runs>\d+)"
    r" deliveries=(?P<deliveries>\d+)"
)


def test_small_run_propagates_every_sale_without_losing_or_overselling_any() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--skus", "300", "--sales", "20", "--plus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    *_, details_line, summary_line = done.stdout.strip().splitlines()
    match = SUMMARY.fullmatch(summary_line)
    assert match, f"not the one-line summary: {summary_line!r}"
    details = dict(item.split("=", 1) for item in details_line.split())
    assert match["skus"] == "300"
    assert int(match["lost"]) == 0 and int(match["oversold"]) == 0
    assert int(match["p95"]) < 5000
    assert int(match["p50"]) <= int(match["p95"]) <= int(match["max"])
    # Every order placed was measured; a few sales met a scarce SKU sold out on the storefront.
    placed = int(details["placed"])
    assert int(match["sales"]) == placed and placed + int(details["refused_out_of_stock"]) == 20
    assert details["unreached"] == "0" and details["failed_runs"] == "0"
    # The runs came from the deliveries (no scheduled run in that time), each order's units reserved.
    assert int(match["deliveries"]) >= placed and int(match["runs"]) >= 1
    assert details["units_reserved"] == details["units_sold"]
