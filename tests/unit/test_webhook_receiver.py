"""The daemon's webhook receiver over real HTTP on loopback, fed the real WooCommerce deliveries:
a good delivery is answered at once, hints its SKUs and starts one run of each job it concerns; a
forged, unsigned or unverifiable one is refused with 401 and changes nothing; a ping and a
duplicate are acknowledged and change nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config.loader import LoadedConfig, load_config
from hub.ops.lifecycle import Daemon
from hub.state.store import Store
from hub.sync.report import JobReport

WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "woocommerce" / "real-webhooks"
SECRET = "capture-secret"  # the captures' README: a test value of the throw-away store

CONFIG = """
version: 1
hub: {{database: "sqlite:///{db}"}}
connectors:
  web: {{type: woocommerce, url: "https://shop.example", consumer_key: ck_1234567890, consumer_secret: cs_1234567890,
         location: web-warehouse{secret}}}
  wms: {{type: rest_wms, base_url: "https://wms.example/api", api_key: wms_key_123456}}
  unsigned: {{type: woocommerce, url: "https://other.example", consumer_key: ck_1234567890,
              consumer_secret: cs_1234567890, location: other}}
truth: {{stock: wms}}
jobs:
  stock: {{entity: stock, targets: [web], mode: enforce, reservations: [web], schedule: "every 1h"}}
  prices: {{entity: prices, source: unsigned, targets: [web], schedule: "every 1h"}}
  unrelated: {{entity: stock, targets: [unsigned], schedule: "every 1h"}}
