"""``omnihub demo``: a whole omnichannel shop on this machine, drifted, then reconciled.

Starts every platform sandbox (Shopify, WooCommerce, a WMS, HubSpot, Mailchimp) on free loopback
ports, each seeded with the same small clothing store plus deliberate drift (a jacket at 79 EUR on
the web site and 89 EUR in the Shopify app, a size the site shows in stock while the warehouse
has none, a customer who unsubscribed in Mailchimp but is still subscribed in the CRM). Then:

1. runs every job in monitor mode: the mismatches are listed and the alert digest is mailed to a
   local SMTP server, whose capture is written as ``.eml`` and ``.html``;
2. runs them in enforce mode: the corrections are pushed;
3. runs them once more in monitor mode: nothing is left open;
4. shows a sale on one channel reaching the others: the daemon's webhook receiver is started in
   this process, WooCommerce is subscribed to it, and a paid order placed on WooCommerce reaches
   Shopify through the signed delivery and the stock run it triggers (no scheduled run). The SKU,
   both channels' quantities before and after and the milliseconds Shopify took are printed (and
   written to ``demo-sale.json``), then the reservation ledger that now holds the order.

Everything it starts runs in this process and stops with it; the files it writes stay in the
chosen folder (the config it used, the database, the e-mail, the sale).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.cli.common import fit_table
from hub.cli.listings import mismatch_layouts
from hub.config.loader import LoadedConfig, load_config
from hub.ops.lifecycle import Daemon
from hub.ops.notify import notify_after_run
from hub.sandbox.kit import serve
from hub.sandbox.plugin import GROUP as SANDBOX_GROUP
from hub.sandbox.plugin import SandboxPlugin
from hub.sandbox.seed import Catalogue, demo_store
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

__all__ = ["ROLES", "DemoShop", "demo_credentials", "demo_plugins", "run_demo"]

#: The parts of the demo store, by connector name in the demo config; each sandbox plugin says
#: which one it plays (``SandboxPlugin.demo_name``). In the order they are started and written.
ROLES = ("shop", "web", "wms", "crm", "news")


def demo_plugins() -> dict[str, SandboxPlugin]:
    """The installed sandbox plugins that play a part of the demo store, by entry point name."""
    plugins = {ep.name: ep.load() for ep in entry_points(group=SANDBOX_GROUP)}
    playing = {name: p for name, p in plugins.items() if isinstance(p, SandboxPlugin) and p.demo_name in ROLES}
    missing = set(ROLES) - {p.demo_name for p in playing.values()}
    if missing:
        raise RuntimeError(f"no installed sandbox plays the demo's {', '.join(sorted(missing))}")
    return dict(sorted(playing.items(), key=lambda item: ROLES.index(str(item[1].demo_name))))


#: The secret the hub gives WooCommerce to sign its webhook deliveries with (``webhook_secret`` of
#: ``web``): the environment variable the demo config refers to, and the value the demo sets.
WEB_WEBHOOK_SECRET = ("OMNIHUB_DEMO_WC_WEBHOOK_SECRET", "whsec_demo_woocommerce_00000000")


def demo_credentials() -> dict[str, str]:
    """Every sandbox's credentials and the hub's WooCommerce webhook secret, as the environment
    variables the demo config refers to."""
    sandboxes = {k: v for p in demo_plugins().values() for k, v in p.credentials.items()}
    return {**sandboxes, WEB_WEBHOOK_SECRET[0]: WEB_WEBHOOK_SECRET[1]}


def __getattr__(name: str) -> Any:
    # CREDENTIALS is computed on first use: importing this module loads no connector.
    if name == "CREDENTIALS":
        return demo_credentials()
    raise AttributeError(name)


def drifted_catalogues(now: datetime) -> dict[str, Catalogue]:
    """The demo store as each part of it holds it (by ``ROLES`` name), with the drift the demo then repairs."""
    base = demo_store()
    shop, web, wms, crm, news = (base.copy() for _ in range(5))
    # Prices: Shopify is the truth; the web site kept last season's price of one jacket and
    # lost the struck-through price of a tee.
    web.item("JKT-ALPINE-M").price = "79.00"
    shop.item("TEE-BASIC-S").compare_at = "24.90"
    web.item("TEE-BASIC-S").compare_at = None
    # Stock: the WMS is the truth. The warehouse sold out of the large jacket; both shops still
    # show it. The Milano store shows two tees too many.
    wms.stock["JKT-ALPINE-L"]["web-warehouse"] = 0
    shop.stock["JKT-ALPINE-L"]["web-warehouse"] = 4
    shop.stock["TEE-BASIC-M"]["milano-store"] += 2
    # The web shop shows the warehouse stock minus its safety stock of one (a rule, not a drift).
    for sku, levels in web.stock.items():
        levels["web-warehouse"] = max(0, wms.stock[sku]["web-warehouse"] - 1)
    web.stock["JKT-ALPINE-L"]["web-warehouse"] = 4
    # Customers: the CRM is the truth for the profile. Marco unsubscribed from the newsletter
    # this morning; the CRM and Shopify still say subscribed. Giulia's phone changed in the CRM.
    marco = news.customer("marco.bianchi@example.com")
    marco.consent, marco.consent_updated_at = "unsubscribed", now
    crm.customer("giulia.rossi@example.com").phone = "+393479876543"
    return {"shop": shop, "web": web, "wms": wms, "crm": crm, "news": news}


class _Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, _class=EmailMessage, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoShop:
    """Every sandbox of the demo, served on loopback, and the config that points at them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.urls: dict[str, str] = {}
        self.apps: dict[str, Any] = {}
        #: Each part's entry of ``connectors:`` (by ``ROLES`` name), from its sandbox plugin.
        self.blocks: dict[str, dict[str, Any]] = {}
        self.inbox = _Inbox()
        self.smtp_port = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> DemoShop:
        from aiosmtpd.controller import Controller

        catalogues = drifted_catalogues(datetime.now(UTC))
        try:
            for name, plugin in demo_plugins().items():
                app = plugin.app(catalogues[str(plugin.demo_name)])
                served = self._stack.enter_context(serve(app))
                self.urls[name] = served.url
                self.apps[name] = app
                self.blocks[str(plugin.demo_name)] = plugin.connector_block(served.url, app)
            self.smtp_port = _free_port()
            controller = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port)
            controller.start()
            self._stack.callback(controller.stop)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def write_config(self) -> Path:
        """The hub config for these sandboxes (secrets as ``${ENV}`` references, as in production)."""
        connectors = {name: self.blocks[name] for name in ROLES}
        connectors["web"] = {**connectors["web"], "webhook_secret": f"${{{WEB_WEBHOOK_SECRET[0]}}}"}
        blocks = {"connectors": connectors}
        connectors = yaml.safe_dump(blocks, sort_keys=False, allow_unicode=True, width=120)
        text = f"""# Written by `omnihub demo`: the hub's config for the demo sandboxes (their ports change per run).
version: 1
hub:
  database: sqlite:///omnihub-demo.db
  currency: EUR
  timezone: Europe/Rome
{connectors}truth:
  prices: shop
  stock: wms
  customers: crm
jobs:
  stock:
    entity: stock
    targets: [shop, web]
    mode: enforce
    schedule: "*/5 * * * *"
    # The open orders of both shops hold their units until they ship (webhooks bring them early).
    reservations: [shop, web]
    rules:
      web: {{safety_stock: 1}}
  prices: {{entity: prices, targets: [web], mode: enforce, schedule: "every 15m"}}
  # The CRM is also a target: an unsubscribe made in Mailchimp must reach it.
  customers: {{entity: customers, targets: [crm, news, shop], mode: enforce, schedule: "0 * * * *"}}
alerts:
  email: {{smtp_host: 127.0.0.1, smtp_port: {self.smtp_port}, sender: omnihub@demo.invalid,
          recipients: [ops@demo.invalid], timeout_s: 10}}
  thresholds: {{price: "0.01", stock: 0}}
  renotify_after: 24h
"""
        path = self.workdir / "omnihub.yaml"
        path.write_text(text, encoding="utf-8")
        return path


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _mismatch_table(store: Store, title: str, width: int, zone: Any) -> tuple[Table, list[str]]:
    """The mismatches as ``omnihub mismatches --all`` shows them: keys whole at any width, the less
    important columns left out (and named) on a narrow terminal rather than keys folded."""
    rows = [dict(row) for row in store.mismatches.rows(include_resolved=True)]
    return fit_table(rows, mismatch_layouts(zone, show_all=True, one_entity=False), width, title=title)


