"""The digest people act on, rendered from a real store and config: worst first, with the product's
title, the currency, the difference, who is the truth and who the channel, a link into the
channel's admin, what omnihub does next, failed changes, and a plain part within 78 columns."""

from __future__ import annotations

import asyncio
import email
import json
import re
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest

from hub.config.loader import LoadedConfig, load_config
from hub.ops.digest_mail import TEXT_WIDTH
from hub.ops.notify import notify_after_run
from hub.state.store import Store
from hub.sync.report import JobReport

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SHOPIFY_VARIANT = "https://acme-outdoor.myshopify.com/admin/products/8123456789012/variants/44123456789012"
WOO_PRODUCT = "https://shop.example.com/wp-admin/post.php?post=30&action=edit"

CONFIG = """version: 1
hub: {database: "sqlite:///state.db"}
connectors:
  wms: {type: csv, path: wms.csv}
  shop:
    type: shopify
    shop: acme-outdoor.myshopify.com
    access_token: shpat_test_token_0123456789
    locations: {"gid://shopify/Location/1": milano}
  web:
    type: woocommerce
    url: https://shop.example.com
    consumer_key: ck_test_0123456789
    consumer_secret: cs_test_0123456789
    location: milano
truth: {products: wms, prices: wms, stock: wms}
jobs:
  stock: {entity: stock, targets: [shop], mode: enforce}
  prices: {entity: prices, targets: [web], mode: monitor}
alerts:
  outbox_dir: digests
"""


def _finding(key: str, field: str, connector: str, expected: str | None, actual: str | None) -> dict[str, Any]:
    return {
        "key": key,
        "grp": key.partition("@")[0],
        "field": field,
        "connector": connector,
        "expected": expected,
        "actual": actual,
        "detail": None,
    }


@pytest.fixture
def hub(tmp_path: Path) -> tuple[LoadedConfig, Store]:
    (tmp_path / "omnihub.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "wms.csv").write_text("sku,price,currency\n", encoding="utf-8")
    config = load_config(tmp_path / "omnihub.yaml")
    store = Store.open(config.database_url())
    products = [("JKT-ALPINE-M", "JKT-ALPINE-M", 1, json.dumps({"sku": "JKT-ALPINE-M", "title": "Alpine Jacket M"}))]
    store.observations.write("wms", "products", products, None)
    price = {"sku": "JKT-ALPINE-M", "amount": "79.00", "currency": "EUR"}
    store.observations.write("wms", "prices", [("JKT-ALPINE-M", "JKT-ALPINE-M", 2, json.dumps(price))], None)
    store.links.write(
        "shop",
        "prices",
        [
            (
                "JKT-ALPINE-M",
                {
                    "product_id": "gid://shopify/Product/8123456789012",
                    "variant_id": "gid://shopify/ProductVariant/44123456789012",
                },
            )
        ],
    )
    store.links.write(
        "shop", "stock", [("JKT-ALPINE-M@milano", {"inventory_item_id": "gid://shopify/InventoryItem/5"})]
    )
    store.links.write("web", "prices", [("JKT-ALPINE-M", {"product_id": "31", "parent_id": "30"})])
    earlier = NOW - timedelta(hours=2)
    store.mismatches.save(
        "prices", "prices", [_finding("JKT-ALPINE-M", "amount", "web", "79.00", "89.00")], [], earlier
    )
    store.mismatches.save(
        "stock",
        "stock",
        [
            _finding("JKT-ALPINE-M@milano", "available", "shop", "5", "9"),  # shows more: could oversell
            _finding("JKT-ALPINE-S@milano", "available", "shop", "7", "4"),
        ],
        [],
        earlier,
    )
    yield config, store
    store.close()


def _digest(
    config: LoadedConfig, store: Store, reports: list[JobReport], now: datetime = NOW
) -> email.message.EmailMessage:
    eml = asyncio.run(notify_after_run(config, store, reports, now=now))
    assert eml is not None
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def _reports() -> list[JobReport]:
    stock = JobReport("stock", "stock", mode="enforce", mismatches=2)
    stock.fail("shop", "JKT-ALPINE-S@milano", ["available"], "THROTTLED", "rate limited by Shopify")
    return [stock, JobReport("prices", "prices", mode="monitor", mismatches=1)]


def test_the_subject_counts_open_new_and_failed_changes(hub: tuple[LoadedConfig, Store]) -> None:
    message = _digest(*hub, _reports())
    assert message["Subject"] == "[omnihub] 3 open (3 new), 1 failed change"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"


def test_each_line_says_what_who_how_much_where_and_what_next(hub: tuple[LoadedConfig, Store]) -> None:
    message = _digest(*hub, _reports())
    plain = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    words = re.sub(r"[ \n]+", " ", plain)  # lines joined again; the no-break spaces stay
    # worst first: the oversell risk, then other stock, then prices, then what did not land
    order = [plain.index(h) for h in ("== Could oversell (1)", "== Stock (1)", "== Prices (1)", "== Failed changes")]
    assert order == sorted(order)
    assert "* JKT-ALPINE-M@milano Alpine Jacket M [new]" in words
    assert "available: shop (Shopify) shows 9, wms (CSV) has 5 (+4\u00a0units)" in words
    assert "will be corrected at the next run" in words
    assert "amount: web (WooCommerce) shows 89.00\u00a0€, wms (CSV) has 79.00\u00a0€ (+10.00\u00a0€)" in words
    assert "reported only: mode monitor" in words
    assert "not corrected: THROTTLED: rate limited by Shopify" in words  # the stock level that failed
    assert "- shop: JKT-ALPINE-S@milano (available): THROTTLED: rate limited by Shopify" in words
    assert "  " + SHOPIFY_VARIANT in plain.splitlines()  # a link stands alone on its line, whole
    assert WOO_PRODUCT in plain
    assert f'href="{SHOPIFY_VARIANT}"' in html and f'href="{WOO_PRODUCT.replace("&", "&amp;")}"' in html
    for needle in (
        "Alpine Jacket M",
        "+4\u00a0units",
        "+10.00\u00a0€",
        "wms (CSV)",
        "shop (Shopify)",
        "Could oversell",
    ):
        assert needle in html


def test_the_plain_part_stays_within_78_columns(hub: tuple[LoadedConfig, Store]) -> None:
    reports = _reports()
    reports[1].warnings.append("a long warning " * 20)
    reports[1].errors.append("an error message that goes on and on " * 5)
    plain = _digest(*hub, reports).get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    too_long = [
        line for line in plain.splitlines() if len(line) > TEXT_WIDTH and not line.strip().startswith("https://")
    ]
    assert too_long == []
    assert max(len(line) for line in plain.splitlines()) > 60  # the lines are filled, not chopped short


def test_resolved_says_how_it_closed(hub: tuple[LoadedConfig, Store]) -> None:
    config, store = hub
    _digest(config, store, _reports())
    (stock_id,) = [r["id"] for r in store.mismatches.rows() if r["key"] == "JKT-ALPINE-M@milano"]
    store.mismatches.save("stock", "stock", [], [stock_id], NOW, resolution="pushed")
    message = _digest(config, store, [], now=NOW + timedelta(hours=1))
    assert message["Subject"] == "[omnihub] 2 open, 1 resolved"  # the two still open were mailed an hour ago
    words = " ".join(message.get_body(preferencelist=("plain",)).get_content().split())  # type: ignore[union-attr]
    assert "== Resolved (1) ==" in words and "corrected by omnihub" in words
