"""``run_daemon`` as a real process: it answers /healthz and /metrics on 127.0.0.1, logs JSON lines,
and on SIGTERM or SIGINT stops within 10 s with exit code 0, letting a short run finish and
cancelling one that outlasts ``stop_timeout_s``.

The config comes from ``hub.config.loader.load_config`` on a YAML with two ``csv`` connectors; the jobs'
work is a stand-in (``run_job`` sleeps and writes marks to a file), since the scheduler is what is
tested here, not the engine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path

    from hub.config.loader import load_config
    from hub.sync.report import JobReport
    from hub.ops.lifecycle import run_daemon

    folder = Path(sys.argv[1])
    marks = folder / "marks.txt"
    sleep_s = float(os.environ["JOB_SLEEP_S"])

    def mark(text):
        with marks.open("a") as f:
            f.write(text + "\\n")

    async def run_job(name):
        mark("start " + name)
        await asyncio.sleep(sleep_s)
        mark("end " + name)
        return JobReport(name, "stock", pulled={"wms": 2}, mismatches=1)

    config = load_config(folder / "omnihub.yaml")
    code = asyncio.run(
        run_daemon(
            config, run_job, http_port=int(os.environ["HTTP_PORT"]), log_format="json",
            stop_timeout_s=float(os.environ["STOP_TIMEOUT_S"]),
        )
    )
    mark(f"exit {code}")
    sys.exit(code)
    """
)

CONFIG = textwrap.dedent(
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DaemonProcess:
    def __init__(self, folder: Path, *, job_sleep_s: float, stop_timeout_s: float) -> None:
        self.folder = folder
        self.port = free_port()
        for name in ("wms.csv", "shop.csv"):
            (folder / name).write_text("sku,location,on_hand,available\nA-1,main,5,5\n")
        (folder / "omnihub.yaml").write_text(CONFIG)
        (folder / "daemon.py").write_text(SCRIPT)
        env = {
            **os.environ,
            "HTTP_PORT": str(self.port),
            "JOB_SLEEP_S": str(job_sleep_s),
            "STOP_TIMEOUT_S": str(stop_timeout_s),
        }
        self.stderr_path = folder / "stderr.log"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(folder / "daemon.py"), str(folder)],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def marks(self) -> list[str]:
        path = self.folder / "marks.txt"
        return path.read_text().splitlines() if path.exists() else []

    def wait_until(self, condition: object, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited early ({self.process.returncode}): {self.stderr()[-2000:]}")
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {within}s waiting for {what}: {self.stderr()[-2000:]}")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop_and_time(self, sig: signal.Signals) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=15)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # only the process this test started
            self.process.wait(timeout=5)
        self._stderr.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[object]:
    started: list[DaemonProcess] = []

    def start(**kwargs: float) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.close()


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_sigterm_cancels_a_run_that_outlasts_the_grace_period(start_daemon: object) -> None:
    daemon: DaemonProcess = start_daemon(job_sleep_s=60, stop_timeout_s=2)  # type: ignore[operator]
    daemon.wait_until(daemon.healthy, 30, "/healthz")
    daemon.wait_until(lambda: "start stock" in daemon.marks(), 15, "a run in flight")

    health = httpx.get(daemon.url + "/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["scheduler_running"] is True
    assert health["jobs"]["stock"]["running"] is True and health["jobs"]["stock"]["schedule"] == "every 1s"
    metrics = httpx.get(daemon.url + "/metrics", timeout=5)
    assert metrics.status_code == 200 and "omnihub_job_runs_total" in metrics.text

    code, elapsed = daemon.stop_and_time(signal.SIGTERM)
    assert code == 0
    assert elapsed < 10
    assert daemon.marks() == ["start stock", "exit 0"]  # one run only, cancelled, never finished
    lines = json_lines(daemon.stderr())
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    messages = [str(line["message"]) for line in lines]
    assert "received SIGTERM" in messages
    assert any(m.startswith("job stock cancelled at shutdown") for m in messages)
    assert any(line.get("job") == "stock" and line["level"] == "WARNING" for line in lines)


def test_sigint_lets_a_short_run_finish_and_reports_it(start_daemon: object) -> None:
    daemon: DaemonProcess = start_daemon(job_sleep_s=1.5, stop_timeout_s=8)  # type: ignore[operator]
    daemon.wait_until(daemon.healthy, 30, "/healthz")
    daemon.wait_until(lambda: "end stock" in daemon.marks(), 15, "a finished run")

    health = httpx.get(daemon.url + "/healthz", timeout=5).json()
    assert health["jobs"]["stock"]["last_run"]["status"] == "ok"
    metrics = httpx.get(daemon.url + "/metrics", timeout=5).text
    assert 'omnihub_job_runs_total{job="stock",status="ok"}' in metrics
    assert 'omnihub_records_pulled_total{connector="wms",job="stock"}' in metrics

    daemon.wait_until(lambda: daemon.marks().count("start stock") == 2, 15, "a second run in flight")
    code, elapsed = daemon.stop_and_time(signal.SIGINT)
    assert code == 0
    assert elapsed < 10
    marks = daemon.marks()
    assert marks[-1] == "exit 0"
    assert marks.count("start stock") == marks.count("end stock") == 2  # the run in flight finished
    assert not daemon.healthy()
