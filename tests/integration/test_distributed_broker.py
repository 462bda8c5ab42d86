"""A broker restart or outage loses no scheduled run: omnihub runs published with
``hub.distributed.publish`` against a private ``redis-server`` that the tests stop and start.

The machine's own Redis is never touched: each test starts its own server on a free port, keeping
its data in the test's folder (AOF, every write synced), in its own process group, and kills it by
pid at the end. The workers are ``omnihub worker`` subprocesses, also in their own groups. A
missing ``redis-server`` fails these tests, never skips them.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from hub.config.loader import load_config
from hub.distributed.app import QUEUE, TASK, celery_app
from hub.distributed.publish import BrokerUnreachable, publish, wait_ready
from tests.conftest import POSTGRES_URL
from tests.integration.conftest import postgres_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: The private broker's password: it must show in no message and no log record.
PASSWORD = "brokerpw-SECRET-0123456789"
JOB = "stock"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the process group led by ``proc`` and wait for every member to be gone."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=15)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


class Broker:
    """A private redis-server keeping its data in ``folder`` (AOF, synced on every write), which a
    test stops and starts again on the same port and folder, as a broker restart does."""

    def __init__(self, folder: Path) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is needed for the broker restart tests (Debian: redis-server)"
        self.server, self.folder, self.port = server, folder, _free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> float:
        """Start the server and wait until it answers; when it did (``time.monotonic()``)."""
        assert self.proc is None
        self.starts += 1
        log = (self.folder / f"redis-{self.starts}.log").open("wb")
        # its data on disk and every write synced, as a broker that must lose nothing is run
        durable = ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.proc = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", PASSWORD, *durable],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return time.monotonic()
            except redis.exceptions.ConnectionError:
                assert self.proc.poll() is None, self.logs()
                assert time.monotonic() < deadline, "the private redis-server did not answer within 10 s"
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        """SIGTERM, as a service manager stops Redis: it closes its AOF and exits."""
        assert self.proc is not None
        _stop(self.proc, signal.SIGTERM)
        assert self.proc.returncode == 0, self.logs()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGKILL)
            self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=PASSWORD, socket_timeout=2)

    def queued(self) -> int:
        """Tasks waiting in omnihub's queue."""
        client = self.client()
        try:
            return int(client.llen(QUEUE))
        finally:
            client.close()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("redis-*.log")))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    made = Broker(tmp_path / "broker")
    yield made
    made.kill()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Distributed runs need PostgreSQL: without a server these tests fail, never skip."""
    with postgres_schema(POSTGRES_URL, "omnihub_broker") as url:
        yield url


def _config(tmp_path: Path, db_url: str) -> tuple[Path, dict[str, str]]:
    """A distributed config over two CSV feeds: a WMS truth of 30 SKUs and a web feed where every
    third one drifted; the web's expected quantities (safety stock 1) by SKU."""
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    expected = {}
    with (feeds / "wms.csv").open("w", newline="") as wms, (feeds / "web.csv").open("w", newline="") as web:
        w1, w2 = csv.writer(wms), csv.writer(web)
        w1.writerow(["sku", "location", "available", "on_hand"])
        w2.writerow(["sku", "location", "available"])
        for n in range(30):
            sku, qty = f"SKU-{n:04d}", 5 + n % 7
            w1.writerow([sku, "main-wh", qty, qty])
            w2.writerow([sku, "web-warehouse", qty - 1 if n % 3 else qty + 4])
            expected[sku] = str(qty - 1)
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        f"""version: 1
hub:
  database: "{db_url}"
  broker: "${{OMNIHUB_BROKER_URL}}"
  engine: celery
  job_lock_wait: 60s
connectors:
  wms: {{type: csv, path: feeds/wms.csv}}
  web: {{type: csv, path: feeds/web.csv}}
truth:
  stock: wms
jobs:
  {JOB}:
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


def _web(config: Path) -> dict[str, str]:
    with (config.parent / "feeds" / "web.csv").open(newline="") as handle:
        return {row["sku"]: row["available"] for row in csv.DictReader(handle)}


class Worker:
    """One ``omnihub worker`` subprocess against the private broker, leading its own group."""

    def __init__(self, config: Path, broker: Broker, tmp_path: Path) -> None:
        self.config, self.broker, self.log = config, broker, tmp_path / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "OMNIHUB_BROKER_URL": self.broker.url}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--config", str(self.config), "worker", "--concurrency", "1"],
            env=env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGKILL)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def worker(tmp_path: Path, broker: Broker) -> Iterator[Any]:
    made: list[Worker] = []

    def make(config: Path) -> Worker:
        made.append(Worker(config, broker, tmp_path))
        return made[-1]

    yield make
    for w in made:
        w.stop()


def _app(config: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The scheduler's Celery app for ``config``, as ``omnihub run --engine celery`` builds it."""
    monkeypatch.setenv("OMNIHUB_BROKER_URL", broker.url)
    return celery_app(load_config(config))


