"""A customers job through the real engine: HubSpot (truth) -> Mailchimp and Shopify (and back).

    python benchmarks/sync_sandbox.py --platform customers --customers 50000

The CRM holds every contact. The newsletter audience is new (empty): every contact is created
there. The Shopify store already has the customers, a ``--drift`` fraction with an outdated last
name, and a ``--unsubscribed`` fraction who unsubscribed in Shopify since: their unsubscribe must
reach the CRM and the audience too. One ``omnihub sync customers`` (enforce) then runs.

``minimum`` = reads: ceil(n/100) HubSpot list pages + 1 Mailchimp page (empty audience) + ceil(n/250)
Shopify pages; writes: ceil(n/500) Mailchimp batches + one Shopify mutation per renamed customer
(the Admin API has no batch customer update; the unsubscribed ones are already so in Shopify) +
ceil(unsubscribes/100) HubSpot upserts. The final
state of all three sandboxes is checked: ``lost_updates`` counts every contact whose name or consent
is not what the job decided. The Shopify sandbox restores 1,000 points/s (the Plus plan's rate)
unless ``--shopify-restore`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from connectors.hubspot.sandbox import create_app as hubspot_app
from connectors.mailchimp.sandbox import create_app as mailchimp_app
from connectors.shopify.sandbox import create_app as shopify_app
from hub.config.loader import load_config
from hub.sandbox.kit import serve
from hub.sandbox.seed import Catalogue, synthetic
from hub.state.store import Store
from hub.sync.engine import Engine

SECRETS = {
    "BENCH_HS": "pat-bench-0000000000",
    "BENCH_MC": "benchkey00000000000000000000000-us21",
    "BENCH_SHOP": "shpat_bench_0000000000",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--drift", type=float, default=0.02, help="Shopify customers with an outdated last name")
    parser.add_argument("--unsubscribed", type=float, default=0.01, help="customers who unsubscribed in Shopify")
    parser.add_argument("--shopify-restore", type=float, default=1000.0, help="Shopify sandbox points per second")


def _catalogues(n: int, drift: float, unsubscribed: float) -> tuple[Catalogue, Catalogue, set[str], set[str]]:
    crm = synthetic(0, customers=n)
    for person in crm.customers:  # the CRM knows no consent times: an unsubscribe elsewhere wins
        person.consent_updated_at = None
        if person.consent == "unsubscribed":
            person.consent = "subscribed"
    shop = crm.copy()
    renamed = {p.email for p in shop.customers[: int(n * drift)]}
    gone = {p.email for p in shop.customers[int(n * drift) : int(n * drift) + int(n * unsubscribed)]}
    for person in shop.customers:
        if person.email in renamed:
            person.last_name = f"Old{person.last_name}"
        if person.email in gone:
            person.consent = "unsubscribed"
            from hub.sandbox.seed import EPOCH

            person.consent_updated_at = EPOCH.replace(year=2026, month=6)
    return crm, shop, renamed, gone


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.customers
    crm_cat, shop_cat, renamed, gone = _catalogues(n, args.drift, args.unsubscribed)
    os.environ.update(SECRETS)
    apps = {
        "crm": hubspot_app(crm_cat, access_token=SECRETS["BENCH_HS"], limit_per_10s=190, daily_limit=10_000_000),
        "news": mailchimp_app(None, api_key=SECRETS["BENCH_MC"], list_id="bench"),
        "shop": shopify_app(shop_cat, access_token=SECRETS["BENCH_SHOP"], restore_rate=args.shopify_restore),
    }
    with (
        serve(apps["crm"]) as crm,
        serve(apps["news"]) as news,
        serve(apps["shop"]) as shop,
        tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp,
    ):
        config_path = Path(tmp) / "omnihub.yaml"
        config_path.write_text(f"""version: 1
hub: {{database: "sqlite:///bench.db"}}
connectors:
  crm: {{type: hubspot, access_token: "${{BENCH_HS}}", base_url: "{crm.url}", rate_limit_tier: 190}}
  news: {{type: mailchimp, api_key: "${{BENCH_MC}}", list_id: bench, base_url: "{news.url}"}}
  shop: {{type: shopify, shop: bench.myshopify.com, access_token: "${{BENCH_SHOP}}", base_url: "{shop.url}",
          restore_rate: {args.shopify_restore}}}
truth: {{customers: crm}}
jobs:
  customers: {{entity: customers, targets: [crm, news, shop], mode: enforce}}
""")
        config = load_config(config_path)
        store = Store.open(config.database_url())
        (report,) = await Engine(config, store).sync(["customers"])
        store.close()
        lost = _check(apps, crm_cat, renamed, gone)
    if report.status != "ok":
        raise SystemExit(f"the customers job failed: {report.errors}")
    minimum_reads = math.ceil(n / 100) + 1 + math.ceil(n / 250)
    minimum_writes = math.ceil(n / 500) + len(renamed) + math.ceil(len(gone) / 100)
    return {
        "requests": sum(report.requests.values()),
        "minimum": minimum_reads + minimum_writes,
        "requests_by_connector": ",".join(f"{k}:{v}" for k, v in sorted(report.requests.items())),
        "pushed": ",".join(f"{k}:{v}" for k, v in sorted(report.pushed.items())),
        "failed": report.failed,
        "throttled": sum(report.throttled.values()),
        "lost_updates": lost,
    }


def _check(apps: dict[str, Any], crm_cat: Catalogue, renamed: set[str], gone: set[str]) -> int:
    """Every contact as the job decided: the CRM's names everywhere, the unsubscribes everywhere."""
    hubspot, mailchimp = apps["crm"].state.sandbox, apps["news"].state.sandbox
    shopify = {c.email: c for c in apps["shop"].state.sandbox.customers}
    lost = 0
    for person in crm_cat.customers:
        email = person.email
        unsubscribed = email in gone
        member = mailchimp.member(email)
        contact = hubspot.contact(email)
        customer = shopify.get(email)
        checks = [
            member is not None
            and member["status"]
            == ("unsubscribed" if unsubscribed else {"subscribed": "subscribed"}.get(person.consent, "transactional")),
            member is not None and member["merge_fields"].get("LNAME") == person.last_name,
            customer is not None and customer.lastName == person.last_name,
            customer is not None and (customer.consent["marketingState"] == "UNSUBSCRIBED") == unsubscribed,
            contact is not None and (contact["properties"].get("email_marketing") == "unsubscribed") == unsubscribed,
        ]
        lost += not all(checks)
    return lost


if __name__ == "__main__":  # pragma: no cover - run through sync_sandbox.py
    raise SystemExit(
        asyncio.run(run(argparse.Namespace(customers=1000, drift=0.02, unsubscribed=0.01, shopify_restore=1000.0)))
    )
