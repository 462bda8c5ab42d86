"""One pull per connector and listing in a sync: jobs that read the same platform listing share it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.cli.demo import CREDENTIALS, DemoShop
from tests.e2e.conftest import Cli


def _item_reads(requests: dict[str, int]) -> int:
    return sum(
        n for route, n in requests.items() if route.startswith("GET ") and route.endswith(("/products", "/variations"))
    )


def _order_reads(requests: dict[str, int]) -> int:
    return sum(n for route, n in requests.items() if route.startswith("GET ") and route.endswith("/orders"))


def test_prices_and_stock_jobs_of_one_sync_list_woocommerce_once(cli: Cli, tmp_path: Path) -> None:
    with DemoShop(tmp_path) as shop:
        config = shop.write_config()
        env = {**os.environ, **CREDENTIALS}
        counter = shop.apps["woocommerce"].state.requests

        def sync(*jobs: str) -> dict[str, dict]:
            counter.clear()
            result = cli("--config", str(config), "sync", *jobs, "--monitor", "--json", env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            return {job["name"]: job for job in json.loads(result.stdout)["jobs"]}

        sync("prices")
        one_listing = _item_reads(counter)
        assert one_listing >= 2  # the products and the variations listings
        for state in tmp_path.glob("omnihub-demo.db*"):
            state.unlink()  # the same first sync, of both jobs this time

        jobs = sync("prices", "stock")
        assert _item_reads(counter) == one_listing  # was twice as many: one listing per job
        # the stock job's own requests to the shop are its order reads (the demo reserves for it)
        assert jobs["prices"]["requests"]["web"] == one_listing
        assert jobs["stock"]["requests"]["web"] == _order_reads(counter) == 1
        assert jobs["stock"]["compared"] > 0 and jobs["stock"]["pulled"]["web"] > 0

        # the next sync of both reads what changed since the same cursor: once again
        jobs = sync("prices", "stock")
        assert jobs["stock"]["requests"]["web"] == _order_reads(counter) == 1
        assert _item_reads(counter) == jobs["prices"]["requests"]["web"]