def _summary(phases: list[tuple[str, list[JobReport]]]) -> Table:
    """Open mismatches per job after each phase, and what enforce pushed."""
    summary = Table(title="Summary: open mismatches after each phase")
    summary.add_column("job")
    for title, _ in phases:
        summary.add_column(title, justify="right")
    summary.add_column("pushed in enforce")
    for index, report in enumerate(phases[0][1]):
        pushed = phases[1][1][index].pushed
        summary.add_row(
            report.name,
            *(str(reports[index].mismatches) for _, reports in phases),
            ", ".join(f"{k} {v}" for k, v in pushed.items()) or "-",
        )
    return summary


def _show_digest(messages: list[EmailMessage], workdir: Path, console: Console) -> bool:
    """Write the first alert e-mail received as ``.eml`` and ``.html`` and say where; False if none came."""
    if not messages:
        console.print(Text("no alert e-mail was received", style="red"))
        return False
    from hub.ops.delivery import write_digest_files

    eml, html = write_digest_files(messages[0], workdir, "alert-digest")
    # Paths are printed whole (soft_wrap): a path cut by a hard line break cannot be copied.
    console.print(
        Text(f"The alert e-mail the ops team would get: {eml}\n  open it in a browser: {html}"), soft_wrap=True
    )
    return True


