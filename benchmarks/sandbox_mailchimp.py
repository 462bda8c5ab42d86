"""A Mailchimp audience at volume: full pull, push of a drifted fraction, final state checked.

    python benchmarks/sync_sandbox.py --platform mailchimp --customers 50000

The measured write is the drifted fraction (``--drift``), not all members; one drifted member in ten
is also unsubscribed, and the check includes its status. The drifted members exist, so they are
written by member PUTs in ``/batches`` jobs (batch subscribe only adds members: it would overwrite
a status), one job per ``job_size`` changes (5,000 by default).
``minimum`` = ceil(customers / 1000) member pages + 3 for one ``/batches`` job (start it, read its
status once, fetch its results): Mailchimp's largest page, and a job, which has no documented cap
on its operations.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from connectors.mailchimp import MailchimpConnector, MailchimpSettings
from connectors.mailchimp.sandbox import create_app
from hub.model.base import Entity
from hub.plugins.contract import Change
from hub.sandbox.kit import serve
from hub.sandbox.seed import synthetic
from hub.sync.drive import pull_canonical, push_batched

KEY = "bench0000000000000000000000000000-us21"
MERGE = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE", "loyalty_points": "POINTS"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50_000, help="members in the sandbox audience")
    parser.add_argument("--drift", type=float, default=0.1, help="fraction of members changed and pushed back")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.customers
    app = create_app(synthetic(0, customers=n), api_key=KEY)
    with serve(app) as served:
        settings = MailchimpSettings(api_key=KEY, list_id="a1b2c3", base_url=served.url, merge_fields=MERGE)
        async with MailchimpConnector("news", settings) as conn:
            pull = await pull_canonical(conn, Entity.customers)
            quarantined = pull.quarantined
            pulled = {key: (record, raw.link) for key, (record, raw) in pull.records.items()}
            changes = _drift(pulled, args.drift)
            results = await push_batched(conn, Entity.customers, changes)
            stats = conn.transport_stats
            assert stats is not None
        state = served.app.state.sandbox
        lost = sum(1 for c in changes if not _applied(state.member(c.key), c.values))
    return {
        "requests": stats.requests,
        "minimum": math.ceil(n / 1000) + (3 if changes else 0),
        "pulled": len(pulled),
        "quarantined": quarantined,
        "pushed": len(changes),
        "write": "drifted",
        "failed": sum(1 for r in results if not r.ok),
        "lost_updates": lost + (n - len(pulled) - quarantined),
        "sandbox_429": state.refused_connections,
        "peak_connections": state.peak_in_flight,
    }


def _drift(pulled: dict[str, tuple[Any, dict[str, str]]], fraction: float) -> list[Change]:
    step = max(1, round(1 / fraction)) if fraction > 0 else 0
    changes = []
    for i, (email, (customer, link)) in enumerate(sorted(pulled.items())):
        if not step or i % step:
            continue
        values: dict[str, Any] = {"first_name": f"Drifted{i}", "loyalty_points": (customer.loyalty_points or 0) + 7}
        if (i // step) % 10 == 0:
            values["email_marketing"] = "unsubscribed"
        previous = {k: getattr(customer, k) for k in values}
        changes.append(Change(Entity.customers, email, "news", values, previous, None, link, f"bench-{i}"))
    return changes


def _applied(member: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    if member is None:
        return False
    fields = member["merge_fields"]
    ok = fields.get("FNAME") == values["first_name"] and fields.get("POINTS") == values["loyalty_points"]
    return ok and ("email_marketing" not in values or member["status"] == "unsubscribed")
