"""``omnihub reservations`` and ``omnihub webhooks register|list`` as a user runs them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hub.model.orders import Order, OrderStatus
from hub.sandbox.kit import serve
from hub.state.store import Store
from tests.e2e.conftest import Cli

KEY, SECRET = "ck_" + "1" * 40, "cs_" + "2" * 40


def _config(tmp_path: Path, url: str, *, secret: bool = True) -> Path:
    hook = ', webhook_secret: "${WEB_HOOK_SECRET}"' if secret else ""
    path = tmp_path / "omnihub.yaml"
    path.write_text(
        f"""version: 1
hub: {{database: "sqlite:///state.db", webhook_url: "http://127.0.0.1:8765"}}
connectors:
  web: {{type: woocommerce, url: "{url}", consumer_key: "${{WC_KEY}}", consumer_secret: "${{WC_SECRET}}",
         location: web-warehouse{hook}}}
  wms: {{type: rest_wms, base_url: "https://wms.example/api", api_key: "${{WMS_KEY}}"}}
truth: {{stock: wms}}
jobs:
  stock: {{entity: stock, targets: [web], reservations: [web]}}
"""
    )
    return path


ENV = {"WC_KEY": KEY, "WC_SECRET": SECRET, "WMS_KEY": "wms-key-123456", "WEB_HOOK_SECRET": "hook-secret"}


def test_reservations_lists_the_ledger_for_people_and_machines(cli: Cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "https://shop.example")
    empty = cli("--config", str(config), "reservations", env=ENV)
    assert empty.returncode == 0 and "nothing reserved" in empty.stdout
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    now = datetime(2026, 11, 30, 9, tzinfo=UTC)
    lines = ({"sku": "JKT-M", "quantity": 2},)
    store.orders.apply(
        [
            Order(
                channel="web",
                order_id="1042",
                status=OrderStatus.open,
                created_at=now,
                updated_at=now,
                lines=lines,
                location="web-warehouse",
            ),  # type: ignore[arg-type]
            Order(
                channel="web",
                order_id="1043",
                status=OrderStatus.cancelled,
                created_at=now,
                updated_at=now,
                lines=lines,
                location="web-warehouse",
            ),  # type: ignore[arg-type]
        ]
    )
    store.close()
    listed = cli("--config", str(config), "reservations", "--json", env=ENV)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {
            "key": "JKT-M@web-warehouse",
            "reserved": 2,
            "orders": [{"connector": "web", "order": "1042", "quantity": 2, "pickup": False}],
        }
    ]
    table = cli("--config", str(config), "reservations", env={**ENV, "COLUMNS": "80"})
    assert "JKT-M@web-warehouse" in table.stdout and "web 1042 x2" in table.stdout


def test_webhooks_register_subscribes_each_topic_once_and_list_shows_them(cli: Cli, tmp_path: Path) -> None:
    from connectors.woocommerce.sandbox import create_app

    with serve(create_app(consumer_key=KEY, consumer_secret=SECRET)) as served:
        config = _config(tmp_path, served.url)
        first = cli("--config", str(config), "webhooks", "register", "--json", env=ENV)
        again = cli("--config", str(config), "webhooks", "register", "web", "--json", env=ENV)
        listed = cli("--config", str(config), "webhooks", "list", "--json", env=ENV)
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert {r["topic"] for r in created} == {"order.created", "order.updated", "product.updated"}
    assert all(r["created"] and r["url"] == "http://127.0.0.1:8765/webhooks/web" for r in created)
    kept = json.loads(again.stdout)
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in created)
    assert not any(r["created"] for r in kept)
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == sorted(r["id"] for r in created)


def test_webhooks_register_without_a_secret_or_a_url_says_what_to_set(cli: Cli, tmp_path: Path) -> None:
    config = _config(tmp_path, "https://shop.example", secret=False)
    unsigned = cli("--config", str(config), "webhooks", "register", env=ENV)
    assert unsigned.returncode == 2 and "set webhook_secret on web" in unsigned.stderr
    text = config.read_text().replace(', webhook_url: "http://127.0.0.1:8765"', "")
    config.write_text(text)
    nowhere = cli("--config", str(config), "webhooks", "register", env=ENV)
    assert nowhere.returncode == 2 and "--url" in nowhere.stderr
    wms_only = cli("--config", str(config), "webhooks", "register", "wms", "--url", "https://hub.example", env=ENV)
    assert wms_only.returncode == 2 and "receives no webhooks" in wms_only.stderr