def _report(result: Any, worker: Worker, broker: Broker) -> dict[str, Any]:
    """The run's report, as the worker answered it."""
    assert result.successful(), f"{result.result!r}\n{worker.logs()}\n{broker.logs()}"
    assert PASSWORD not in worker.logs()  # the worker named its broker (reconnecting too) masked
    value: dict[str, Any] = result.result
    report: dict[str, Any] = value["report"]
    return report


def _no_password(caplog: pytest.LogCaptureFixture) -> None:
    leaked = [r.getMessage() for r in caplog.records if PASSWORD in r.getMessage()]
    assert not leaked, leaked[0]


def test_a_run_published_before_the_broker_is_up_is_run_once_it_comes_up(
    tmp_path: Path,
    pg_url: str,
    broker: Broker,
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, expected = _config(tmp_path, pg_url)
    app = _app(config, broker, monkeypatch)
    caplog.set_level(logging.WARNING, logger="omnihub.scheduler")
    config_path = str(config.resolve())

    async def scenario() -> tuple[Any, float, float]:
        sending = asyncio.create_task(
            publish(app, TASK, [config_path, JOB], queue=QUEUE, give_up_after_s=30, job=JOB, backoff_max_s=1)
        )
        await asyncio.sleep(1.5)
        assert not sending.done()  # still trying: the broker is not there yet
        up = await asyncio.to_thread(broker.start)
        result = await asyncio.wait_for(sending, 15)
        return result, up, time.monotonic()

    result, up, published = asyncio.run(scenario())
    assert published - up < 2.0  # backoff capped at 1 s: used within a second of coming up
    tries = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(tries) >= 2 and all(f"job {JOB}" in t and f"127.0.0.1:{broker.port}" in t for t in tries), tries
    _no_password(caplog)
    assert broker.queued() == 1

    runner = worker(config)
    runner.start()
    asyncio.run(asyncio.wait_for(wait_ready(result, poll_s=0.1, give_up_after_s=10, job=JOB), 30))
    report = _report(result, runner, broker)
    assert report["status"] == "ok" and report["pushed"] == {"web": 10}, report
    assert _web(config) == expected
    assert broker.queued() == 0


def test_a_queued_run_survives_a_broker_restart(
    tmp_path: Path,
    pg_url: str,
    broker: Broker,
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, expected = _config(tmp_path, pg_url)
    broker.start()
    app = _app(config, broker, monkeypatch)
    caplog.set_level(logging.INFO, logger="omnihub.scheduler")

    async def scenario() -> Any:
        result = await publish(app, TASK, [str(config.resolve()), JOB], queue=QUEUE, give_up_after_s=10, job=JOB)
        assert broker.queued() == 1  # no worker yet: the run waits on the broker
        waiting = asyncio.create_task(wait_ready(result, poll_s=0.1, give_up_after_s=20, job=JOB))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(broker.stop)  # the broker restarts: the scheduler keeps waiting
        await asyncio.sleep(1.0)
        assert not waiting.done()
        await asyncio.to_thread(broker.start)
        assert broker.queued() == 1  # the queued run was kept (AOF) across the restart
        runner = worker(config)
        runner.start()
        await asyncio.wait_for(waiting, 30)
        return result, runner

    result, runner = asyncio.run(scenario())
    report = _report(result, runner, broker)
    assert report["status"] == "ok" and report["pushed"] == {"web": 10}, report
    assert _web(config) == expected
    said = [r.getMessage() for r in caplog.records]
    assert any("cannot be reached while waiting for task" in m for m in said), said
    assert any("answers again" in m for m in said), said
    _no_password(caplog)


def test_a_run_published_while_the_broker_restarts_is_run_by_the_worker_that_was_up(
    tmp_path: Path,
    pg_url: str,
    broker: Broker,
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual restart: the worker and the scheduler stay up, the broker goes away for a few
    seconds and a scheduled run falls in that gap. The worker reconnects by itself (Celery's
    ``broker_connection_retry``) and runs it; how long after the broker is back is printed (-s)."""
    config, expected = _config(tmp_path, pg_url)
    broker.start()
    app = _app(config, broker, monkeypatch)
    runner = worker(config)
    runner.start()
    deadline = time.monotonic() + 20
    while "ready." not in runner.logs():  # Celery's worker says "celery@host ready." once consuming
        assert time.monotonic() < deadline and runner.proc is not None and runner.proc.poll() is None, runner.logs()
        time.sleep(0.1)

    async def scenario() -> tuple[Any, float, float, float]:
        broker.stop()
        sending = asyncio.create_task(
            publish(app, TASK, [str(config.resolve()), JOB], queue=QUEUE, give_up_after_s=30, job=JOB)
        )
        await asyncio.sleep(3.0)
        assert not sending.done()
        up = await asyncio.to_thread(broker.start)
        result = await asyncio.wait_for(sending, 15)
        published = time.monotonic()
        await asyncio.wait_for(wait_ready(result, poll_s=0.1, give_up_after_s=10, job=JOB), 40)
        return result, up, published, time.monotonic()

    result, up, published, ready = asyncio.run(scenario())
    report = _report(result, runner, broker)
    assert report["status"] == "ok" and report["pushed"] == {"web": 10}, report
    assert _web(config) == expected
    delivered = ready - up - report["duration_s"]
    print(
        f"\nbroker back -> run enqueued {published - up:.2f} s; -> report back {ready - up:.2f} s "
        f"(the run itself {report['duration_s']:.2f} s, so delivered {delivered:.2f} s after the broker was back)"
    )
    # the worker's reconnect waits grow 2, 4, 6... s: after a 3 s outage it is back within ~10 s
    assert ready - up < 15


def test_a_broker_that_stays_down_fails_the_publish_after_the_bound_without_the_password(
    tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config, _ = _config(tmp_path, "postgresql+psycopg://omnihub@127.0.0.1:5432/unused")
    app = _app(config, broker, monkeypatch)  # the private broker is never started
    caplog.set_level(logging.WARNING, logger="omnihub.scheduler")
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as raised:
        asyncio.run(publish(app, TASK, [str(config), JOB], queue=QUEUE, give_up_after_s=2, job=JOB))
    took = time.monotonic() - started
    assert 2.0 <= took < 6.0, took
    message = str(raised.value)
    assert PASSWORD not in message
    assert f"job {JOB}" in message and f"redis://:***@127.0.0.1:{broker.port}/0" in message, message
    assert "could not be reached" in message and "hub.broker" in message, message
    assert len([r for r in caplog.records if "cannot be reached" in r.getMessage()]) >= 2
    _no_password(caplog)


def test_a_split_run_the_scheduler_fires_while_the_broker_is_down_is_made_once_it_comes_up(
    tmp_path: Path, pg_url: str, broker: Broker, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's own path (``Enqueuer.run_job``: every step of the run sent with ``publish``
    and awaited with ``wait_ready``): the schedule fires while the broker is down, the broker
    comes up, and the run is made, its steps by the worker, nothing lost."""
    from hub.distributed.enqueue import Enqueuer

    config, expected = _config(tmp_path, pg_url)
    _app(config, broker, monkeypatch)  # the scheduler's environment: the private broker's URL
    enqueuer = Enqueuer(load_config(config), poll_s=0.1)
    runner = worker(config)
    runner.start()  # it waits for the broker too (Celery retries its first connection)

    async def scenario() -> Any:
        run = asyncio.create_task(enqueuer.run_job(JOB))
        await asyncio.sleep(1.5)
        assert not run.done()  # still trying: the broker is not there yet
        await asyncio.to_thread(broker.start)
        return await asyncio.wait_for(run, 60)

    try:
        report = asyncio.run(scenario())
    finally:
        enqueuer.store.close()
    assert report.status == "ok" and report.pushed == {"web": 10}, runner.logs()
    assert _web(config) == expected
    assert "Task omnihub.decide_partition[" in runner.logs()  # the split run's steps, on the worker
