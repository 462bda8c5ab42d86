"""Bad input at the command line is a config or usage error (exit 2) with its location, never an
internal error: values that overflow, characters YAML refuses, nesting and aliases that never end,
and read-only commands that need no platform credential."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

#: A valid config of two CSV feeds; each case below breaks one thing in it.
BASE = """\
version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  erp: {type: csv, path: erp.csv}
  shop: {type: csv, path: shop.csv}
truth: {prices: erp}
jobs:
  prices: {entity: prices, targets: [shop], schedule: "every 15m"}
alerts:
  renotify_after: 24h
"""

DEEP = "[" * 5000 + "]" * 5000


def _assert_config_error(result: subprocess.CompletedProcess[str], location: str, words: str) -> None:
    """Exit 2, the problem at ``location`` (``file:line:col``) saying ``words``, and no traceback."""
    assert result.returncode == 2, result.stderr
    stderr = " ".join(result.stderr.split())  # rich may wrap long lines
    assert location in stderr
    assert words in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "words"),
    [
        ('"every 15m"', '"every 99999999999999d"', 8, 45, "longer than 3650d"),
        ("renotify_after: 24h", "renotify_after: 99999999999999999d", 10, 3, "longer than 3650d"),
        ("renotify_after: 24h", "renotify_after: .inf", 10, 3, "longer than 3650d"),
        ("targets: [shop]", 'targets: [shop], rules: {shop: {markup_percent: "1e999999"}}', 8, 60, "1000"),
        ("  erp: {type: csv", "  \x00erp: {type: csv", 4, 3, "U+0000 is not allowed"),
        ("alerts:\n  renotify_after: 24h\n", f"extra: {DEEP}\n", 9, 71, "nested more than 64 levels"),
        ("alerts:\n  renotify_after: 24h\n", "extra: &loop [a, *loop]\n", 9, 18, "alias *loop is inside the node"),
    ],
    ids=["schedule", "renotify_after", "renotify_after_inf", "markup_percent", "nul", "deep", "recursive_alias"],
)
def test_check_reports_a_located_config_error(
    cli: Cli, tmp_path: Path, old: str, new: str, line: int, column: int, words: str
) -> None:
    assert old in BASE
    config = tmp_path / "omnihub.yaml"
    config.write_text(BASE.replace(old, new), encoding="utf-8")

    result = cli("--config", str(config), "check")

    _assert_config_error(result, f"{config}:{line}:{column}", words)


@pytest.mark.parametrize(
    ("mapping", "line", "column", "words"),
    [
        (f"version: 1\nentities: {DEEP}\n", 2, 74, "nested more than 64 levels"),
        ("version: 1\nentities: &e {prices: {fields: *e}}\n", 2, 32, "alias *e is inside the node"),
    ],
    ids=["deep", "recursive_alias"],
)
def test_check_reports_a_located_error_in_a_mapping_file(
    cli: Cli, tmp_path: Path, mapping: str, line: int, column: int, words: str
) -> None:
    (tmp_path / "mine.yaml").write_text(mapping, encoding="utf-8")
    config = tmp_path / "omnihub.yaml"
    config.write_text(BASE.replace("path: shop.csv}", "path: shop.csv, mapping: mine.yaml}"), encoding="utf-8")

    result = cli("--config", str(config), "check")

    _assert_config_error(result, f"{tmp_path / 'mine.yaml'}:{line}:{column}", words)


@pytest.mark.parametrize("port", ["99999", "0"])
def test_run_refuses_an_http_port_outside_1_to_65535(cli: Cli, tmp_path: Path, port: str) -> None:
    config = tmp_path / "omnihub.yaml"
    config.write_text(BASE, encoding="utf-8")

    result = cli("--config", str(config), "run", "--http-port", port, timeout=30)

    assert result.returncode == 2, result.stderr
    assert "--http-port" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


#: Connectors whose credentials come from the environment, and a database URL that does too.
WITH_SECRETS = """\
version: 1
hub: {database: "sqlite:///${OMNIHUB_STATE_DIR}/state.db"}
connectors:
  shop: {type: shopify, shop: my-shop.myshopify.com, access_token: "${SHOPIFY_TOKEN}", api_version: "2025-10"}
  crm: {type: hubspot, access_token: "${HUBSPOT_TOKEN}"}
  web: {type: woocommerce, url: "https://shop.example.com", consumer_key: "${WC_KEY}",
        consumer_secret: "${WC_SECRET}", location: web-warehouse}
truth: {customers: crm}
jobs:
  customers: {entity: customers, targets: [shop]}
alerts:
  email: {smtp_host: smtp.example.com, password: "${SMTP_PASSWORD}", sender: hub@example.com,
          recipients: [ops@example.com]}
"""
SECRET_VARIABLES = ("SHOPIFY_TOKEN", "HUBSPOT_TOKEN", "WC_KEY", "WC_SECRET", "SMTP_PASSWORD")


@pytest.fixture
def without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("without_secrets")
def test_read_only_commands_need_no_connector_secret(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "omnihub.yaml"
    config.write_text(WITH_SECRETS, encoding="utf-8")
    env = {"OMNIHUB_STATE_DIR": str(tmp_path)}

    for command in ("mismatches", "runs", "quarantine"):
        result = cli("--config", str(config), command, "--json", env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert json.loads(result.stdout) == []
    assert (tmp_path / "state.db").exists()  # the interpolated database URL was used

    check = cli("--config", str(config), "check", env=env)  # what talks to the platforms still needs them
    assert check.returncode == 2
    assert "environment variable SHOPIFY_TOKEN is not set" in check.stderr


@pytest.mark.usefixtures("without_secrets")
def test_read_only_commands_still_need_the_database_variable(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "omnihub.yaml"
    config.write_text(WITH_SECRETS, encoding="utf-8")

    result = cli("--config", str(config), "mismatches")

    _assert_config_error(result, f"{config}:2:17", "environment variable OMNIHUB_STATE_DIR is not set")
    assert "SHOPIFY_TOKEN" not in result.stderr  # only what the command needs is asked for
