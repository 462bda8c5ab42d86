"""A sync killed (SIGKILL) in the middle of a push loses nothing and applies nothing twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hub.cli.demo import CREDENTIALS, DemoShop
from tests.e2e.conftest import REPO


def _outbox(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return list(conn.execute("select key, status from outbox order by id"))
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def _posts(woo) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in woo.state.requests.items() if k.startswith("POST")}


def _correct(woo) -> set[str]:  # type: ignore[no-untyped-def]
    """The seeded drifts the WooCommerce sandbox no longer shows."""
    prices = woo.state.sandbox.prices()
    fixed = set()
    if prices["JKT-ALPINE-M"][0] == "89.00":
        fixed.add("JKT-ALPINE-M")
    if prices["TEE-BASIC-S"][0] == "24.90":
        fixed.add("TEE-BASIC-S")
    return fixed


def test_sigkill_during_a_push_then_restart(tmp_path: Path) -> None:
    env = {**os.environ, **CREDENTIALS}
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        woo = shop.apps["woocommerce"]
        # A price batch reaches WooCommerce, which takes 2 s to answer: the hub is killed while it
        # waits, after journaling its changes and before learning what became of them.
        woo.state.faults.add(kind="delay", seconds=2.0, method="POST", path="/wp-json/wc/v3/products", times=1)
        command = [sys.executable, "-m", "hub", "--config", str(config), "sync", "prices", "--json"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        db = tmp_path / "omnihub-demo.db"
        deadline = time.monotonic() + 60
        while not any(status == "pending" for _, status in _outbox(db)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the push never started"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        journaled = _outbox(db)
        assert {status for _, status in journaled} == {"pending"} and len(journaled) == 2
        time.sleep(2.5)  # whatever the platform still does with the dead process's requests, it does now
        sent_before = _posts(woo)
        applied_before = _correct(woo)

        restarted = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert restarted.returncode == 0, restarted.stderr
        (job,) = json.loads(restarted.stdout)["jobs"]
        # The restart decides again from a fresh pull: what the platform applied before the crash
        # is not sent again, what it did not apply is sent once; then nothing is left open.
        assert job["mismatches"] == 0
        assert job["pushed"].get("web", 0) == 2 - len(applied_before)
        assert sum(_posts(woo).values()) - sum(sent_before.values()) == 2 - len(applied_before)
        assert _correct(woo) == {"JKT-ALPINE-M", "TEE-BASIC-S"}
        # The journal keeps the dead run's changes as superseded, and the restart's own as done.
        assert [status for _, status in _outbox(db)] == ["superseded"] * 2 + ["done"] * job["pushed"].get("web", 0)
        runs = subprocess.run(
            [sys.executable, "-m", "hub", "--config", str(config), "runs", "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        statuses = [(r["status"], r["error"]) for r in json.loads(runs.stdout)]
        assert statuses[-1] == ("failed", "interrupted (the process stopped during the run)")
        assert statuses[0] == ("ok", None)
