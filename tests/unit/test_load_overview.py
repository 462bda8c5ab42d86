"""``omnihub console`` reads the config without the connectors' secrets: it shows the store and
reaches no platform, so an operator can open it where only the database is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config.loader import load_config, load_overview
from hub.errors import ConfigError

CONFIG = """version: 1
hub: {database: "sqlite:///state.db", timezone: Europe/Rome}
connectors:
  shop: {type: shopify, shop: my-shop.myshopify.com, access_token: "${SHOPIFY_TOKEN}"}
  wms: {type: rest_wms, base_url: "https://wms.example/api", api_key: "${WMS_KEY}"}
truth: {stock: wms}
jobs:
  stock: {entity: stock, targets: [shop], schedule: "every 15m"}
"""


def test_the_overview_needs_no_connector_secret_and_keeps_jobs_and_types(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match="SHOPIFY_TOKEN"):
        load_config(path, env={})
    overview = load_overview(path, env={})
    assert {name: s.type for name, s in overview.connectors.items()} == {"shop": "shopify", "wms": "rest_wms"}
    assert overview.jobs["stock"].schedule == "every 15m" and overview.source_of(overview.jobs["stock"]) == "wms"
    assert overview.hub.timezone == "Europe/Rome"


def test_the_overview_still_needs_what_the_hub_section_names(tmp_path: Path) -> None:
    path = tmp_path / "omnihub.yaml"
    path.write_text(CONFIG.replace('"sqlite:///state.db"', '"${DATABASE_URL}"'))
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_overview(path, env={})
