"""``benchmarks/reconcile.py`` on a small catalogue: it runs, it ends with its one-line summary, and
it leaves a shared PostgreSQL database as it found it. (The volume runs themselves are not tests.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reconcile.py"
SUMMARY = re.compile(
    r"first_sync_obs_per_s=(\d+) resync_speedup=([\d.]+) peak_rss_mb=(\d+) spilled_us_per_obs=([\d.]+|none)"
)


def run_benchmark(*args: str) -> tuple[dict[str, str], re.Match[str]]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--skus", "400", "--channels", "3", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *_, details, summary = done.stdout.strip().splitlines()
    match = SUMMARY.fullmatch(summary)
    assert match, f"not the one-line summary: {summary!r}"
    return dict(item.split("=", 1) for item in details.split()), match


def test_sqlite_run_ends_with_the_summary_and_finds_the_drift() -> None:
    details, summary = run_benchmark("--drift", "0.1")
    assert details["observations"] == "1200"
    # About a tenth of 400 SKUs drifted on each of the two targets.
    assert 40 <= int(details["mismatches"]) <= 120
    assert int(summary[1]) > 0 and float(summary[2]) > 1 and int(summary[3]) > 0
    assert summary[4] == "none"  # everything held in memory


def test_a_run_past_its_memory_budget_decides_the_same_and_prints_its_spilled_cost() -> None:
    held, _ = run_benchmark()
    details, summary = run_benchmark("--memory-records", "60")
    assert details["mismatches"] == held["mismatches"]
    assert float(summary[4]) > 0


@pytest.mark.postgres
def test_postgres_run_leaves_the_database_as_it_was(postgres_server: str) -> None:
    engine = create_engine(postgres_server)
    try:

        def state() -> tuple[list[str], list[str]]:
            with engine.connect() as conn:
                schemas = conn.execute(text("select schema_name from information_schema.schemata")).scalars().all()
            return sorted(schemas), sorted(inspect(engine).get_table_names())

        before = state()
        details, _ = run_benchmark("--db", postgres_server)
        assert int(details["mismatches"]) > 0
        assert state() == before
    finally:
        engine.dispose()