"""


def capture(name: str) -> tuple[dict[str, str], bytes]:
    lines = (WEBHOOKS / f"{name}.headers").read_text().splitlines()[1:]
    headers = dict(line.split(": ", 1) for line in lines if ": " in line)
    headers.pop("Host", None)
    headers.pop("Content-Length", None)
    return headers, (WEBHOOKS / f"{name}.body").read_bytes()


def make_config(tmp_path: Path, *, secret: bool = True) -> LoadedConfig:
    path = tmp_path / "omnihub.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "state.db", secret=f', webhook_secret: "{SECRET}"' if secret else ""))
    return load_config(path, env={})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """A daemon with a store and a ``run_job`` that records the runs it is asked for."""

    def __init__(self, config: LoadedConfig) -> None:
        self.store = Store.open(config.database_url())
        self.runs: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.port = free_port()

        async def run_job(name: str) -> JobReport:
            self.runs.append(name)
            await self.release.wait()
            return JobReport(name, "stock")

        self.daemon = Daemon(config, run_job, http_port=self.port, stop_timeout_s=2, store=self.store)

    async def __aenter__(self) -> Harness:
        await self.daemon.start()
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.release.set()
        self.daemon.request_stop()
        await self.daemon.stop()
        self.store.close()

    async def post(self, connector: str, name: str, **changes: Any) -> httpx.Response:
        headers, body = capture(name)
        headers.update(changes.get("headers", {}))
        return await self.client.post(f"/webhooks/{connector}", content=changes.get("body", body), headers=headers)

    async def settle(self, runs: int, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while len(self.runs) < runs and time.monotonic() < deadline:  # noqa: ASYNC110 (runs are a list)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.15)  # longer than the request delay: a run asked for twice would show


async def test_a_signed_order_delivery_is_accepted_hints_its_skus_and_runs_the_jobs_it_concerns(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path)) as hub:
        answer = await hub.post("web", "02_order_created")
        await hub.settle(1)
        assert answer.status_code == 202, answer.text
        assert answer.json()["jobs"] == ["stock"]  # prices are not about orders; `unrelated` reads another shop
        assert hub.store.hints.pending("stock")[1] == {"RW-S-0011"}
        assert hub.store.hints.pending("prices") == (0, set())
        assert hub.runs == ["stock"]
        metrics = (await hub.client.get("/metrics")).text
    assert 'omnihub_webhooks_total{connector="web",outcome="accepted"} 1.0' in metrics


async def test_a_product_delivery_runs_the_stock_and_price_jobs_of_that_shop(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path)) as hub:
        answer = await hub.post("web", "04_product_updated_simple")
        await hub.settle(2)
    assert answer.status_code == 202
    assert sorted(hub.runs) == ["prices", "stock"]


@pytest.mark.parametrize(
    "change",
    [
        {"headers": {"X-WC-Webhook-Signature": "xk2m6uIRxPEBnfDGA0f8AaPhxGCflLdheW2YdPmZWO0="}},
        {"body_suffix": b" "},
        {"drop_signature": True},
    ],
    ids=["forged-signature", "changed-body", "no-signature"],
)
async def test_a_forged_or_unsigned_delivery_is_refused_with_401_and_changes_nothing(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    headers, body = capture("02_order_created")
    headers.update(change.get("headers", {}))
    if change.get("drop_signature"):
        del headers["X-WC-Webhook-Signature"]
    body += change.get("body_suffix", b"")
    async with Harness(make_config(tmp_path)) as hub:
        answer = await hub.client.post("/webhooks/web", content=body, headers=headers)
        await hub.settle(0, within=0)
        assert hub.store.hints.pending("stock") == (0, set())
    assert answer.status_code == 401
    assert hub.runs == []


async def test_a_connector_without_webhook_secret_refuses_everything(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path, secret=False)) as hub:
        answer = await hub.post("web", "02_order_created")
        await hub.settle(0, within=0)
    assert answer.status_code == 401 and "webhook_secret" in answer.json()["message"]
    assert hub.runs == []


async def test_the_creation_ping_and_a_repeated_delivery_are_acknowledged_and_change_nothing(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path)) as hub:
        ping = await hub.post("web", "01_ping_on_create")
        await hub.settle(0, within=0)
        assert hub.runs == [] and ping.status_code == 200 and ping.json()["status"] == "ping"
        first = await hub.post("web", "02_order_created")
        again = await hub.post("web", "02_order_created")
        await hub.settle(1)
        hinted = hub.store.hints.pending("stock")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"
    assert hub.runs == ["stock"]
    assert hinted[1] == {"RW-S-0011"}


async def test_unknown_connectors_and_connectors_without_webhooks_are_404(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path)) as hub:
        nobody = await hub.post("nobody", "02_order_created")
        wms = await hub.post("wms", "02_order_created")
    assert nobody.status_code == 404 and wms.status_code == 404
    assert hub.runs == []


async def test_deliveries_during_a_run_make_exactly_one_more_run_after_it(tmp_path: Path) -> None:
    async with Harness(make_config(tmp_path)) as hub:
        hub.release.clear()  # the first run holds until released
        await hub.post("web", "02_order_created")
        await hub.settle(1)
        for name in ("04_product_updated_simple", "05_product_updated_variation"):
            assert (await hub.post("web", name)).status_code == 202
        assert hub.runs.count("stock") == 1  # still the first run: the others wait for it
        hub.release.set()
        await hub.settle(4)
    assert hub.runs.count("stock") == 2
    assert hub.runs.count("prices") == 1


async def test_a_hint_written_before_the_answer_survives_a_daemon_that_stops_before_the_run(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with Harness(config) as hub:
        hub.release.clear()
        hub.daemon.runner.closed = True  # stopping: no run starts any more
        answer = await hub.post("web", "04_product_updated_simple")
    assert answer.status_code == 202
    sku = json.loads(capture("04_product_updated_simple")[1])["sku"]
    store = Store.open(config.database_url())
    try:
        assert store.hints.pending("stock")[1] == {sku}
        assert store.hints.pending("prices")[1] == {sku}
    finally:
        store.close()
    assert hub.runs == []


async def test_a_run_that_holds_the_daemon_busy_does_not_keep_a_delivery_waiting(tmp_path: Path) -> None:
    """WooCommerce waits 5 s for an answer and disables a webhook after 5 failures: the receiver
    answers from its own thread while a run keeps the daemon's loop busy (CPU, a slow database)."""
    config = make_config(tmp_path)
    store = Store.open(config.database_url())
    port = free_port()
    go, busy = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def platform() -> None:  # the delivering platform, in a thread of its own
        go.wait(10)
        headers, body = capture("04_product_updated_simple")
        started = time.monotonic()
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/web", content=body, headers=headers, timeout=5)
        seen.update(status=answer.status_code, took=time.monotonic() - started, during_run=busy.is_set())

    def hold_the_loop(seconds: float) -> None:
        busy.set()
        go.set()
        time.sleep(seconds)  # a run's CPU-bound stretch: the daemon's loop does nothing else meanwhile
        busy.clear()

    async def run_job(name: str) -> JobReport:
        hold_the_loop(1.5)
        return JobReport(name, "stock")

    daemon = Daemon(config, run_job, http_port=port, stop_timeout_s=3, store=store)
    await daemon.start()
    sender = threading.Thread(target=platform)
    sender.start()
    try:
        daemon.runner.request("stock", 0)
        await asyncio.to_thread(sender.join, 10)
    finally:
        daemon.request_stop()
        await daemon.stop()
        store.close()
    assert seen["status"] == 202
    assert seen["during_run"] and seen["took"] < 1.0, seen
