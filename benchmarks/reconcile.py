"""Throughput of normalize + reconcile + store, first sync against an unchanged re-sync.

    python benchmarks/reconcile.py --skus 100000 --channels 3 [--drift 0.05] [--db sqlite|postgresql+psycopg://...]

Builds a synthetic price catalogue of N SKUs as CSV feeds for K channels (one source of truth
and K-1 targets, a ``--drift`` fraction of each target's prices changed), runs a monitor-mode
prices job through the real engine and store (SQLite file by default), then runs it again with
nothing changed (the CSV connector then recognizes each unchanged file by its digest), and a
third time with the same records in reordered files (every row hashed and recognized as
unchanged one by one). Feed parsing is included in every timing, as it is in a real run. Times are the
process's CPU seconds (the run is single-threaded, so this is "per core", and other load on the
machine does not distort it); wall-clock seconds are printed too. ``--memory-records N`` sets
``hub.memory_records``: a catalogue past it is reconciled from the store, and the CPU that takes per
observation in the first sync is ``spilled_us_per_obs`` (``none`` when nothing spilled). Ends with
one line: ``first_sync_obs_per_s=<n> resync_speedup=<x> peak_rss_mb=<m> spilled_us_per_obs=<u>``
(plus a line of details).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from hub.config.loader import load_config
from hub.state.partitions import Partition
from hub.state.store import Store
from hub.sync.decide import Decider
from hub.sync.engine import Engine
from hub.sync.outcome import PullOutcome
from hub.sync.reconcile import Finding, Plan, ReconcileInput


class TimedDecider(Decider):
    """The decide stage, with the CPU seconds its reconciler spends on runs that spilled to the
    store summed in ``TimedEngine.spilled_cpu_s``: reading the records back is that path's whole
    extra cost."""

    def reconcile(
        self,
        job_input: ReconcileInput,
        outcomes: dict[str, PullOutcome],
        groups: set[str] | None,
        partition: Partition | None = None,
    ) -> tuple[list[Finding], list[Plan], int]:
        started = time.process_time()
        try:
            return super().reconcile(job_input, outcomes, groups, partition)
        finally:
            if any(outcome.spilled for outcome in outcomes.values()):
                TimedEngine.spilled_cpu_s += time.process_time() - started


class TimedEngine(Engine):
    """The engine, deciding with ``TimedDecider``."""

    spilled_cpu_s = 0.0
    decider = TimedDecider


def write_feeds(folder: Path, skus: int, channels: int, drift: float, seed: int) -> None:
    rng = random.Random(seed)
    prices = [f"{rng.randint(500, 20000) / 100:.2f}" for _ in range(skus)]
    for channel in range(channels):
        with (folder / f"ch{channel}.csv").open("w") as handle:
            handle.write("sku,price,compare_at_price,currency\n")
            for i, price in enumerate(prices):
                if channel and rng.random() < drift:
                    price = f"{float(price) + 1:.2f}"
                handle.write(f"SKU-{i:07d},{price},,EUR\n")


def write_config(folder: Path, channels: int, database: str, memory_records: int | None = None) -> Path:
    budget = f", memory_records: {memory_records}" if memory_records else ""
    lines = ["version: 1", f"hub: {{database: '{database}', currency: EUR{budget}}}", "connectors:"]
    lines += [f"  ch{c}: {{type: csv, path: ch{c}.csv}}" for c in range(channels)]
    targets = ", ".join(f"ch{c}" for c in range(1, channels))
    lines += ["truth: {prices: ch0}", "jobs:", f"  prices: {{entity: prices, targets: [{targets}], mode: monitor}}"]
    path = folder / "omnihub.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """``url`` itself for SQLite (a file in the run's temporary folder); for a server, a schema of
    its own, dropped afterwards, so that a shared database is left as it was found."""
    if url.startswith("sqlite"):
        yield url
        return
    schema = f"omnihub_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=3, help="channels including the source of truth (>= 2)")
    parser.add_argument("--drift", type=float, default=0.05)
    parser.add_argument("--db", default="sqlite", help="'sqlite' (a temp file) or a SQLAlchemy URL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--memory-records",
        type=int,
        default=None,
        help="hub.memory_records: past it the run streams records through the store",
    )
    args = parser.parse_args(argv)
    if args.channels < 2:
        parser.error("--channels must be at least 2 (a source of truth and a target)")
    with (
        tempfile.TemporaryDirectory(prefix="omnihub-bench-") as tmp,
        scratch_database("sqlite:///bench.db" if args.db == "sqlite" else args.db) as database,
    ):
        folder = Path(tmp)
        write_feeds(folder, args.skus, args.channels, args.drift, args.seed)
        config = load_config(write_config(folder, args.channels, database, args.memory_records))
        store = Store.open(config.database_url())
        observations = args.skus * args.channels

        def timed_run() -> tuple[float, float, int]:
            engine = TimedEngine(config, store)
            cpu, wall = time.process_time(), time.perf_counter()
            (report,) = asyncio.run(engine.sync(["prices"]))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if report.status != "ok":
                sys.exit(f"benchmark run failed: {report.errors}")
            return cpu, wall, report.mismatches

        first, first_wall, mismatches = timed_run()
        spilled = TimedEngine.spilled_cpu_s
        resync, resync_wall, mismatches_again = timed_run()
        # The same records in new files (rows reversed): every row is read, hashed and recognized
        # as unchanged one by one, the path of a feed that is re-exported in another order.
        for channel in range(args.channels):
            path = folder / f"ch{channel}.csv"
            header, *rows = path.read_text().splitlines()
            path.write_text("\n".join([header, *reversed(rows)]) + "\n")
        rowwise, _, mismatches_rowwise = timed_run()
        store.close()
    if not mismatches == mismatches_again == mismatches_rowwise:
        sys.exit(
            f"an unchanged re-sync changed the open mismatches: {mismatches} -> {mismatches_again}, "
            f"{mismatches_rowwise}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spilled_us = f"{spilled / observations * 1e6:.1f}" if spilled else "none"
    print(
        f"skus={args.skus} channels={args.channels} observations={observations} mismatches={mismatches} "
        f"first_cpu_s={first:.2f} resync_cpu_s={resync:.2f} first_wall_s={first_wall:.2f} "
        f"resync_wall_s={resync_wall:.2f} rowwise_resync_cpu_s={rowwise:.2f} "
        f"rowwise_resync_speedup={first / rowwise:.1f} per_obs_us={first / observations * 1e6:.1f}"
    )
    print(
        f"first_sync_obs_per_s={observations / first:.0f} resync_speedup={first / resync:.1f} "
        f"peak_rss_mb={peak_mb:.0f} spilled_us_per_obs={spilled_us}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
