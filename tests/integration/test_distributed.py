"""The distributed engine against the machine's Redis and PostgreSQL: runs enqueued the way
``omnihub run --engine celery`` enqueues them, run by ``omnihub worker`` subprocesses.

Each test starts its workers in their own process group and ends them by pid (SIGKILL for the
group at the end, whatever happened). Redis: database ``REDIS_DB`` only, flushed before and after.
PostgreSQL: a schema of this module, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celery  # noqa: F401  (the distributed extra is in the test extra: missing, these tests fail, never skip)
import pytest
import redis
from sqlalchemy import select

from hub.config.loader import load_config
from hub.distributed.enqueue import SAME_TICK
from hub.ops.metrics import HubMetrics
from hub.state import schema as t
from hub.state.store import Store
from tests.conftest import POSTGRES_URL
from tests.integration.conftest import postgres_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REDIS_DB = 13
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker() -> Iterator[str]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield BROKER
    client.flushdb()
    client.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The distributed engine needs PostgreSQL: without a server these tests fail, never skip."""
    with postgres_schema(POSTGRES_URL, "omnihub_dist") as url:
        yield url


def _write_feeds(folder: Path, skus: int) -> dict[str, str]:
    """A WMS truth of ``skus`` rows and a web feed where every third one drifted; the web's
    expected quantities (safety stock 1) by SKU."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    with (folder / "wms.csv").open("w", newline="") as wms, (folder / "web.csv").open("w", newline="") as web:
        w1, w2 = csv.writer(wms), csv.writer(web)
        w1.writerow(["sku", "location", "available", "on_hand"])
        w2.writerow(["sku", "location", "available"])
        for n in range(skus):
            sku = f"SKU-{n:06d}"
            qty = 5 + n % 7
            w1.writerow([sku, "main-wh", qty, qty])
            expected[sku] = str(qty - 1)
            w2.writerow([sku, "web-warehouse", qty - 1 if n % 3 else qty + 4])
    return expected


def _config(tmp_path: Path, db_url: str, skus: int, hub: str = "") -> tuple[Path, dict[str, str]]:
    expected = _write_feeds(tmp_path / "feeds", skus)
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        f"""version: 1
hub:
  database: "{db_url}"
  broker: "${{OMNIHUB_BROKER_URL}}"
  engine: celery
  job_lock_wait: 60s
{hub}connectors:
  wms: {{type: csv, path: feeds/wms.csv}}
  web: {{type: csv, path: feeds/web.csv}}
truth:
  stock: wms
jobs:
  stock:
    entity: stock
    targets: [web]
    mode: enforce
    schedule: "every 1h"
    rules:
      web: {{safety_stock: 1, locations: {{web-warehouse: [main-wh]}}}}
