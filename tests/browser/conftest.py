"""A daemon with a store holding runs, mismatches and quarantined records, served on loopback, and
the system's Chromium driven by Playwright.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), never one Playwright
downloads: a missing browser fails these tests, it does not skip them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from hub.config.loader import LoadedConfig, load_config
from hub.ops.lifecycle import Daemon
from hub.state.store import Store
from hub.sync.report import FailedChange, JobReport

CHROMIUM = os.environ.get("OMNIHUB_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_TOKEN = "console-admin-token-0123456789"

CONFIG = """
version: 1
hub: {{database: "sqlite:///{db}", timezone: Europe/Rome, admin_token: "${{OMNIHUB_ADMIN_TOKEN}}"}}
connectors:
  wms: {{type: csv, path: wms.csv}}
  shop: {{type: csv, path: shop.csv}}
  web: {{type: csv, path: web.csv}}
truth: {{stock: wms, prices: wms}}
jobs:
  stock: {{entity: stock, targets: [shop, web], mode: enforce, schedule: "every 1h"}}
  prices: {{entity: prices, targets: [shop], schedule: "0 6 * * *"}}
"""


def make_config(tmp_path: Path) -> LoadedConfig:
    path = tmp_path / "omnihub.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "state.db"))
    return load_config(path, env={"OMNIHUB_ADMIN_TOKEN": ADMIN_TOKEN})


def seed(store: Store) -> None:
    """Two runs of the stock job (the second failed on web, naming the admin token by mistake),
    open and resolved mismatches, a quarantined row, a key that tries to be HTML."""
    first = datetime.now(UTC) - timedelta(hours=2)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ok = store.runs.start("stock", "stock", "enforce", False)
    store.runs.finish(
        ok,
        "ok",
        1.2,
        JobReport(
            "stock", "stock", "enforce", pulled={"wms": 40, "shop": 40, "web": 40}, requests={"shop": 3, "web": 2}
        ).as_json(),
        None,
    )
    report = JobReport(
        "stock",
        "stock",
        "enforce",
        status="failed",
        pulled={"wms": 40, "shop": 40},
        compared=40,
        mismatches=3,
        new_mismatches=2,
        requests={"shop": 5, "web": 9},
        throttled={"web": 4},
        errors=[f"web: 401 Unauthorized for token {ADMIN_TOKEN}"],
        failures=[FailedChange("shop", "TEE-RED-M", ["quantity"], "rejected", "negative stock")],
        failed=1,
        quarantined=1,
    )
    failed = store.runs.start("stock", "stock", "enforce", False)
    store.runs.finish(failed, "failed", 3.4, report.as_json(), "; ".join(report.errors))

    def finding(key: str, connector: str, expected: str, actual: str) -> dict[str, str]:
        where = {"key": key, "grp": key, "field": "quantity", "connector": connector}
        return {**where, "expected": expected, "actual": actual}

    store.mismatches.save("stock", "stock", [finding("TEE-RED-M@main", "shop", "5", "7")], [], first)
    resolved = next(iter(store.mismatches.open("stock", None).values()))["id"]
    store.mismatches.save("stock", "stock", [], [resolved], first + timedelta(minutes=30))
    store.mismatches.save(
        "stock",
        "stock",
        [
            finding("TEE-RED-M@main", "shop", "5", "4"),
            finding("TEE-RED-M@main", "web", "5", "0"),
            finding("CAP-WOOL@main", "web", "12", "9"),
            finding("<b>bold</b>@main", "shop", "1", "<script>alert(1)</script>"),
        ],
        [],
        now,
    )
    store.mismatches.save(
        "prices", "prices", [{**finding("TEE-RED-M", "shop", "19.90", "17.90"), "field": "price"}], [], now
    )
    store.quarantine.add(failed, [("shop", "stock", "MUG-??", "shop.csv:12", "quantity: 'lots' is not a number")])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hub:
    """The daemon with its store and a ``run_job`` that records the runs it is asked for."""

    def __init__(self, config: LoadedConfig) -> None:
        self.store = Store.open(config.database_url())
        seed(self.store)
        self.runs: list[str] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

        async def run_job(name: str) -> JobReport:
            self.runs.append(name)
            return JobReport(name, str(config.jobs[name].entity))

        self.daemon = Daemon(config, run_job, http_port=self.port, stop_timeout_s=2, store=self.store)

    async def ran(self, count: int, within: float = 5.0) -> list[str]:
        deadline = time.monotonic() + within
        while len(self.runs) < count and time.monotonic() < deadline:  # noqa: ASYNC110 (runs are a list)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # longer than a request's delay: a second run would show
        return self.runs


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    hub = Hub(make_config(tmp_path))
    await hub.daemon.start()
    try:
        yield hub
    finally:
        hub.daemon.request_stop()
        await hub.daemon.stop()
        hub.store.close()


@pytest.fixture
def chromium() -> str:
    """The system's Chromium; missing, the tests fail (``.ci/run`` installs it)."""
    assert Path(CHROMIUM).exists(), f"the console's browser tests need Chromium: {CHROMIUM} (apt-get install chromium)"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()
