"""The push circuit breaker and the Retry-After cap, against the WooCommerce sandbox.

A thousand stock or price corrections meet a WooCommerce that answers every write with a 503 (or
a 429 asking for an hour): the connector's pushes stop after ``hub.push_failures_to_trip`` failed
calls, the rest is reported failed and left to the next run, another target of the same job is
written in full, and the next run, once the platform is back, converges.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.woocommerce import WooCommerceConnector
from connectors.woocommerce.sandbox import create_app
from hub.config.loader import load_config
from hub.model.base import Entity
from hub.plugins.contract import Change, PushResult
from hub.sandbox.kit import Fault, ServedApp, serve
from hub.sandbox.seed import Catalogue, SeedItem
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport
from tests.conftest import TEST_SECRETS
from tests.e2e.conftest import Cli

KEY, SECRET = TEST_SECRETS[1], TEST_SECRETS[2]
ENV = {"WC_KEY": KEY, "WC_SECRET": SECRET}
SKUS = 1000
#: Writes one push may still send after the breaker's third failure: the calls already in flight
#: (WooCommerce's transport runs four at a time) and one waiting for a slot.
MOST_CALLS = 5
#: Without the breaker: two hand-overs of 500 changes, five calls of 100 each; stock writes are
#: not resent but re-read and written again in three rounds, prices are resent by the transport.
CALLS_WITHOUT_BREAKER = 10


@dataclass
class Shop:
    config: Path
    web: ServedApp
    other: ServedApp

    def posts(self, served: ServedApp) -> int:
        return sum(n for route, n in served.app.state.requests.items() if route.startswith("POST "))


def _catalogue() -> Catalogue:
    items = [SeedItem(f"S-{i:04d}", f"Item {i}", f"S-{i:04d}", "10.00") for i in range(SKUS)]
    return Catalogue(items, {i.sku: {"web-warehouse": 20} for i in items}, [], ["web-warehouse"])


def _app() -> Any:
    return create_app(_catalogue(), consumer_key=KEY, consumer_secret=SECRET, variable_products=False)


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    """A CSV truth (stock 7, price 12.00 for every SKU) and two WooCommerce stores holding 20 at 10.00."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    rows = range(SKUS)
    (tmp_path / "stock.csv").write_text(
        "sku,location,available\n" + "".join(f"S-{i:04d},web-warehouse,7\n" for i in rows)
    )
    (tmp_path / "prices.csv").write_text("sku,price,currency\n" + "".join(f"S-{i:04d},12.00,EUR\n" for i in rows))
    with serve(_app()) as web, serve(_app()) as other:
        woo = 'consumer_key: "${WC_KEY}", consumer_secret: "${WC_SECRET}", location: web-warehouse, max_attempts: 2'
        config = tmp_path / "omnihub.yaml"
        config.write_text(
            f"""version: 1
hub: {{database: "sqlite:///state.db", currency: EUR}}
connectors:
  truth: {{type: csv, files: {{stock: stock.csv, prices: prices.csv}}}}
  web: {{type: woocommerce, url: "{web.url}", {woo}}}
  other: {{type: woocommerce, url: "{other.url}", {woo}}}
truth: {{stock: truth, prices: truth}}
jobs:
  stock: {{entity: stock, targets: [web, other], mode: enforce}}
  prices: {{entity: prices, targets: [web, other], mode: enforce}}
"""
        )
        yield Shop(config, web, other)


def _sync(config: Path, job: str) -> tuple[JobReport, Store]:
    loaded = load_config(config)
    store = Store.open(loaded.database_url())
    (report,) = asyncio.run(asyncio.wait_for(Engine(loaded, store).sync([job]), timeout=120))
    return report, store


