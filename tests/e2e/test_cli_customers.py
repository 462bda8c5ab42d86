"""Customers synced through the CLI: one person written two ways on two channels is no mismatch once
the hub knows its country, and a real difference still is one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli

CONFIG = """\
version: 1
hub: {database: "sqlite:///state.db"COUNTRY}
connectors:
  crm: {type: csv, path: crm.csv}
  shop: {type: csv, path: shop.csv}
truth: {customers: crm}
jobs:
  customers: {entity: customers, targets: [shop], mode: monitor}
"""

CRM = """\
email,first_name,last_name,phone,tags
anna@example.com,José,De Luca,+39 347 1234567,"vip, big spender"
marco@example.com,Marco,Rossi,+39 02 1234 5678,
"""
#: The same people as the shop keeps them: a local phone number, a decomposed accent, a double
#: space, tags in another order; Marco's number is really another one.
SHOP = """\
email,first_name,last_name,phone,tags
anna@example.com,Jose\u0301,De  Luca,347 123 4567,"big spender,vip"
marco@example.com,Marco,Rossi,02 8765 4321,
"""


def _sync(cli: Cli, folder: Path, country: str) -> dict[str, object]:
    config = folder / "omnihub.yaml"
    config.write_text(CONFIG.replace("COUNTRY", country), encoding="utf-8")
    result = cli("--config", str(config), "sync", "--json")
    assert result.returncode == 0, result.stderr
    [job] = json.loads(result.stdout)["jobs"]
    return job


def _open(cli: Cli, folder: Path) -> list[tuple[str, str, str, str]]:
    listing = cli("--config", str(folder / "omnihub.yaml"), "mismatches", "--json")
    assert listing.returncode == 0, listing.stderr
    return sorted((m["key"], m["field"], m["expected"], m["actual"]) for m in json.loads(listing.stdout))


def test_the_hub_country_makes_local_phone_numbers_comparable(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text(CRM, encoding="utf-8")
    (tmp_path / "shop.csv").write_text(SHOP, encoding="utf-8")

    without = _sync(cli, tmp_path, "")
    assert without["compared"] == 2
    # nobody knows the country of a number without a country code: compared as written
    assert _open(cli, tmp_path) == [
        ("anna@example.com", "phone", "+393471234567", "347 123 4567"),
        ("marco@example.com", "phone", "+390212345678", "02 8765 4321"),
    ]

    within = _sync(cli, tmp_path, ", country: IT")
    assert within["compared"] == 2
    assert (within["resolved_mismatches"], within["mismatches"]) == (1, 1)  # Anna's was never one
    assert _open(cli, tmp_path) == [("marco@example.com", "phone", "+390212345678", "+390287654321")]
