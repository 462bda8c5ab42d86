"""``omnihub run`` with a job every second, through a platform outage, then SIGTERM."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from hub.cli.demo import CREDENTIALS, DemoShop
from tests.e2e.conftest import REPO


def _runs(db: Path) -> list[tuple[str, str, str | None, str | None]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return list(
                conn.execute("select status, started_at, finished_at, error from runs where job = 'prices' order by id")
            )
        except sqlite3.OperationalError:
            return []


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_outage_runs_fail_with_reason_no_overlap_one_digest_and_clean_stop(tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        text = shop.write_config().read_text()
        # Only the prices job, every second, in monitor mode; no retries so an outage fails fast.
        text = text.replace(
            'prices: {entity: prices, targets: [web], mode: enforce, schedule: "every 15m"}',
            'prices: {entity: prices, targets: [web], mode: monitor, schedule: "every 1s"}',
        )
        text = text.replace('schedule: "*/5 * * * *"', "").replace('schedule: "0 * * * *"', "")
        text = text.replace("    manage_stock: true\n", "    manage_stock: true\n    max_attempts: 1\n")
        config = tmp_path / "daemon.yaml"
        config.write_text(text)
        db = tmp_path / "omnihub-demo.db"
        woo = shop.apps["woocommerce"]
        woo.state.faults.add(
            kind="status",
            status=503,
            times=None,
            body={"code": "maintenance", "message": "Briefly unavailable", "data": {"status": 503}},
        )
        env = {**os.environ, **CREDENTIALS}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "hub", "--config", str(config), "run", "--log-format", "json"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait(lambda: sum(1 for r in _runs(db) if r[0] == "failed") >= 3, 30, "three failed runs")
            woo.state.faults.clear()  # the platform is back
            _wait(lambda: len(shop.inbox.messages) >= 1, 30, "the digest after recovery")
            ok_after = sum(1 for r in _runs(db) if r[0] == "ok")
            _wait(lambda: sum(1 for r in _runs(db) if r[0] == "ok") >= ok_after + 2, 30, "two more runs")
        finally:
            stopping = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
        assert time.monotonic() - stopping < 10
        assert daemon.returncode == 0, err

    runs = _runs(db)
    failed = [r for r in runs if r[0] == "failed"]
    assert len(failed) >= 3
    assert all("HTTP 503" in (r[3] or "") and "Briefly unavailable" in (r[3] or "") for r in failed)
    assert runs[-1][0] == "ok"
    intervals = sorted((datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2])) for r in runs if r[2])
    for (_, finished), (started, _) in itertools.pairwise(intervals):
        assert started >= finished, "two runs of the job overlapped"
    # Every run after the outage sees the same two price mismatches: they are mailed once.
    assert len(shop.inbox.messages) == 1
    body = shop.inbox.messages[0].get_body(("plain",)).get_content()
    assert body.count("JKT-ALPINE-M") == 1 and body.count("TEE-BASIC-S") == 1
    lines = [json.loads(line) for line in err.splitlines()]  # every stderr line is one JSON record
    assert lines and all({"level", "message"} <= set(line) for line in lines)
    for secret in CREDENTIALS.values():
        assert secret not in out + err
