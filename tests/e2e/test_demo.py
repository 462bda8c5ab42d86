"""``omnihub demo`` from the command line: finishes, converges, names the e-mail it wrote, and shows
a paid WooCommerce order reaching Shopify through the webhook receiver, held in the reservation ledger."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import time
from pathlib import Path

from rich.console import Console

from hub.cli.demo import CREDENTIALS, Sale, _show_sale
from hub.state.store import Store
from tests.e2e.conftest import Cli


def test_demo_runs_to_the_end_and_writes_the_alert_email(cli: Cli, tmp_path: Path) -> None:
    started = time.monotonic()
    # A folder name rich would read as a markup tag: the paths printed must keep it.
    # At 80 columns, as a first terminal often is: tables wrap their values, they never cut them.
    result = cli("demo", "--dir", "out[demo]", env={"COLUMNS": "80"}, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    output = result.stdout
    assert "0 mismatches left open" in output
    assert "[/]" not in output and "[bold]" not in output and "[red]" not in output
    assert "…" not in output, output
    # the drift table keeps every key whole on one line (columns are left out and named instead)
    drift = output[output.index("What drifted") : output.index("Summary:")]
    assert all(len(line) <= 80 for line in drift.splitlines())
    for key in ("JKT-ALPINE-L@web-warehouse", "marco.bianchi@example.com", "TEE-BASIC-M@milano-store"):
        assert f" {key} " in drift, drift
    assert "not shown at this width:" in drift
    eml = Path(re.search(r"would get: (\S+\.eml)", output).group(1))  # type: ignore[union-attr]
    html = Path(re.search(r"open it in a browser: (\S+\.html)", output).group(1))  # type: ignore[union-attr]
    assert eml == tmp_path / "out[demo]" / "alert-digest.eml" and html.exists()
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "JKT-ALPINE-M" in body and "marco.bianchi@example.com" in body
    assert "<table" in html.read_text()
    for secret in CREDENTIALS.values():
        assert secret not in output + result.stderr + eml.read_text() + html.read_text()
        assert secret not in (tmp_path / "out[demo]" / "omnihub.yaml").read_text()  # ${ENV} references only

    assert_the_sale_reached_shopify(output, tmp_path / "out[demo]")


def assert_the_sale_reached_shopify(output: str, workdir: Path) -> None:
    sale = json.loads((workdir / "demo-sale.json").read_text())
    assert sale["errors"] == [], sale
    sku, sold, ms = sale["sku"], sale["quantity"], sale["reached_shopify_ms"]
    assert sold >= 1 and ms is not None and 0 <= ms < 3000, sale
    assert sale["shopify_after"] == sale["shopify_before"] - sold, sale
    assert sale["woocommerce_after"] == sale["woocommerce_before"] - sold, sale  # taken once, not twice
    # the printed table says the same, within 80 columns
    row = next(line for line in output.splitlines() if sku in line and " ms " in line)
    assert f"{sale['woocommerce_before']} -> {sale['woocommerce_after']}" in row, row
    assert f"{sale['shopify_before']} -> {sale['shopify_after']}" in row and f"{ms} ms" in row, row
    table = output[output.index("A sale on WooCommerce") : output.index("Reservation ledger")]
    assert all(len(line) <= 80 for line in table.splitlines()), table
    # the ledger holds the order, as printed and in the database the demo leaves behind
    order = sale["order_id"]
    assert f"Reservation ledger: {sku}@web-warehouse {sold} reserved by web order {order}" in output
    store = Store.open(f"sqlite:///{workdir / 'omnihub-demo.db'}")
    try:
        held = [(o.channel, o.order_id, o.location, o.lines) for o in store.orders.open_orders()]
    finally:
        store.close()
    assert held == [("web", order, "web-warehouse", ((sku, sold),))]
    config = (workdir / "omnihub.yaml").read_text()
    assert "reservations: [shop, web]" in config and "webhook_secret: ${OMNIHUB_DEMO_WC_WEBHOOK_SECRET}" in config


def test_a_sale_that_did_not_reach_shopify_is_said_in_red_and_never_timed() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system="standard")
    _show_sale(
        Sale(
            sku="CAP-WOOL",
            quantity=1,
            woocommerce_before=8,
            woocommerce_after=7,
            shopify_before=9,
            shopify_after=9,
            errors=["the sale did not reach Shopify within 10 s"],
        ),
        console,
    )
    printed = out.getvalue()
    assert "not within 10 s" in printed and "\x1b[31m" in printed
    assert " ms " not in printed
    assert "Reservation ledger: empty" in printed
