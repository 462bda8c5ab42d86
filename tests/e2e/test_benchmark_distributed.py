"""``benchmarks/distributed.py`` at CI size: every store's run goes through ``omnihub worker``
subprocesses on 1 worker, then on 2, with nothing lost or doubled, and so does the big prices job
(split in two partitions); it ends with its one-line summary. Twenty stores at once: more runs in
flight than a connection pool holds (each holds its job's lock for the whole run). The speedup
is not asserted here (small runs on two cores are too noisy); the
full-size run measures it. Redis: database ``REDIS_DB`` only, which the benchmark flushes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "distributed.py"
#: Not the integration tests' database (13) nor the benchmark's default (12): either may be in use.
REDIS_DB = 11
SUMMARY = re.compile(
    r"workers=1,2 seconds=(?P<t1>[\d.]+),(?P<t2>[\d.]+) speedup=(?P<speedup>[\d.]+)"
    r" big_seconds=(?P<b1>[\d.]+),(?P<b2>[\d.]+) big_speedup=(?P<big_speedup>[\d.]+) big_skus=(?P<big_skus>\d+)"
    r" lost=(?P<lost>\d+)"
    r" doubled=(?P<doubled>\d+) stores=(?P<stores>\d+) skus=(?P<skus>\d+)"
)


def test_small_run_through_one_then_two_workers_loses_and_doubles_nothing() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--stores",
            "20",
            "--skus",
            "100",
            "--big-skus",
            "3000",
            "--no-warmup",
            "--db",
            POSTGRES_URL,
            "--broker",
            f"redis://127.0.0.1:6379/{REDIS_DB}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the benchmark kills its workers and drops its schema on the way out
        out, err = proc.communicate(timeout=20)
        pytest.fail(f"the CI-size benchmark took more than 90 s:\n{out}{err}")
    assert proc.returncode == 0, out + err
    *_, details_line, big_line, summary_line = out.strip().splitlines()
    match = SUMMARY.fullmatch(summary_line)
    assert match, f"not the one-line summary: {summary_line!r}"
    assert match["stores"] == "20" and match["skus"] == "100" and match["big_skus"] == "3000"
    assert int(match["lost"]) == 0 and int(match["doubled"]) == 0
    t1, t2 = float(match["t1"]), float(match["t2"])
    assert t1 > 0 and t2 > 0
    assert float(match["speedup"]) == pytest.approx(t1 / t2, rel=0.05)  # t1, t2 are rounded to 0.01 s
    details = dict(item.split("=", 1) for item in details_line.split())
    # every drifted quantity was pushed once in each pass, and the outbox shows no second send
    drifted, pushed = details["drifted"].split(","), details["pushed"].split(",")
    assert drifted == pushed and int(drifted[0]) > 0
    assert details["doubled_in_run"] == details["doubled_in_job"] == "0,0"
    big = dict(item.split("=", 1) for item in big_line.split()[1:])
    assert big["partitions"] == "2" and big["drifted"] == big["pushed"] and int(big["drifted"].split(",")[0]) > 0
    assert float(match["big_speedup"]) == pytest.approx(float(match["b1"]) / float(match["b2"]), rel=0.05)
