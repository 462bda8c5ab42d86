"""Log records reach stderr once each, in the format chosen with the global ``--log-format``, for
every command; ``run --log-format`` is its alias, and a wrong value is a usage error."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

DAEMON_CONFIG = textwrap.dedent(
    """
    version: 1
    hub: {database: "sqlite:///hub.db", timezone: Europe/Rome}
    connectors:
      wms:  {type: csv, path: wms.csv}
      shop: {type: csv, path: shop.csv}
    truth: {stock: wms}
    jobs:
      stock: {entity: stock, targets: [shop], schedule: "every 1s", mode: monitor}
    """
)


def _finished_runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("select count(*) from runs where finished_at is not null").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0


def _daemon_stderr(folder: Path, *args: str) -> tuple[str, int]:
    """Run ``omnihub ARGS`` until two scheduled runs have finished, stop it with SIGTERM; its stderr
    and the number of runs it recorded."""
    (folder / "omnihub.yaml").write_text(DAEMON_CONFIG, encoding="utf-8")
    (folder / "wms.csv").write_text("sku,location,available\nA,wh,1\n", encoding="utf-8")
    (folder / "shop.csv").write_text("sku,location,available\nA,wh,2\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OMNIHUB_CONFIG"}
    command = [sys.executable, "-m", "hub", *args]
    daemon = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _finished_runs(folder / "hub.db") < 2:
            assert daemon.poll() is None, daemon.communicate()[1]
            assert time.monotonic() < deadline, "the daemon did not run its job twice within 30 s"
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    return err, _finished_runs(folder / "hub.db")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [("--log-format", "json", "run"), ("run", "--log-format", "json")], ids=["global", "run-alias"]
)
def test_daemon_json_logs_every_record_once_and_nothing_else(tmp_path: Path, args: tuple[str, ...]) -> None:
    err, runs = _daemon_stderr(tmp_path, *args)
    records = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    messages = Counter(r["message"] for r in records)
    assert messages["omnihub daemon running; stop with SIGTERM or Ctrl-C"] == 1
    assert messages["received SIGTERM"] == 1 and messages["stopped"] == 1
    assert sum(1 for r in records if r.get("job") == "stock") == runs  # one record per run, not two
    assert len({(r["time"], r["message"]) for r in records}) == len(records)


@pytest.mark.slow
def test_daemon_text_logs_are_text_lines_once_each(tmp_path: Path) -> None:
    err, _ = _daemon_stderr(tmp_path, "run")
    lines = err.splitlines()
    assert sum("omnihub daemon running" in line for line in lines) == 1
    assert sum(line.endswith("INFO    omnihub.scheduler: stopped") for line in lines) == 1
    assert not any(line.startswith("{") for line in lines)


def test_global_json_format_applies_to_other_commands(cli: Cli, csv_demo: Path) -> None:
    # --verbose on a new database: the migrations log INFO records, which must come out as JSON, once.
    done = cli("--verbose", "--log-format", "json", "--config", str(csv_demo), "sync", "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert records, "a first sync with --verbose logs the schema migrations"
    messages = Counter(r["message"] for r in records)
    assert all(count == 1 for count in messages.values()), messages
    assert any(m.startswith("Running upgrade  -> 0001") for m in messages)
    assert json.loads(done.stdout)["jobs"]  # stdout keeps the command's own output, apart from the logs


def test_a_failed_sync_with_json_logs_says_why_in_json_lines_only(cli: Cli, csv_demo: Path) -> None:
    """A job's errors used to come out as text lines among the JSON records: a log shipper reading
    stderr would drop them or choke, and the reason a job failed would be lost with them."""
    (csv_demo.parent / "feeds" / "wms-stock.csv").unlink()  # the stock job's truth is gone
    done = cli("--log-format", "json", "--config", str(csv_demo), "sync")
    assert done.returncode == 1, done.stdout + done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    notes = [r for r in records if r["logger"] == "omnihub.cli"]
    assert notes and all(r["job"] == "stock" and r["level"] == "ERROR" for r in notes), records
    assert any("wms" in r["message"] for r in notes)


@pytest.mark.parametrize("args", [("--log-format", "xml", "check"), ("run", "--log-format", "xml")])
def test_an_unknown_log_format_is_a_usage_error(cli: Cli, args: tuple[str, ...]) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert "Invalid value for '--log-format'" in done.stderr and "'xml'" in done.stderr
    assert "internal error" not in done.stderr


BOOM = """
import sys
from hub.cli import app as cli

@cli.app.command()
def boom() -> None:
    raise RuntimeError("kaputt")

sys.argv = ["omnihub", *sys.argv[1:], "boom"]
cli.main()
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_verbose_shows_an_internal_errors_traceback_once_in_the_chosen_format(tmp_path: Path, fmt: str) -> None:
    def boom(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", BOOM, *args]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    quiet, verbose = boom("--log-format", fmt), boom("--verbose", "--log-format", fmt)
    assert quiet.returncode == verbose.returncode == 1
    assert "internal error: RuntimeError: kaputt" in quiet.stderr and "Traceback" not in quiet.stderr
    assert verbose.stderr.count("Traceback (most recent call last)") == 1
    assert verbose.stderr.count("internal error: RuntimeError: kaputt") == 1
    if fmt == "json":
        record = json.loads(verbose.stderr.splitlines()[0])
        assert record["level"] == "ERROR" and "RuntimeError: kaputt" in record["exception"]
