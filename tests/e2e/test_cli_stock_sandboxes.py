"""A stock job from the WMS sandbox to the Shopify and WooCommerce sandboxes, through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.cli.demo import CREDENTIALS, DemoShop
from tests.e2e.conftest import Cli


def test_stock_job_applies_each_channels_safety_stock(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        text = config.read_text().replace(
            "      web: {safety_stock: 1}", "      shop: {safety_stock: 2}\n      web: {safety_stock: 1}"
        )
        config.write_text(text)
        env = {**os.environ, **CREDENTIALS}
        result = cli("--config", str(config), "sync", "stock", "--json", env=env)
        assert result.returncode == 0, result.stderr
        (job,) = json.loads(result.stdout)["jobs"]
        assert job["status"] == "ok" and job["mismatches"] == 0 and job["failed"] == 0
        assert job["points"]["shop"] > 0 and set(job["points"]) == {"shop"}  # only Shopify bills in points

        wms = shop.apps["wms"].state.sandbox
        truth = {(row.sku, wms.warehouses[row.warehouse_id]): row.available for row in wms.stock.values()}
        shopify, woo = shop.apps["shopify"].state.sandbox, shop.apps["woocommerce"].state.sandbox
        for (sku, code), available in truth.items():
            assert shopify.available(sku, code) == max(0, available - 2), (sku, code)
        for sku, quantity in woo.quantities().items():
            assert quantity == max(0, truth[(sku, "web-warehouse")] - 1), sku

        again = cli("--config", str(config), "sync", "stock", "--json", env=env)
        (job,) = json.loads(again.stdout)["jobs"]
        assert job["pushed"] == {} and job["mismatches"] == 0
        for secret in CREDENTIALS.values():
            assert secret not in result.stdout + result.stderr + again.stdout + again.stderr


def test_check_ping_reaches_every_connector_and_names_the_one_refused(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        env = {**os.environ, **CREDENTIALS}
        result = cli("--config", str(config), "check", "--ping", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("reachable") == 5
        wrong = {**env, "OMNIHUB_DEMO_HUBSPOT_TOKEN": "pat-wrong-000000000000"}
        refused = cli("--config", str(config), "check", "--ping", env=wrong)
        assert refused.returncode == 1
        assert "unreachable crm" in refused.stderr and "access_token" in refused.stderr
        assert refused.stdout.count("reachable") == 4
        assert "pat-wrong-000000000000" not in refused.stdout + refused.stderr