#: How long the sale may take to reach Shopify before the demo says it did not, and how often it looks.
SALE_DEADLINE_S = 10.0
SALE_POLL_S = 0.02
#: Where the sale is shipped from: the WooCommerce store's warehouse, which Shopify sells from too.
SALE_LOCATION = "web-warehouse"


@dataclass
class Sale:
    """A paid WooCommerce order and what each channel showed of its SKU before and after it."""

    sku: str = ""
    quantity: int = 0
    order_id: str = ""
    woocommerce_before: int | None = None
    woocommerce_after: int | None = None
    shopify_before: int | None = None
    shopify_after: int | None = None
    #: Milliseconds from placing the order to Shopify showing it; None: not within the deadline.
    reached_shopify_ms: int | None = None
    ledger: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _sale_product(shop: DemoShop) -> dict[str, Any] | None:
    """A simple, stock-managed WooCommerce product with a few units that Shopify sells from the same warehouse."""
    woo, shopify = shop.apps["woocommerce"].state.sandbox, shop.apps["shopify"].state.sandbox
    for product in sorted(woo.products.values(), key=lambda p: p["id"]):
        if product["type"] != "simple" or not product["manage_stock"] or not product["sku"]:
            continue
        if (product["stock_quantity"] or 0) < 2:
            continue
        with contextlib.suppress(KeyError, LookupError):
            if shopify.available(product["sku"], SALE_LOCATION) >= 2:
                return dict(product)
    return None


async def _sell_on_woocommerce(config: LoadedConfig, store: Store, shop: DemoShop, quantity: int = 1) -> Sale:
    """Place a paid order on WooCommerce with the daemon's webhook receiver listening; see it reach Shopify."""
    sale = Sale(quantity=quantity)
    runs: list[JobReport] = []

    async def run_job(name: str) -> JobReport:
        report = await Engine(config, store).run_job(name)
        runs.append(report)
        return report

    port = _free_port()
    daemon = Daemon(config, run_job, http_port=port, stop_timeout_s=5, store=store)
    await daemon.start()
    woo = shop.apps["woocommerce"].state.sandbox
    shopify = shop.apps["shopify"].state.sandbox
    product: dict[str, Any] | None = None
    try:
        web = Engine(config, store).connector("web")
        async with web:
            await web.register_webhooks(f"http://127.0.0.1:{port}/webhooks/web", WEB_WEBHOOK_SECRET[1])
            product = _sale_product(shop)
            if product is None:
                sale.errors.append("no WooCommerce product with stock that Shopify also sells from the web warehouse")
                return sale
            sale.sku = product["sku"]
            sale.woocommerce_before = product["stock_quantity"]
            sale.shopify_before = shopify.available(sale.sku, SALE_LOCATION)
            expected = sale.shopify_before - quantity
            started = time.monotonic()
            order = {"set_paid": True, "line_items": [{"product_id": product["id"], "quantity": quantity}]}
            reply = await web.client.transport.post("orders", json=order)  # type: ignore[attr-defined]
            if reply.status != 201:
                sale.errors.append(f"WooCommerce refused the order: HTTP {reply.status}")
                return sale
            sale.order_id = str(reply.data.get("id", ""))
            while time.monotonic() - started < SALE_DEADLINE_S:
                if shopify.available(sale.sku, SALE_LOCATION) == expected:
                    sale.reached_shopify_ms = round((time.monotonic() - started) * 1000)
                    break
                await asyncio.sleep(SALE_POLL_S)
            else:
                sale.errors.append(f"the sale did not reach Shopify within {SALE_DEADLINE_S:.0f} s")
    finally:
        daemon.request_stop()
        await daemon.stop()  # the run the delivery started finishes first
        if product is not None:
            sale.woocommerce_after = woo.products[product["id"]]["stock_quantity"]
            sale.shopify_after = shopify.available(sale.sku, SALE_LOCATION)
    sale.errors.extend(f"{r.name} (webhook run): {'; '.join(r.errors)}" for r in runs if r.status != "ok")
    sale.ledger = store.orders.ledger()
    if sale.order_id and not any(o["order"] == sale.order_id for row in sale.ledger for o in row["orders"]):
        sale.errors.append(f"the reservation ledger does not hold WooCommerce order {sale.order_id}")
    return sale


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _show_sale(sale: Sale, console: Console) -> None:
    """The sale as a short table (it fits 80 columns), then the reservation ledger."""
    table = Table(title="A sale on WooCommerce reaching Shopify by webhook")
    for column in ("SKU", "sold", "WooCommerce", "Shopify", "reached Shopify"):
        table.add_column(column, overflow="fold", justify="left" if column == "SKU" else "right")
    if sale.reached_shopify_ms is not None:
        reached = Text(f"{sale.reached_shopify_ms} ms", style="green")
    else:
        reached = Text(f"not within {SALE_DEADLINE_S:.0f} s", style="red")
    table.add_row(
        Text(sale.sku or "-"),
        str(sale.quantity),
        f"{_count(sale.woocommerce_before)} -> {_count(sale.woocommerce_after)}",
        f"{_count(sale.shopify_before)} -> {_count(sale.shopify_after)}",
        reached,
    )
    console.print(table)
    if not sale.ledger:
        console.print(Text("Reservation ledger: empty (the order was not recorded)", style="red"))
    for row in sale.ledger:
        holders = ", ".join(f"{o['connector']} order {o['order']}" for o in row["orders"])
        console.print(Text(f"Reservation ledger: {row['key']} {row['reserved']} reserved by {holders}"), soft_wrap=True)


