"""``StoresDaemon``: several stores in one scheduler, each with its own runner, health, metrics
labels, webhook receiver and log identity. The runs are stand-ins (``run_job`` functions), since
the serving is what is tested here; tests/integration/test_stores.py runs the real engine."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hub.config.loader import LoadedConfig, load_config
from hub.ops.lifecycle import ServedStore, StoresDaemon
from hub.ops.logging_setup import configure_logging
from hub.ops.metrics import HubMetrics
from hub.ops.runner import StoreLogFilter
from hub.state.store import Store
from hub.sync.report import JobReport

WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-webhooks"
SECRET = "capture-secret"  # the captures' README: a test value of the throw-away store

CONFIG = """
version: 1
hub: {{database: "sqlite:///{db}"}}
connectors:
  web: {{type: woocommerce, url: "https://{name}.example", consumer_key: ck_1234567890,
         consumer_secret: cs_1234567890, location: web-warehouse, webhook_secret: "{secret}"}}
  wms: {{type: csv, path: wms.csv}}
truth: {{stock: wms}}
jobs:
  stock: {{entity: stock, targets: [web], mode: enforce, reservations: [web], schedule: "{schedule}"}}
"""


def make_config(tmp_path: Path, name: str, *, secret: str = SECRET, schedule: str = "every 1h") -> LoadedConfig:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / f"{name}.yaml"
    path.write_text(CONFIG.format(db=folder / "state.db", name=name, secret=secret, schedule=schedule))
    return load_config(path, env={})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def capture(name: str) -> tuple[dict[str, str], bytes]:
    lines = (WEBHOOKS / f"{name}.headers").read_text().splitlines()[1:]
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    headers.pop("Host", None)
    headers.pop("Content-Length", None)
    return headers, (WEBHOOKS / f"{name}.body").read_bytes()


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


RunJob = Callable[[str], Awaitable[JobReport]]


def recording(runs: list[tuple[str, str, float]], store: str, *, sleep_s: float = 0.0, fail: bool = False) -> RunJob:
    async def run_job(name: str) -> JobReport:
        runs.append((store, name, time.monotonic()))
        logging.getLogger("omnihub.engine").info("pulling for %s", name)
        await asyncio.sleep(sleep_s)
        if fail:
            raise RuntimeError(f"{store} platform is down")
        return JobReport(name, "stock", pulled={"wms": 3}, throttled={"web": 2}, mismatches=1)

    return run_job


@pytest.fixture
def stores_dir(tmp_path: Path) -> Iterator[tuple[LoadedConfig, LoadedConfig]]:
    yield make_config(tmp_path, "north", schedule="every 1s"), make_config(tmp_path, "south", schedule="every 1s")


async def test_a_failing_store_is_failing_alone_in_health_and_metrics(
    stores_dir: tuple[LoadedConfig, LoadedConfig],
) -> None:
    north, south = stores_dir
    runs: list[tuple[str, str, float]] = []
    port = free_port()
    daemon = StoresDaemon(
        [
            ServedStore("north", north, recording(runs, "north", fail=True)),
            ServedStore("south", south, recording(runs, "south")),
        ],
        failed={"west": "west.yaml:3:3 (hub.database): cannot open database"},
        http_port=port,
        run_at_start=True,
    )
    await daemon.start()
    try:
        await wait_for(lambda: {"north", "south"} <= {s for s, _, _ in runs}, 10, "a run of each store")
        await wait_for(lambda: "stock" in daemon.runner("north").last, 10, "north's report")
        await wait_for(lambda: "stock" in daemon.runner("south").last, 10, "south's report")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            whole = await client.get("/healthz")
            each = {name: await client.get(f"/healthz/{name}") for name in ("north", "south", "west", "east")}
            metrics = (await client.get("/metrics")).text
    finally:
        daemon.request_stop()
        await daemon.stop()
    assert whole.status_code == 503
    body = whole.json()
    assert body["status"] == "failing" and body["scheduler_running"] is True
    stores = body["stores"]
    assert sorted(stores) == ["north", "south", "west"]
    assert stores["north"]["status"] == "failing"
    assert "north platform is down" in stores["north"]["jobs"]["stock"]["last_run"]["errors"][0]
    assert stores["south"]["status"] == "ok" and stores["south"]["jobs"]["stock"]["last_run"]["status"] == "ok"
    assert stores["west"] == {"status": "not_served", "error": "west.yaml:3:3 (hub.database): cannot open database"}
    assert [each[n].status_code for n in ("north", "south", "west", "east")] == [503, 200, 503, 404]
    assert each["south"].json()["store"] == "south" and each["south"].json()["jobs"]["stock"]["schedule"] == "every 1s"
    assert 'omnihub_job_runs_total{job="stock",status="failed",store="north"}' in metrics
    assert 'omnihub_job_runs_total{job="stock",status="ok",store="south"}' in metrics
    assert 'status="ok",store="north"' not in metrics and 'status="failed",store="south"' not in metrics
    assert 'omnihub_throttled_total{connector="web",store="south"} ' in metrics
    assert 'omnihub_throttled_total{connector="web",store="north"}' not in metrics


async def test_a_store_whose_runs_hang_never_holds_another_stores_turn(
    stores_dir: tuple[LoadedConfig, LoadedConfig],
) -> None:
    north, south = stores_dir
    runs: list[tuple[str, str, float]] = []
    daemon = StoresDaemon(
        [
            ServedStore("north", north, recording(runs, "north", sleep_s=60)),
            ServedStore("south", south, recording(runs, "south")),
        ],
        run_at_start=True,
        stop_timeout_s=0.5,
    )
    await daemon.start()
    try:
        await wait_for(lambda: sum(s == "south" for s, _, _ in runs) >= 3, 10, "three runs of south")
    finally:
        daemon.request_stop()
        await daemon.stop()
    south_at = [at for s, _, at in runs if s == "south"]
    assert [s for s, _, _ in runs].count("north") == 1  # still in its first run, its next waits behind it
    assert max(b - a for a, b in itertools.pairwise(south_at)) < 1.6  # every second, on time
    assert "stock" not in daemon.runner("north").last  # never finished: cancelled at the stop
    assert daemon.runner("south").last["stock"].status == "ok"


async def test_each_store_receives_its_own_webhooks_with_its_own_secret(tmp_path: Path) -> None:
    north = make_config(tmp_path, "north")
    south = make_config(tmp_path, "south", secret="another-secret")
    stores = {"north": Store.open(north.database_url()), "south": Store.open(south.database_url())}
    runs: list[tuple[str, str, float]] = []
    port = free_port()
    daemon = StoresDaemon(
        [
            ServedStore("north", north, recording(runs, "north"), store=stores["north"]),
            ServedStore("south", south, recording(runs, "south"), store=stores["south"]),
        ],
        failed={"west": "west.yaml: broken"},
        http_port=port,
    )
    headers, body = capture("02_order_created")
    await daemon.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def post(path: str) -> httpx.Response:
                return await client.post(path, content=body, headers=headers)

            to_north, to_south = await post("/webhooks/north/web"), await post("/webhooks/south/web")
            to_west, to_nobody, unscoped = (
                await post("/webhooks/west/web"),
                await post("/webhooks/nobody/web"),
                await post("/webhooks/web"),
            )
            await wait_for(lambda: bool(runs), 5, "the run the delivery asked for")
            await asyncio.sleep(0.2)
            metrics = (await client.get("/metrics")).text
    finally:
        daemon.request_stop()
        await daemon.stop()
        hints = {name: store.hints.pending("stock") for name, store in stores.items()}
        for store in stores.values():
            store.close()
    assert to_north.status_code == 202, to_north.text
    assert to_south.status_code == 401  # signed with north's secret, not south's
    assert (to_west.status_code, to_nobody.status_code, unscoped.status_code) == (503, 404, 404)
    assert [(s, n) for s, n, _ in runs] == [("north", "stock")]
    assert hints["north"][1] == {"RW-S-0011"} and hints["south"] == (0, set())
    assert 'omnihub_webhooks_total{connector="web",outcome="accepted",store="north"} 1.0' in metrics
    assert 'omnihub_webhooks_total{connector="web",outcome="refused",store="south"} 1.0' in metrics


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = {h: list(h.filters) for h in handlers}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    for handler, kept in filters.items():
        handler.filters[:] = kept
    root.setLevel(level)


async def test_every_log_record_of_a_stores_run_names_its_store(
    stores_dir: tuple[LoadedConfig, LoadedConfig], restore_logging: None
) -> None:
    north, south = stores_dir
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream).addFilter(StoreLogFilter())
    runs: list[tuple[str, str, float]] = []
    daemon = StoresDaemon(
        [
            ServedStore("north", north, recording(runs, "north", fail=True)),
            ServedStore("south", south, recording(runs, "south")),
        ],
        run_at_start=True,
    )
    await daemon.start()
    try:
        await wait_for(lambda: {"north", "south"} <= set(daemon.served), 1, "both stores")
        await wait_for(lambda: "stock" in daemon.runner("north").last, 10, "north's report")
        await wait_for(lambda: "stock" in daemon.runner("south").last, 10, "south's report")
    finally:
        daemon.request_stop()
        await daemon.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    pulls = {line["store"] for line in lines if line["message"] == "pulling for stock"}
    assert pulls == {"north", "south"}  # the engine's own records, which know nothing of stores
    failed = [line for line in lines if line["message"].startswith("job north/stock failed")]
    assert failed and failed[0]["store"] == "north" and failed[0]["job"] == "stock"
    finished = [line for line in lines if line["message"].startswith("job south/stock finished")]
    assert finished and finished[0]["store"] == "south"
    assert not [line for line in lines if "south" in line["message"] and line.get("store") == "north"]
    started = [line["message"] for line in lines if line["message"].startswith("scheduler started")]
    assert sorted(started) == [
        f"scheduler started (store {name}, UTC): stock [every 1s]" for name in ("north", "south")
    ]


def test_per_store_metrics_must_say_the_store_and_single_ones_keep_their_labels() -> None:
    single, per_store = HubMetrics(), HubMetrics(per_store=True)
    report = JobReport("stock", "stock", pulled={"wms": 3})
    single.observe(report, now=1)
    per_store.observe(report, now=1, store="north")
    per_store.for_store("south").task_enqueued("stock")
    assert 'omnihub_records_pulled_total{connector="wms",job="stock"} 3.0' in single.render().decode()
    text = per_store.render().decode()
    assert 'omnihub_records_pulled_total{connector="wms",job="stock",store="north"} 3.0' in text
    assert 'omnihub_tasks_waiting{job="stock",store="south"} 1.0' in text
    with pytest.raises(ValueError, match="say which store"):
        per_store.observe(report)
    with pytest.raises(ValueError, match="per_store"):
        StoresDaemon([], metrics=single)