""",
        encoding="utf-8",
    )
    return path, expected


class Workers:
    """The worker subprocesses of one test, each the leader of its own process group."""

    def __init__(self, config: Path, broker: str, tmp_path: Path) -> None:
        self.config, self.broker, self.tmp_path = config, broker, tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "OMNIHUB_BROKER_URL": self.broker}
        log = (self.tmp_path / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--config", str(self.config), "worker", *args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its pool processes (its process group, led by its pid)."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # the pool processes are in the same group; wait until none is left
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def stop_all(self) -> None:
        """End every worker of the test and its pool processes (the broker database is flushed
        after, so a task they held is not left for another test)."""
        for proc in self.procs:
            self.kill(proc)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(broker: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        made.append(Workers(config, broker, tmp_path))
        return made[-1]

    yield make
    for w in made:
        w.stop_all()


def _enqueuer(config_path: Path, monkeypatch: pytest.MonkeyPatch, metrics: Any = None) -> Any:
    monkeypatch.setenv("OMNIHUB_BROKER_URL", BROKER)
    from hub.distributed.enqueue import Enqueuer

    return Enqueuer(load_config(config_path), poll_s=0.1, metrics=metrics)


def _web(config_path: Path) -> dict[str, str]:
    with (config_path.parent / "feeds" / "web.csv").open(newline="") as handle:
        return {row["sku"]: row["available"] for row in csv.DictReader(handle)}


def _runs(db_url: str) -> list[dict[str, Any]]:
    store = Store.open(db_url)
    try:
        return sorted(store.runs.recent(100), key=lambda r: r["id"])
    finally:
        store.close()


def _outbox(db_url: str) -> list[Any]:
    store = Store.open(db_url)
    try:
        with store.engine.connect() as conn:
            o = t.outbox.c
            return list(conn.execute(select(o.run_id, o.key, o.status)))
    finally:
        store.close()


def test_a_run_enqueued_by_the_daemon_side_is_run_by_a_worker(
    tmp_path: Path, pg_url: str, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, expected = _config(tmp_path, pg_url, 30)
    pool = workers(config)
    pool.start("--concurrency", "1")

    class Watched(HubMetrics):
        """The daemon's metrics, noting how many runs were waiting when this one's report came."""

        def task_done(self, job: str, seconds: float) -> None:
            self.waiting_then = self.tasks_waiting.labels(job=job)._value.get()
            super().task_done(job, seconds)

    metrics = Watched()
    report = asyncio.run(asyncio.wait_for(_enqueuer(config, monkeypatch, metrics).run_job("stock"), 30))
    assert report.status == "ok", pool.logs()
    assert metrics.waiting_then == 1 and metrics.tasks_waiting.labels(job="stock")._value.get() == 0
    # its steps: a pull per connector, one partition (30 SKUs), the settle
    assert 'omnihub_task_seconds_count{job="stock"} 4.0' in metrics.render().decode()
    assert report.pushed == {"web": 10} and report.pulled == {"wms": 30, "web": 30}
    assert report.run_id is not None
    assert _web(config) == expected
    (run,) = _runs(pg_url)
    assert run["id"] == report.run_id and run["status"] == "ok"
    assert run["owner"].endswith(f":{os.getpid()}")  # the scheduler's side records and coordinates the run
    logs = pool.logs()  # and the worker did the work, step by step
    for step, times in (("pull", 2), ("decide_partition", 1), ("settle_run", 1)):
        assert logs.count(f"Task omnihub.{step}[") == 2 * times, logs  # received, then succeeded


def test_two_workers_split_a_job_s_partitions(
    tmp_path: Path, pg_url: str, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, expected = _config(tmp_path, pg_url, 8_000, hub="  partitions: 4\n  partition_records: 1000\n")
    pool = workers(config)
    pool.start("--concurrency", "1")
    pool.start("--concurrency", "1")
    enqueuer = _enqueuer(config, monkeypatch)
    report = asyncio.run(asyncio.wait_for(enqueuer.run_job("stock"), 60))
    assert report.status == "ok", pool.logs()
    assert _web(config) == expected
    # the four partitions together decided every SKU once: each drifted one pushed exactly once
    drifted = sum(1 for n in range(8_000) if n % 3 == 0)
    assert report.pushed == {"web": drifted} and report.compared == 8_000
    done = [key for _, key, status in _outbox(pg_url) if status == "done"]
    assert len(done) == len(set(done)) == drifted
    # and both workers took partitions
    logs = [p.read_text(errors="replace") for p in sorted(tmp_path.glob("worker-*.log"))]
    taken = [log.count("Task omnihub.decide_partition[") // 2 for log in logs]
    assert sum(taken) == 4 and all(taken), taken
    # the next run finds nothing left and no mismatch open
    again = asyncio.run(asyncio.wait_for(enqueuer.run_job("stock"), 60))
    assert again.status == "ok" and again.pushed == {} and again.mismatches == 0


def test_two_schedulers_firing_one_job_together_make_one_run(
    tmp_path: Path, pg_url: str, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """High availability: two schedulers (each its own store and connections, as two hosts) fire
    the same job at once. One takes the job's lock and coordinates the run; the other waits, then
    finds a run that started after it fired and reports that run instead of making another."""
    config, expected = _config(tmp_path, pg_url, 3000)
    pool = workers(config)
    pool.start("--concurrency", "2")
    first, second = _enqueuer(config, monkeypatch), _enqueuer(config, monkeypatch)
    first.store, second.store  # noqa: B018  (each opens its own store now)
    assert first.store is not second.store

    async def both() -> list[Any]:
        return await asyncio.wait_for(asyncio.gather(first.run_job("stock"), second.run_job("stock")), 40)

    reports = asyncio.run(both())
    assert [r.status for r in reports] == ["ok", "ok"], pool.logs()
    (run,) = _runs(pg_url)  # one run, never two
    assert [r.run_id for r in reports] == [run["id"], run["id"]]
    assert [sum(r.pushed.values()) for r in reports] == [1000, 1000]  # one run's report, told by both
    assert _web(config) == expected
    # fired for a later tick, a scheduler makes a run of its own (nothing left to do)
    time.sleep(SAME_TICK.total_seconds())
    later = asyncio.run(asyncio.wait_for(second.run_job("stock"), 40))
    assert later.status == "ok" and later.run_id != run["id"] and later.pushed == {}
    runs = _runs(pg_url)
    assert len(runs) == 2 and runs[0]["finished_at"] <= runs[1]["started_at"]
    first.store.close()
    second.store.close()


def test_a_worker_killed_mid_push_has_its_step_finished_by_another_with_nothing_lost_or_doubled(
    tmp_path: Path, pg_url: str, workers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, expected = _config(tmp_path, pg_url, 30_000)
    pool = workers(config)
    first = pool.start("--concurrency", "1")
    enqueuer = _enqueuer(config, monkeypatch)
    store = Store.open(pg_url)

    def journaled() -> bool:
        with store.engine.connect() as conn:
            return conn.execute(select(t.outbox.c.id).limit(1)).first() is not None

    async def scenario() -> Any:
        waiting = asyncio.create_task(enqueuer.run_job("stock"))
        deadline = time.monotonic() + 60
        while not journaled():  # the partition journaled its changes: the push is under way
            assert time.monotonic() < deadline and not waiting.done(), pool.logs()
            await asyncio.sleep(0.005)
        pool.kill(first)
        # longer than any one step here (well under a second), or a step would be given out twice
        pool.start("--concurrency", "1", "--redeliver-after", "4")
        return await asyncio.wait_for(waiting, 60)

    try:
        report = asyncio.run(scenario())
    finally:
        store.close()
    assert report.status == "ok", pool.logs()
    runs = _runs(pg_url)
    assert len(runs) == 2, runs
    died, again = runs
    # the killed push's run says what happened, and the run after it decided from a fresh pull
    assert died["status"] == "failed" and "worker died" in (died["error"] or ""), died
    assert again["id"] == report.run_id and again["status"] == "ok"
    assert _web(config) == expected  # nothing lost
    outbox = _outbox(pg_url)
    done = [key for run_id, key, status in outbox if status == "done"]
    assert len(done) == len(set(done))  # nothing sent twice
    assert not [row for row in outbox if row[2] in ("pending", "sent")]
    assert 0 < len(done) <= 10_000  # every drifted SKU landed once, from one run or the other
