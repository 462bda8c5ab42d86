"""Many stores from one deployment: ``omnihub run --stores DIR`` and ``omnihub worker --stores DIR``
as real processes, each store a config file of its own with its own state and secrets.

A noisy store (its WMS answering every request with 429 and ``Retry-After``, or its feed gone)
must never slow another: the calm store's runs complete, on time and correct, while the noisy
one's failure is reported for it alone (``/healthz``, ``/metrics``, the logs). With the
distributed engine, each store's runs go to its own queue, and a worker that consumes them all
takes from each in turn: a store with many runs queued does not make another's wait behind them
(checked against a control where both stores share one queue, which does).

Processes are started in their own process group and ended by pid (SIGKILL for the group at
the end, whatever happened). Redis: database ``REDIS_DB`` only, flushed before and after.
PostgreSQL: schemas of these tests, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import celery  # noqa: F401  (the distributed extra is in the test extra: missing, these tests fail, never skip)
import httpx
import pytest
import redis

from hub.config.stores import load_store_config, store_queue
from hub.sandbox.kit import Fault, serve
from tests.conftest import POSTGRES_URL
from tests.integration.conftest import postgres_schema

pytestmark = pytest.mark.slow

REDIS_DB = 12
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
ROOT = Path(__file__).resolve().parents[2]
#: The noisy store's WMS key: only its env file holds it.
WMS_KEY = "wms_SECRET_0123456789"

STORE = """version: 1
hub:
  database: "{database}"
{hub_extra}connectors:
{connectors}
jobs:
{jobs}
"""
CELERY = '  broker: "${OMNIHUB_BROKER_URL}"\n  engine: celery\n  job_lock_wait: 60s\n'


def write_feeds(folder: Path, skus: int) -> dict[str, str]:
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


def web_feed(folder: Path) -> dict[str, str]:
    with (folder / "web.csv").open(newline="") as handle:
        return {row["sku"]: row["available"] for row in csv.DictReader(handle)}


def write_store(
    directory: Path,
    name: str,
    database: str,
    *,
    jobs: int = 1,
    skus: int = 30,
    schedule: str = "every 1h",
    wms: str | None = None,
    distributed: bool = False,
) -> list[dict[str, str]]:
    """Store ``name``'s config in ``directory``, with ``jobs`` stock jobs (``stock0``...), each
    reconciling a CSV web feed with its own WMS (a CSV feed, or ``wms`` as the connector's
    settings); the expected web feed of each job."""
    connectors, job_lines, expected = [], [], []
    for i in range(jobs):
        feeds = f"{name}-feeds/{i}"
        expected.append(write_feeds(directory / feeds, skus))
        connectors.append(f"  wms{i}: {wms or '{type: csv, path: ' + feeds + '/wms.csv}'}")
        connectors.append(f"  web{i}: {{type: csv, path: {feeds}/web.csv}}")
        job_lines.append(
            f"  stock{i}: {{entity: stock, source: wms{i}, targets: [web{i}], mode: enforce, "
            f'schedule: "{schedule}", rules: {{web{i}: {{safety_stock: 1, locations: {{web-warehouse: [main-wh]}}}}}}}}'
        )
    text = STORE.format(
        database=database,
        hub_extra=CELERY if distributed else "",
        connectors="\n".join(connectors),
        jobs="\n".join(job_lines),
    )
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The omnihub processes of one test, each the leader of its own process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = self.folder / f"process-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--log-format", "json", *args],
            env={**os.environ, **(env or {})},
            cwd=self.folder,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append((proc, log))
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.procs if p is proc).read_text(errors="replace")

    def records(self, proc: subprocess.Popen[bytes]) -> list[dict[str, Any]]:
        """The JSON log lines of ``proc`` (Celery's own lines, if any, are not JSON: left out)."""
        found = []
        for line in self.output(proc).splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return [r for r in found if isinstance(r, dict)]

    def stop(self, proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
        """Ask ``proc`` to stop; its exit code (its group is killed if it does not stop in 15 s)."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=15)
        finally:
            self.kill(proc)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL what is left of ``proc``'s group (a worker's pool processes), and wait for it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def kill_all(self) -> None:
        for proc, _ in self.procs:
            self.kill(proc)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.kill_all()


@pytest.fixture
def broker() -> Iterator[str]:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield BROKER
    client.flushdb()
    client.close()


def wait_until(condition: Callable[[], Any], within: float, what: str, proc: subprocess.Popen[bytes] | None) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited early ({proc.returncode}) waiting for {what}")
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


def health(port: int) -> dict[str, Any] | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return None


def at(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


def test_a_throttled_store_slows_no_other_store_served_by_the_same_process(
    tmp_path: Path, processes: Processes
) -> None:
    """In process: the noisy store's WMS answers 429 with Retry-After: 1 to everything, so each of
    its runs spends seconds waiting and then fails; the calm store's runs, every second, go on."""
    stores = tmp_path / "stores"
    stores.mkdir()
    with serve(_wms_sandbox()) as wms:
        wms.app.state.faults.add(Fault(status=429, headers={"Retry-After": "1"}, times=None))
        noisy = "{type: rest_wms, base_url: " + wms.url + ', api_key: "${WMS_KEY}", max_attempts: 3}'
        write_store(stores, "noisy", f"sqlite:///{tmp_path / 'noisy.db'}", schedule="every 1s", wms=noisy)
        (stores / "noisy.env").write_text(f"WMS_KEY={WMS_KEY}\n", encoding="utf-8")
        (expected,) = write_store(stores, "calm", f"sqlite:///{tmp_path / 'calm.db'}", schedule="every 1s")
        port = free_port()
        daemon = processes.start("run", "--stores", str(stores), "--http-port", str(port), "--now")
        wait_until(lambda: health(port), 30, "/healthz", daemon)
        # the noisy store's first run is well into its throttling: 2 retries after 1 s each
        wait_until(lambda: wms.app.state.faults.injected["status"] >= 2, 15, "throttled requests", daemon)
        body = wait_until(
            lambda: (h := health(port)) and h["stores"]["noisy"]["status"] == "failing" and h,
            15,
            "noisy failing",
            daemon,
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        time.sleep(1.5)  # more of both
        code = processes.stop(daemon)
        throttled = wms.app.state.faults.injected["status"]
    assert code == 0
    records = processes.records(daemon)
    calm = [at(r) for r in records if r.get("store") == "calm" and r["message"].startswith("job calm/stock0 finished")]
    noisy_runs = [r for r in records if r.get("store") == "noisy" and r["message"].startswith("job noisy/stock0")]
    assert len(calm) >= 4, processes.output(daemon)[-3000:]
    assert max(b - a for a, b in itertools.pairwise(calm)) < 1.7  # every second, while noisy waits
    assert noisy_runs and all(r["level"] == "ERROR" for r in noisy_runs)
    assert len(noisy_runs) < len(calm)  # each noisy run took seconds of Retry-After
    assert throttled >= 2
    assert body["status"] == "failing"
    assert body["stores"]["calm"]["status"] == "ok"
    assert body["stores"]["calm"]["jobs"]["stock0"]["last_run"]["status"] == "ok"
    noisy_run = body["stores"]["noisy"]["jobs"]["stock0"]["last_run"]
    assert noisy_run["status"] == "failed" and "429" in " ".join(noisy_run["errors"])
    assert 'omnihub_job_runs_total{job="stock0",status="ok",store="calm"}' in metrics
    assert 'omnihub_job_runs_total{job="stock0",status="failed",store="noisy"}' in metrics
    assert 'status="failed",store="calm"' not in metrics
    assert 'omnihub_throttled_total{connector="wms0",store="noisy"}' in metrics
    assert 'store="calm"' not in "".join(line for line in metrics.splitlines() if "throttled" in line)
    assert web_feed(stores / "calm-feeds" / "0") == expected  # the calm store's runs did their work
    assert WMS_KEY not in processes.output(daemon)  # the store's secret, from its env file, never logged
    assert "WMS_KEY" not in os.environ


def _wms_sandbox() -> Any:
    from connectors.rest_wms.sandbox import create_app

    return create_app(api_key=WMS_KEY)


@pytest.mark.postgres
def test_with_celery_a_failing_store_is_reported_alone_and_the_other_runs_on_time(
    tmp_path: Path, processes: Processes, broker: str
) -> None:
    """One scheduler and one worker serve two stores, each on its own PostgreSQL schema; the
    broken store's WMS feed is gone, so each of its runs fails on the worker."""
    stores = tmp_path / "stores"
    stores.mkdir()
    env = {"OMNIHUB_BROKER_URL": broker}
    with (
        postgres_schema(POSTGRES_URL, "omnihub_stores") as calm_db,
        postgres_schema(POSTGRES_URL, "omnihub_stores") as broken_db,
    ):
        (expected,) = write_store(stores, "calm", calm_db, schedule="every 1s", distributed=True)
        write_store(stores, "broken", broken_db, schedule="every 1s", distributed=True)
        (stores / "broken-feeds" / "0" / "wms.csv").unlink()
        port = free_port()
        worker = processes.start("worker", "--stores", str(stores), "--concurrency", "2", env=env)
        daemon = processes.start("run", "--stores", str(stores), "--http-port", str(port), "--now", env=env)
        body = wait_until(
            lambda: (
                (h := health(port))
                and h["stores"]["broken"]["status"] == "failing"
                and h["stores"]["calm"]["jobs"]["stock0"]["last_run"]
                and h
            ),
            40,
            "a run of each store",
            daemon,
        )
        time.sleep(3)  # a few more runs of both
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        final = health(port)
        assert processes.stop(daemon) == 0
        processes.stop(worker)
        runs = {name: _runs(url) for name, url in (("calm", calm_db), ("broken", broken_db))}
    records = processes.records(daemon)
    calm = [at(r) for r in records if r["message"].startswith("job calm/stock0 finished")]
    assert body["stores"]["calm"]["status"] == "ok", body
    assert final is not None and final["stores"]["calm"]["status"] == "ok", final
    broken_run = body["stores"]["broken"]["jobs"]["stock0"]["last_run"]
    assert broken_run["status"] == "failed" and "wms.csv not found" in " ".join(broken_run["errors"]), broken_run
    assert len(calm) >= 3, processes.output(daemon)[-3000:]
    assert max(b - a for a, b in itertools.pairwise(calm)) < 2.0  # every second, on time
    assert 'omnihub_job_runs_total{job="stock0",status="failed",store="broken"}' in metrics
    assert 'omnihub_job_runs_total{job="stock0",status="ok",store="calm"}' in metrics
    assert 'status="failed",store="calm"' not in metrics
    assert 'omnihub_task_seconds_count{job="stock0",store="calm"}' in metrics
    # each store's runs are in its own schema, none in the other's
    assert runs["calm"] and {r["status"] for r in runs["calm"]} <= {"ok", "running"}
    assert runs["broken"] and {r["status"] for r in runs["broken"] if r["status"] != "running"} == {"failed"}
    assert web_feed(stores / "calm-feeds" / "0") == expected


def _runs(db_url: str) -> list[dict[str, Any]]:
    from hub.state.store import Store

    store = Store.open(db_url)
    try:
        return list(store.runs.recent(1000))
    finally:
        store.close()


@pytest.mark.postgres
def test_a_worker_serving_every_store_takes_from_each_stores_queue_in_turn(
    tmp_path: Path, processes: Processes, broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store ``busy`` enqueues a run of each of its jobs at once; a moment later store ``quick``
    enqueues a run of its one small job. One worker process serves both. On their own queues,
    quick's run ends long before busy's last; as a control, the same two stores (fresh copies)
    on one shared queue: quick's run waits behind busy's work."""
    monkeypatch.setenv("OMNIHUB_BROKER_URL", broker)
    rounds = {}
    with contextlib.ExitStack() as schemas:
        for round_name in ("own", "shared"):
            directory = tmp_path / round_name
            directory.mkdir()
            for store, jobs, skus in (("busy", BUSY_JOBS, BUSY_SKUS), ("quick", 1, 30)):
                url = schemas.enter_context(postgres_schema(POSTGRES_URL, "omnihub_stores"))
                write_store(directory, store, url, jobs=jobs, skus=skus, distributed=True)
            rounds[round_name] = directory
        worker = processes.start(
            "worker", "--stores", str(rounds["own"]), "--concurrency", "1", env={"OMNIHUB_BROKER_URL": broker}
        )
        # timed from when the worker takes tasks, not from its start
        wait_until(lambda: "ready." in processes.output(worker), 30, "the worker", worker)
        own = asyncio.run(_flood(rounds["own"], store_queue("busy"), store_queue("quick")))
        shared = asyncio.run(_flood(rounds["shared"], "omnihub", "omnihub"))
        processes.stop(worker)
    order = _taken(processes.records(worker))
    taken = {name: f"{_busy_before_quick_ends(o)}/{o.count('busy')}" for name, o in order.items()}
    print(f"stores fairness: own queues {own}, one shared queue {shared}; busy tasks before quick's last: {taken}")
    for outcome in (own, shared):
        assert outcome["statuses"] == ["ok"] * (BUSY_JOBS + 1), processes.output(worker)[-3000:]
    own_order, shared_order = order["own"], order["shared"]
    busy_tasks = own_order.count("busy")
    assert busy_tasks == shared_order.count("busy") >= BUSY_JOBS
    # own queues: quick's tasks are taken in turn with busy's, its last one before half of busy's
    # (measured: 4 to 6 of 24, each of quick's 4 steps waiting for about one of busy's)
    assert _busy_before_quick_ends(own_order) < busy_tasks / 2, own_order
    # the control: on one shared queue, quick's last task waits behind (nearly) all of busy's
    assert _busy_before_quick_ends(shared_order) > 3 * busy_tasks / 4, shared_order


def _busy_before_quick_ends(order: list[str]) -> int:
    """How many of busy's tasks the worker took before quick's last one."""
    last = len(order) - 1 - order[::-1].index("quick")
    return order[:last].count("busy")


def _taken(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per round (the folder of the stores' files), the store of each task in the order the
    worker received them, read from the worker's log (each task carries its store's file)."""
    order: dict[str, list[str]] = {"own": [], "shared": []}
    for record in records:
        if not record["message"].endswith(" received"):
            continue
        args = json.dumps(record.get("data", {}).get("args"))
        for round_name, tasks in order.items():
            for store in ("busy", "quick"):
                if f"/{round_name}/{store}.yaml" in args:
                    tasks.append(store)
    return order


#: Store busy's jobs, and the rows of each one's feeds: enough that each of its steps takes a while.
BUSY_JOBS, BUSY_SKUS = 6, 1000


async def _flood(directory: Path, busy_queue: str, quick_queue: str) -> dict[str, Any]:
    """Enqueue a run of every busy job, then quick's one; seconds until quick's report (from its
    enqueueing) and until busy's last (from the start)."""
    from hub.distributed.enqueue import Enqueuer

    busy, quick = load_store_config(directory / "busy.yaml"), load_store_config(directory / "quick.yaml")
    started = time.monotonic()
    done: dict[str, float] = {}

    async def run(enqueuer: Enqueuer, job: str, store: str) -> str:
        enqueued = time.monotonic()
        report = await enqueuer.run_job(job)
        # busy: from the flood's start to its last report; quick: from its enqueueing to its report
        done[store] = round(time.monotonic() - (started if store == "busy" else enqueued), 2)
        return report.status

    # polled often, so that what is measured is the queue's order, not the enqueuer's pauses
    busy_enqueuer = Enqueuer(busy, queue=busy_queue, poll_s=0.05)
    quick_enqueuer = Enqueuer(quick, queue=quick_queue, poll_s=0.05)
    flood = [asyncio.create_task(run(busy_enqueuer, job, "busy")) for job in busy.jobs]
    await asyncio.sleep(0.3)
    statuses = await asyncio.wait_for(asyncio.gather(*flood, run(quick_enqueuer, "stock0", "quick")), 120)
    return {"statuses": list(statuses), **done}
