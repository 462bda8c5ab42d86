"""HubSpot contacts at volume: full pull, push of a drifted fraction, final state checked.

    python benchmarks/sync_sandbox.py --platform hubspot --customers 50000

The measured write is the drifted fraction (``--drift``) as batch upserts, not all contacts.
``minimum`` = ceil(customers / 100) list pages + ceil(changes / 100) batch upserts: HubSpot's largest
page and batch. The sandbox enforces ``--limit-per-10s`` requests per ``--interval-ms`` (default: the
Professional tier, 190 per 10 s) and the figures say which limit was used and how many 429s it sent.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from connectors.hubspot import HubSpotConnector, HubSpotSettings
from connectors.hubspot.sandbox import create_app
from hub.model.base import Entity
from hub.plugins.contract import Change
from hub.sandbox.kit import serve
from hub.sandbox.seed import synthetic
from hub.sync.drive import pull_canonical, push_batched

TOKEN = "pat-bench-0000000000000000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50_000, help="contacts in the sandbox")
    parser.add_argument("--drift", type=float, default=0.1, help="fraction of contacts changed and pushed back")
    parser.add_argument("--limit-per-10s", type=int, default=190, help="the sandbox account's window allowance")
    parser.add_argument("--interval-ms", type=int, default=10_000, help="the sandbox account's window length")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.customers
    app = create_app(
        synthetic(0, customers=n),
        access_token=TOKEN,
        limit_per_10s=args.limit_per_10s,
        interval_ms=args.interval_ms,
        daily_limit=10_000_000,
    )
    tier = 190 if args.limit_per_10s >= 190 else 100
    with serve(app) as served:
        settings = HubSpotSettings(access_token=TOKEN, base_url=served.url, rate_limit_tier=tier)
        async with HubSpotConnector("crm", settings) as conn:
            pull = await pull_canonical(conn, Entity.customers)
            quarantined = pull.quarantined
            pulled = {key: (record, raw.link) for key, (record, raw) in pull.records.items()}
            changes = _drift(pulled, args.drift)
            results = await push_batched(conn, Entity.customers, changes)
            stats = conn.transport_stats
            assert stats is not None
        state = served.app.state.sandbox
        lost = sum(1 for c in changes if not _applied(state.contact(c.key), c.values))
    return {
        "requests": stats.requests,
        "minimum": math.ceil(n / 100) + math.ceil(len(changes) / 100),
        "pulled": len(pulled),
        "quarantined": quarantined,
        "pushed": len(changes),
        "write": "drifted",
        "failed": sum(1 for r in results if not r.ok),
        "lost_updates": lost + (n - len(pulled) - quarantined),
        "sandbox_429": state.throttled,
        "rate_limit": f"{args.limit_per_10s}/{args.interval_ms}ms",
    }


def _drift(pulled: dict[str, tuple[Any, dict[str, str]]], fraction: float) -> list[Change]:
    step = max(1, round(1 / fraction)) if fraction > 0 else 0
    changes = []
    for i, (email, (customer, link)) in enumerate(sorted(pulled.items())):
        if not step or i % step:
            continue
        values = {"first_name": f"Drifted{i}", "loyalty_points": (customer.loyalty_points or 0) + 7}
        previous = {"first_name": customer.first_name, "loyalty_points": customer.loyalty_points}
        changes.append(Change(Entity.customers, email, "crm", values, previous, None, link, f"bench-{i}"))
    return changes


def _applied(contact: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    if contact is None:
        return False
    props = contact["properties"]
    return props.get("firstname") == values["first_name"] and props.get("loyalty_points") == str(
        values["loyalty_points"]
    )