def run_demo(workdir: Path, console: Console | None = None) -> int:
    """Run the whole demo; return 0 when every phase completed and nothing is left open."""
    console = console or Console()
    started = time.monotonic()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("omnihub-demo.db", "omnihub-demo.db-wal", "omnihub-demo.db-shm"):
        (workdir / stale).unlink(missing_ok=True)
    with _environment(demo_credentials()), DemoShop(workdir) as shop:
        config_path = shop.write_config()
        config = load_config(config_path)
        store = Store.open(config.database_url())
        where = f": {len(shop.apps)} sandboxes on 127.0.0.1, config written to {config_path}"
        console.print(Text.assemble(("omnihub demo", "bold"), where), soft_wrap=True)

        phases: list[tuple[str, list[JobReport]]] = []
        for title, mode in (("monitor", "monitor"), ("enforce", "enforce"), ("check", "monitor")):
            reports = asyncio.run(Engine(config, store, mode=mode).sync())
            phases.append((title, reports))
            if title == "monitor":
                drifted, left_out = _mismatch_table(
                    store,
                    "What drifted (monitor mode: reported, nothing changed)",
                    console.width,
                    ZoneInfo(config.hub.timezone),
                )
                console.print(drifted)
                if left_out:
                    console.print(Text(f"not shown at this width: {', '.join(left_out)}", style="dim"))
                asyncio.run(notify_after_run(config, store, reports))
        sale = asyncio.run(_sell_on_woocommerce(config, store, shop))
        store.close()
    (workdir / "demo-sale.json").write_text(json.dumps(asdict(sale), indent=2) + "\n", encoding="utf-8")

    console.print(_summary(phases))
    _show_sale(sale, console)

    failures = [
        f"{r.name} ({title}): {'; '.join(r.errors)}" for title, reports in phases for r in reports if r.status != "ok"
    ]
    failures.extend(f"sale: {error}" for error in sale.errors)
    for failure in failures:
        console.print(Text.assemble(("failed:", "red"), f" {failure}"), soft_wrap=True)
    if not _show_digest(shop.inbox.messages, workdir, console):
        failures.append("no alert e-mail reached the local SMTP server")
    left_open = sum(r.mismatches for r in phases[-1][1])
    console.print(
        Text(
            f"Done in {time.monotonic() - started:.1f} s; {left_open} mismatches left open. "
            f"Re-run a step with: omnihub --config {config_path} mismatches --all (the sandboxes are gone "
            f"now, the database stays)."
        ),
        soft_wrap=True,
    )
    return 0 if not failures and left_open == 0 else 1
