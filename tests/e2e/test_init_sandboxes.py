"""``omnihub init`` then ``omnihub check --ping`` against the platform sandboxes, with no hand edit."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hub.cli.demo import DemoShop, demo_plugins
from tests.e2e.conftest import Cli


def test_init_writes_a_config_that_check_ping_accepts_as_it_is(cli: Cli, tmp_path: Path) -> None:
    plugins = {p.connector_type: p for p in demo_plugins().values()}
    with DemoShop(tmp_path) as shop:
        # The variables `init` names, holding what each sandbox accepts.
        env = {
            **os.environ,
            "SHOPIFY_ACCESS_TOKEN": plugins["shopify"].secrets["access_token"][1],
            "WOOCOMMERCE_CONSUMER_KEY": plugins["woocommerce"].secrets["consumer_key"][1],
            "WOOCOMMERCE_CONSUMER_SECRET": plugins["woocommerce"].secrets["consumer_secret"][1],
            "REST_WMS_API_KEY": plugins["rest_wms"].secrets["api_key"][1],
        }
        shopify_domain = shop.apps["shopify"].state.sandbox.shop
        written = cli(
            "init", "shopify", "woocommerce", "rest_wms",
            "--set", f"shopify.shop={shopify_domain}",
            "--set", f"shopify.base_url={shop.urls['shopify']}",
            "--set", f"woocommerce.url={shop.urls['woocommerce']}",
            "--set", f"rest_wms.base_url={shop.urls['wms']}",
            env=env,
        )  # fmt: skip
        assert written.returncode == 0, written.stderr
        assert "SHOPIFY_ACCESS_TOKEN" in written.stdout and "REST_WMS_API_KEY" in written.stdout
        text = (tmp_path / "omnihub.yaml").read_text()
        for secret in plugins["woocommerce"].credentials.values():
            assert secret not in text  # secrets stay in the environment
        config = yaml.safe_load(text)
        assert config["connectors"]["shopify"]["access_token"] == "${SHOPIFY_ACCESS_TOKEN}"
        assert config["truth"] == {"prices": "shopify", "stock": "rest_wms", "customers": "shopify"}
        assert config["jobs"]["stock"]["targets"] == ["shopify", "woocommerce"]
        # Discovery ran (the variables were set): the WMS's warehouses, and the web store's pool.
        wms_ids = set(shop.apps["wms"].state.sandbox.warehouses)
        assert set(config["connectors"]["rest_wms"]["locations"]) == wms_ids
        assert config["connectors"]["woocommerce"]["location"] in wms_ids
        # Shopify's locations are listed by the platform (its stock pull skips unmapped ones), coded by name
        gids = shop.apps["shopify"].state.sandbox.location_gids()  # gid -> the demo's code (its name, slugged)
        assert config["connectors"]["shopify"]["locations"] == gids

        checked = cli("check", "--ping", env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count("reachable") == 3

        again = cli("init", "shopify", env=env)
        assert again.returncode == 2 and "--force" in again.stderr  # never overwrites unasked


def test_init_without_types_and_without_a_terminal_names_the_installed_ones(cli: Cli, tmp_path: Path) -> None:
    result = cli("init")
    assert result.returncode == 2
    assert "shopify" in result.stderr and "rest_wms" in result.stderr
    assert not (tmp_path / "omnihub.yaml").exists()


def test_init_refuses_a_setting_the_type_does_not_have(cli: Cli, tmp_path: Path) -> None:
    result = cli("init", "rest_wms", "--set", "rest_wms.base_ur=http://127.0.0.1:1", "--no-discover")
    assert result.returncode == 2 and "base_ur" in result.stderr
    written = cli("init", "rest_wms:wms", "csv:erp", "--no-discover", "--out", "starter.yaml")
    assert written.returncode == 0, written.stderr
    config = yaml.safe_load((tmp_path / "starter.yaml").read_text())
    assert config["connectors"]["wms"]["api_key"] == "${WMS_API_KEY}"
    assert config["truth"]["stock"] == "wms"  # the WMS, which only reads stock, is its truth
