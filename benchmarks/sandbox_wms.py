"""Benchmark plugin: pull a synthetic WMS's whole stock, then its changes, and check every level.

    python benchmarks/sync_sandbox.py --platform wms --skus 10000 --locations 2

The WMS is read-only for the hub (it is the source of truth for stock), so there is nothing to
push: the figures are the requests of the complete pull against the minimum its page limit allows
(``ceil(rows / page_size_max)``) and ``lost_updates``, the levels missing or wrong after the
complete pull and after an incremental pull of ``--changes`` moved levels.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from typing import Any

from connectors.rest_wms import RestWmsConnector, RestWmsSettings
from connectors.rest_wms.sandbox import DEFAULT_API_KEY, WmsState, create_app
from hub.model.base import Entity
from hub.model.catalogue import StockLevel
from hub.plugins.contract import ConnectorContext
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import serve
from hub.sandbox.seed import synthetic
from hub.sync.drive import pull_canonical


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs in the synthetic catalogue")
    parser.add_argument("--locations", type=int, default=2, help="warehouses each SKU is stocked at")
    parser.add_argument("--pagination", choices=["cursor", "next_url", "page"], default="cursor")
    parser.add_argument("--page-size-max", type=int, default=500, help="the sandbox's largest page")
    parser.add_argument("--changes", type=int, default=None, help="levels moved before the incremental pull (1%%)")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    catalogue = synthetic(args.skus, locations=args.locations)
    app = create_app(
        catalogue.copy(), api_key=DEFAULT_API_KEY, pagination=args.pagination, page_size_max=args.page_size_max
    )
    state: WmsState = app.state.sandbox
    expected = {f"{sku}@{code}": n for sku, levels in catalogue.stock.items() for code, n in levels.items()}
    with serve(app) as served:
        settings = RestWmsSettings(
            type="rest_wms",
            base_url=served.url,
            api_key=DEFAULT_API_KEY,
            page_size=args.page_size_max,
            pagination={
                "style": args.pagination,
                "page_size_param": "per_page" if args.pagination == "page" else "limit",
            },
            updated_since_param="updated_since",
            locations=state.warehouses,
        )
        mapping = load_mapping("rest_wms", settings={"locations": settings.locations})
        wms = RestWmsConnector("wms", settings, ConnectorContext(mapping=mapping))
        async with wms:
            started = time.perf_counter()
            quarantined = [0]
            full, cursor = await _pull(wms, None, quarantined)
            pull_seconds = time.perf_counter() - started
            assert wms.transport_stats is not None
            full_requests = wms.transport_stats.requests
            lost = _lost(expected, full)

            moved = _move_stock(state, expected, args.changes)
            changed, _ = await _pull(wms, cursor, quarantined)
            incremental_requests = wms.transport_stats.requests - full_requests
            lost += _lost(moved, changed)
    rows = len(expected)
    return {
        "requests": full_requests,
        "minimum": math.ceil(rows / args.page_size_max),
        "lost_updates": lost,
        "rows": rows,
        "rows_per_s": f"{rows / pull_seconds:.0f}",
        "incremental_requests": incremental_requests,
        "incremental_minimum": max(1, math.ceil(len(moved) / args.page_size_max)),
        "changes": len(moved),
        #: Levels the incremental pull returned although they had not moved (harmless, but requests).
        "incremental_extra": len(set(changed) - set(moved)),
        "quarantined": quarantined[0],
    }


async def _pull(wms: RestWmsConnector, since: str | None, quarantined: list[int]) -> tuple[dict[str, int], str | None]:
    """Every level the pull yields, by key, through the mapping as the engine would apply it;
    rows refused by the connector or the mapping are counted in ``quarantined``."""
    pulled = await pull_canonical(wms, Entity.stock, since)
    quarantined[0] += pulled.quarantined
    levels = {key: record.available for key, (record, _) in pulled.records.items() if isinstance(record, StockLevel)}
    return levels, pulled.cursor


def _move_stock(state: WmsState, expected: dict[str, int], changes: int | None) -> dict[str, int]:
    """Sell or receive stock at a sample of levels; the levels moved and their new available."""
    rng = random.Random(11)
    keys = sorted(expected)
    count = min(len(keys), changes if changes is not None else max(1, len(keys) // 100))
    moved: dict[str, int] = {}
    for key in rng.sample(keys, count):
        sku, code = key.split("@")
        row = state.set_stock(sku, code, on_hand=rng.randint(0, 80), committed=0)
        moved[key] = expected[key] = row.available
    return moved


def _lost(expected: dict[str, int], seen: dict[str, int]) -> int:
    """Levels missing from ``seen`` or seen with another available than expected."""
    return sum(1 for key, available in expected.items() if seen.get(key) != available)
