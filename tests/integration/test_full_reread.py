"""A platform that went back in time is noticed: a WooCommerce shop restored from a backup holds
records older than the hub's cursor, which no incremental pull asks for. The job reads everything
again once its last full read is older than ``full_every``, and at once when the platform's count
of records moved unlike the store's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot.sandbox import create_app as hubspot_app
from connectors.rest_wms.sandbox import create_app as wms_app
from connectors.woocommerce.sandbox import create_app as woo_app
from hub.config.loader import LoadedConfig, load_config
from hub.errors import ConfigError
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, SeedCustomer, SeedItem
from hub.state.store import Store, utcnow
from hub.sync import pull as pull_module
from hub.sync.engine import Engine
from hub.sync.report import JobReport
from tests.conftest import TEST_SECRETS

WOO_KEY, WOO_SECRET, HUBSPOT_TOKEN, WMS_KEY = TEST_SECRETS[1], TEST_SECRETS[2], TEST_SECRETS[3], TEST_SECRETS[5]
ITEMS = 40
CUSTOMERS = 6


def _catalogue(available: int) -> Catalogue:
    items = [SeedItem(f"S-{i:03d}", f"Item {i}", f"S-{i:03d}", "10.00") for i in range(ITEMS)]
    customers = [SeedCustomer(f"person{i}@example.com", f"Person{i}", "Tester") for i in range(CUSTOMERS)]
    return Catalogue(items, {i.sku: {"web-warehouse": available} for i in items}, customers, ["web-warehouse"])


class Platforms:
    """The WMS (stock truth), HubSpot (customers truth) and a WooCommerce shop, served on loopback;
    the shop can be restarted on its port from its seed, as a restored backup leaves it."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self.wms = stack.enter_context(serve(wms_app(_catalogue(15), api_key=WMS_KEY)))
        self.crm = stack.enter_context(serve(hubspot_app(_catalogue(15), access_token=HUBSPOT_TOKEN)))
        self._woo_stack = contextlib.ExitStack()
        stack.callback(lambda: self._woo_stack.close())
        self.woo = self._serve_woo(port=0)

    def _serve_woo(self, port: int) -> ServedApp:
        app = woo_app(_catalogue(20), consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, location_code="web-warehouse")
        return self._woo_stack.enter_context(serve(app, port=port))

    def restore_woo_from_backup(self) -> None:
        """Stop the shop and start it again from its seed: every record as it was, with its old
        modification time, as a restored database leaves them."""
        port = self.woo.port
        self._woo_stack.close()
        self._woo_stack = contextlib.ExitStack()
        self.woo = self._serve_woo(port=port)

    @property
    def shop(self) -> Any:
        return self.woo.app.state.sandbox

    def write_config(self, folder: Path, *, full_every: str | None = None) -> Path:
        extra = f", full_every: {full_every}" if full_every else ""
        path = folder / "omnihub.yaml"
        path.write_text(
            f"""version: 1
hub: {{database: "sqlite:///state.db", currency: EUR}}
connectors:
  wms: {{type: rest_wms, base_url: "{self.wms.url}", api_key: "${{T_WMS_KEY}}", locations: {{WH-1: web-warehouse}}}}
  crm: {{type: hubspot, base_url: "{self.crm.url}", access_token: "${{T_HUBSPOT_TOKEN}}"}}
  web: {{type: woocommerce, url: "{self.woo.url}", consumer_key: "${{T_WOO_KEY}}", consumer_secret: "${{T_WOO_SECRET}}",
         location: web-warehouse}}
truth: {{stock: wms, customers: crm}}
jobs:
  stock: {{entity: stock, targets: [web], mode: enforce{extra}}}
  customers: {{entity: customers, targets: [web], mode: monitor, fields: [first_name, last_name]{extra}}}
""",
            encoding="utf-8",
        )
        return path


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Platforms]:
    for name, value in {
        "T_WMS_KEY": WMS_KEY,
        "T_HUBSPOT_TOKEN": HUBSPOT_TOKEN,
        "T_WOO_KEY": WOO_KEY,
        "T_WOO_SECRET": WOO_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    with contextlib.ExitStack() as stack:
        yield Platforms(stack)


def _sync(config: LoadedConfig, job: str) -> JobReport:
    store = Store.open(config.database_url())
    try:
        (report,) = asyncio.run(Engine(config, store).sync([job]))
    finally:
        store.close()
    assert report.status == "ok", report.errors
    return report


def _later(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    """Move the engine's clock ``hours`` ahead (the platforms' clocks do not matter here)."""
    monkeypatch.setattr(pull_module, "utcnow", lambda: utcnow() + timedelta(hours=hours))


def test_a_restored_shop_is_found_and_fixed_by_the_scheduled_full_read(
    platforms: Platforms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(platforms.write_config(tmp_path))  # full_every: the default, 24h
    first = _sync(config, "stock")
    assert first.pushed == {"web": ITEMS} and first.full == ["wms", "web"]
    assert set(platforms.shop.quantities().values()) == {15}
    settled = _sync(config, "stock")  # reads the writes back: the cursor is now past them
    assert settled.full == [] and settled.mismatches == 0 and settled.pushed == {}

    platforms.restore_woo_from_backup()
    assert set(platforms.shop.quantities().values()) == {20}
    # Within a day of the last full read, the pull asks only for what changed since the cursor:
    # the restored records are older than it, so nothing is seen (what every sync did before).
    blind = _sync(config, "stock")
    assert blind.full == [] and blind.mismatches == 0 and blind.pushed == {}

    _later(monkeypatch, 25)
    found = _sync(config, "stock")
    assert found.full == ["wms", "web"]
    assert found.new_mismatches == ITEMS and found.pushed == {"web": ITEMS}
    assert set(platforms.shop.quantities().values()) == {15}

    # The full read is remembered: the next run is incremental again, and finds everything in line.
    again = _sync(config, "stock")
    assert again.full == [] and again.mismatches == 0 and again.pushed == {}


def test_full_every_is_the_jobs_own(platforms: Platforms, tmp_path: Path) -> None:
    config = load_config(platforms.write_config(tmp_path, full_every="0s"))
    assert config.jobs["stock"].full_every == timedelta(0)
    _sync(config, "stock")
    _sync(config, "stock")
    platforms.restore_woo_from_backup()
    found = _sync(config, "stock")
    assert found.full == ["wms", "web"] and found.pushed == {"web": ITEMS}


def test_a_full_every_that_is_no_duration_is_a_located_config_error(platforms: Platforms, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(platforms.write_config(tmp_path, full_every="daily"))
    assert "omnihub.yaml:10:57 (jobs.stock.full_every)" in str(caught.value)
    assert "'daily' is not a duration such as 90s, 15m, 24h or 7d" in str(caught.value)


def test_a_record_gone_behind_the_cursor_is_noticed_by_the_count_in_the_same_run(
    platforms: Platforms, tmp_path: Path
) -> None:
    config = load_config(platforms.write_config(tmp_path))
    first = _sync(config, "customers")
    assert first.full == ["crm", "web"] and first.mismatches == 0

    # A customer disappears from the shop (a restore from before they signed up): no modification
    # time moves, so an incremental pull cannot bring the news; the list's X-WP-Total does.
    gone = "person3@example.com"
    with platforms.shop.lock:
        (customer_id,) = [i for i, c in platforms.shop.customers.items() if c["email"] == gone]
        del platforms.shop.customers[customer_id]
    noticed = _sync(config, "customers")
    assert noticed.full == ["web"]  # the CRM's pull stayed incremental
    store = Store.open(config.database_url())
    try:
        open_ = [(m["key"], m["field"], m["connector"], m["actual"]) for m in store.mismatches.rows()]
    finally:
        store.close()
    assert open_ == [(gone, "presence", "web", "missing")]

    # Counts agree again: incremental from now on.
    assert _sync(config, "customers").full == []