@pytest.mark.parametrize("job", ["stock", "prices"])
def test_a_persistent_503_on_writes_stops_that_connector_and_the_next_run_converges(shop: Shop, job: str) -> None:
    shop.web.app.state.faults.add(Fault(kind="status", status=503, method="POST", times=None))

    report, store = _sync(shop.config, job)

    calls = shop.posts(shop.web)
    attempts = 1 if job == "stock" else 2  # a stock write is never resent blindly; prices are, once
    assert calls <= MOST_CALLS * attempts < CALLS_WITHOUT_BREAKER * attempts
    assert report.status == "failed"
    assert report.failed == SKUS
    assert report.pushed == {"other": SKUS}  # the other target of the job was written in full
    reason = report.errors[-1]
    assert reason.startswith("push to web stopped: not sent: web failed ")
    assert " batches in a row (POST " in reason and "/products/batch -> HTTP 503: sandbox fault)" in reason
    assert reason.endswith("; decided again next run")
    rows = store.outbox.rows("web")
    assert len(rows) == SKUS and {r["status"] for r in rows} == {"retry"}
    # The second hand-over of 500 was never given to the connector: left out by the breaker.
    left_out = [r for r in rows if r["error_code"] == "circuit_open"]
    assert len(left_out) == 500
    assert {r["error"] for r in left_out} == {reason.removeprefix("push to web stopped: ")}
    store.close()

    shop.web.app.state.faults.clear()
    again, store = _sync(shop.config, job)
    assert again.status == "ok", again.errors
    assert again.pushed == {"web": SKUS}
    web = shop.web.app.state.sandbox
    if job == "stock":
        assert set(web.quantities().values()) == {7}
    assert store.mismatches.count_open(job) == 0
    assert {r["status"] for r in store.outbox.rows("web") if r["run_id"] == rows[0]["run_id"]} == {"superseded"}
    store.close()


def test_a_retry_after_of_an_hour_ends_the_run_at_once(shop: Shop) -> None:
    """Prices are resent after a 429; a one-hour Retry-After is not waited for (it once held a
    run five minutes), and three such calls open the breaker."""
    shop.web.app.state.faults.add(
        Fault(kind="status", status=429, headers={"Retry-After": "3600"}, method="POST", times=None)
    )
    started = time.monotonic()
    report, store = _sync(shop.config, "prices")
    assert time.monotonic() - started < 30
    assert shop.posts(shop.web) <= MOST_CALLS  # one request per call: none was resent
    assert report.status == "failed" and report.failed == SKUS and report.pushed == {"other": SKUS}
    asked = "asked to wait 3600 s, more than max_retry_wait_s (60 s): left for the next run"
    assert asked in report.failures[0].message
    assert asked in report.errors[-1]
    store.close()


def test_sync_json_reports_the_open_breaker_and_exits_1(shop: Shop, tmp_path: Path) -> None:
    shop.web.app.state.faults.add(Fault(kind="status", status=503, method="POST", times=None))
    result = Cli(tmp_path)("--config", str(shop.config), "sync", "stock", "--json", env={**os.environ, **ENV})
    assert result.returncode == 1, result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    assert job["status"] == "failed"
    assert job["failed"] == SKUS and job["pushed"] == {"other": SKUS}
    assert len(job["failures"]) == 50 and {f["connector"] for f in job["failures"]} == {"web"}
    assert any("web failed" in e and "batches in a row" in e for e in job["errors"])
    assert KEY not in result.stdout + result.stderr and SECRET not in result.stdout + result.stderr


def test_a_push_that_raises_counts_and_the_threshold_is_the_configs(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WooCommerce goes down between the pull and the push: the stock re-read before writing gives
    up and the push raises. With ``push_failures_to_trip: 1`` that one batch opens the breaker."""
    shop.config.write_text(
        shop.config.read_text().replace("currency: EUR}", "currency: EUR, push_failures_to_trip: 1}")
    )
    real_push = WooCommerceConnector.push

    async def push_into_an_outage(
        self: WooCommerceConnector, entity: Entity, changes: list[Change]
    ) -> list[PushResult]:
        if self.name == "web" and not shop.web.app.state.faults.describe():
            shop.web.app.state.faults.add(Fault(kind="status", status=503, method="GET", times=None))
        return await real_push(self, entity, changes)

    monkeypatch.setattr(WooCommerceConnector, "push", push_into_an_outage)
    report, store = _sync(shop.config, "stock")
    assert shop.posts(shop.web) == 0
    assert report.status == "failed" and report.pushed == {"other": SKUS}
    codes = [r["error_code"] for r in store.outbox.rows("web")]
    assert codes == ["unavailable"] * 500 + ["circuit_open"] * 500  # the second hand-over was not made
    assert report.errors[-1].startswith("push to web stopped: not sent: web failed 1 batch in a row (GET ")
    store.close()
