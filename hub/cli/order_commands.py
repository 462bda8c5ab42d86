"""``omnihub reservations`` (the ledger) and ``omnihub webhooks register|list`` (subscriptions on the platforms).

``reservations`` reads only the state store, like the other listings; ``webhooks`` talks to the
platforms with the connectors' own credentials. Both print a table for people and, with
``--json``, the list the contract describes (``docs/contract.md``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import typer
from rich.table import Table

from hub.cli.common import EXIT_FAILED, err, fail, load, load_state, open_store, out, styled
from hub.config.loader import LoadedConfig
from hub.errors import OmnihubError
from hub.plugins.contract import secret_value
from hub.plugins.registry import connector_class
from hub.plugins.webhooks import WebhookSubscription
from hub.redact import redact
from hub.sync.connectors import Connectors

__all__ = ["reservations", "webhooks_app"]


def reservations(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the units open orders reserve, by SKU@location, with the orders holding them."""
    store = open_store(load_state())
    try:
        rows = store.orders.ledger()
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    if not rows:
        out.print("nothing reserved: no open order is known (stock jobs pull orders of their `reservations:`)")
        return
    table = Table()
    table.add_column("SKU@location", overflow="fold")
    table.add_column("reserved", justify="right")
    table.add_column("orders", overflow="fold")
    for row in rows:
        held = ", ".join(
            f"{o['connector']} {o['order']} x{o['quantity']}{' (pickup)' if o['pickup'] else ''}" for o in row["orders"]
        )
        table.add_row(row["key"], str(row["reserved"]), held)
    out.print(table)


webhooks_app = typer.Typer(help="Webhook subscriptions on the platforms.", no_args_is_help=True)


def _receivers(config: LoadedConfig, connector: str | None) -> list[str]:
    """The connectors that receive webhooks (``connector`` alone when named)."""
    able = [n for n, s in config.connectors.items() if connector_class(s.type).webhook_parser is not None]
    if connector is None:
        if not able:
            fail("no configured connector receives webhooks (Shopify and WooCommerce do)")
        return able
    if connector not in config.connectors:
        fail(f"unknown connector {connector!r}; defined: {', '.join(config.connectors)}")
    if connector not in able:
        fail(f"connector {connector!r} ({config.connectors[connector].type}) receives no webhooks")
    return [connector]


def _as_rows(connector: str, subscriptions: list[WebhookSubscription]) -> list[dict[str, Any]]:
    return [
        {"connector": connector, "id": s.id, "topic": s.topic, "url": s.url, "status": s.status, "created": s.created}
        for s in subscriptions
    ]


def _print(rows: list[dict[str, Any]], as_json: bool, *, registering: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    if not rows:
        out.print("no webhook subscriptions")
        return
    table = Table()
    for heading in ("connector", "topic", "status", "url", "id"):
        table.add_column(heading, overflow="fold")
    if registering:
        table.add_column("now")
    for row in rows:
        cells = [row["connector"], row["topic"], row["status"], row["url"], row["id"]]
        if registering:
            cells.append("created" if row["created"] else "kept")
        table.add_row(*cells)
    out.print(table)


async def _each(config: LoadedConfig, names: list[str], call: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """``call(connector)`` on each connector, opened and closed; errors are collected, not raised."""
    connectors = Connectors(config)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for name in names:
        conn = connectors.build(name)
        try:
            async with conn:
                rows += _as_rows(name, await call(name, conn))
        except NotImplementedError:
            errors.append(f"{name}: this connector cannot manage webhook subscriptions")
        except OmnihubError as exc:
            errors.append(f"{name}: {redact(exc)}")
    return rows, errors


@webhooks_app.command("register")
def register(
    connector: str = typer.Argument(None, help="Only this connector (default: every one that receives webhooks)."),
    url: str = typer.Option(
        None, "--url", help="Where platforms reach `omnihub run --http-port` (default: hub.webhook_url)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """Subscribe <url>/webhooks/<connector> to the topics the hub follows (orders, stock, products)."""
    config = load()
    base = (url or config.hub.webhook_url or "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        fail("say where the platforms reach the daemon: --url https://hub.example.com or hub.webhook_url in the config")
    names = _receivers(config, connector)
    unsigned = [n for n in names if secret_value(getattr(config.connectors[n], "webhook_secret", None)) is None]
    if unsigned:
        fail(
            f'set webhook_secret on {", ".join(unsigned)} first (webhook_secret: "${{...}}"): '
            "the daemon refuses every delivery it cannot verify"
        )

    async def call(name: str, conn: Any) -> list[WebhookSubscription]:
        secret = secret_value(getattr(config.connectors[name], "webhook_secret", None))
        result: list[WebhookSubscription] = await conn.register_webhooks(f"{base}/webhooks/{name}", secret)
        return result

    rows, errors = asyncio.run(_each(config, names, call))
    _print(rows, as_json, registering=True)
    _exit(errors)


@webhooks_app.command("list")
def list_subscriptions(
    connector: str = typer.Argument(None, help="Only this connector (default: every one that receives webhooks)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List the webhook subscriptions each platform holds (the hub's and any other)."""
    config = load()

    async def call(name: str, conn: Any) -> list[WebhookSubscription]:
        result: list[WebhookSubscription] = await conn.list_webhooks()
        return result

    rows, errors = asyncio.run(_each(config, _receivers(config, connector), call))
    _print(rows, as_json, registering=False)
    _exit(errors)


def _exit(errors: list[str]) -> None:
    for error in errors:
        err.print(styled("error:", "bold red", error), soft_wrap=True)
    if errors:
        raise typer.Exit(EXIT_FAILED)
