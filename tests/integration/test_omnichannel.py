"""Jobs across every platform sandbox at once (the demo's shop): consent, stock rules, alerts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.cli.demo import CREDENTIALS, DemoShop
from hub.config.loader import LoadedConfig, load_config
from hub.ops.notify import notify_after_run
from hub.state.store import Store
from hub.sync.engine import Engine


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoShop, LoadedConfig, Store]]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with DemoShop(tmp_path) as demo:
        config = load_config(demo.write_config())
        store = Store.open(config.database_url())
        yield demo, config, store
        store.close()


def _consent_everywhere(demo: DemoShop, email: str) -> dict[str, str]:
    shopify = next(c for c in demo.apps["shopify"].state.sandbox.customers if c.email == email)
    return {
        "crm": demo.apps["hubspot"].state.sandbox.contact(email)["properties"]["email_marketing"],
        "news": demo.apps["mailchimp"].state.sandbox.member(email)["status"],
        "shop": shopify.consent["marketingState"],
    }


def test_an_unsubscribe_in_mailchimp_reaches_crm_and_shopify_and_is_never_undone(shop) -> None:  # type: ignore[no-untyped-def]
    demo, config, store = shop
    marco = "marco.bianchi@example.com"
    assert _consent_everywhere(demo, marco) == {"crm": "subscribed", "news": "unsubscribed", "shop": "SUBSCRIBED"}

    (report,) = asyncio.run(Engine(config, store).sync(["customers"]))
    assert report.status == "ok", report.errors
    assert _consent_everywhere(demo, marco) == {"crm": "unsubscribed", "news": "unsubscribed", "shop": "UNSUBSCRIBED"}

    # Someone in the CRM flips the contact back to subscribed: the newsletter's unsubscribe (the
    # person's own choice) still wins, and the CRM is corrected again rather than Mailchimp.
    demo.apps["hubspot"].state.sandbox.change_contact(marco, email_marketing="subscribed")
    for _ in range(2):
        (report,) = asyncio.run(Engine(config, store).sync(["customers"]))
        assert report.status == "ok", report.errors
        assert _consent_everywhere(demo, marco)["news"] == "unsubscribed"
    assert _consent_everywhere(demo, marco) == {"crm": "unsubscribed", "news": "unsubscribed", "shop": "UNSUBSCRIBED"}
    assert store.mismatches.count_open("customers") == 0


def test_stock_from_the_wms_with_safety_stock_per_channel(shop) -> None:  # type: ignore[no-untyped-def]
    demo, config, store = shop
    wms = demo.apps["wms"].state.sandbox
    shopify, woo = demo.apps["shopify"].state.sandbox, demo.apps["woocommerce"].state.sandbox

    (report,) = asyncio.run(Engine(config, store).sync(["stock"]))
    assert report.status == "ok", report.errors
    assert report.pushed == {"shop": 2, "web": 1}
    # Shopify sells both locations as the WMS counts them; the web shop holds one back.
    assert shopify.available("JKT-ALPINE-L", "web-warehouse") == 0
    assert shopify.available("TEE-BASIC-M", "milano-store") == _wms_available(wms, "TEE-BASIC-M", "milano-store")
    assert woo.quantities()["JKT-ALPINE-L"] == 0
    assert woo.quantities()["TEE-BASIC-S"] == _wms_available(wms, "TEE-BASIC-S", "web-warehouse") - 1

    (again,) = asyncio.run(Engine(config, store).sync(["stock"]))
    assert again.pushed == {} and again.mismatches == 0


def _wms_available(wms, sku: str, code: str) -> int:  # type: ignore[no-untyped-def]
    warehouse = {c: w for w, c in wms.warehouses.items()}[code]
    return int(wms.stock[(sku, warehouse)].available)


def test_monitor_then_alert_digest_lists_each_mismatch_once(shop) -> None:  # type: ignore[no-untyped-def]
    demo, config, store = shop
    for _ in range(3):  # three runs while nothing is fixed: one digest, not three
        reports = asyncio.run(Engine(config, store, mode="monitor").sync())
        asyncio.run(notify_after_run(config, store, reports))
    assert len(demo.inbox.messages) == 1
    message = demo.inbox.messages[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert message["Subject"] == "[omnihub] 9 open (9 new)"
    for needle in ("JKT-ALPINE-M", "79.00", "89.00", "marco.bianchi@example.com", "unsubscribed"):
        assert needle in text and needle in html
    assert text.count("JKT-ALPINE-M") == 1
    for secret in CREDENTIALS.values():
        assert secret not in message.as_string()

    # Fixed: the next digest says what was resolved, once.
    asyncio.run(Engine(config, store, mode="enforce").sync())
    reports = asyncio.run(Engine(config, store, mode="monitor").sync())
    asyncio.run(notify_after_run(config, store, reports))
    assert len(demo.inbox.messages) == 2
    assert demo.inbox.messages[1]["Subject"] == "[omnihub] 0 open, 9 resolved"
    asyncio.run(notify_after_run(config, store, reports))
    assert len(demo.inbox.messages) == 2


def test_a_digest_that_cannot_be_delivered_waits_and_never_fails_the_sync(shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    demo, config, store = shop
    down = config.model.alerts.email.model_copy(update={"smtp_port": 1, "timeout_s": 2})  # type: ignore[union-attr]
    config.model.alerts.__dict__["email"] = down
    reports = asyncio.run(Engine(config, store, mode="monitor").sync())
    asyncio.run(notify_after_run(config, store, reports))
    assert [n["status"] for n in store.notifications.pending()] == ["pending"]
    assert demo.inbox.messages == []
    config.model.alerts.__dict__["email"] = down.model_copy(update={"smtp_port": demo.smtp_port})
    reports = asyncio.run(Engine(config, store, mode="monitor").sync())
    asyncio.run(notify_after_run(config, store, reports))
    assert store.notifications.pending() == []
    assert len(demo.inbox.messages) == 1  # the queued digest, not a second copy of the same news
    assert os.environ["OMNIHUB_DEMO_SHOPIFY_TOKEN"] not in demo.inbox.messages[0].as_string()
