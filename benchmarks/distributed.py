"""How the distributed engine scales with workers: the same stores' runs on 1 worker, then on 2.

    python benchmarks/distributed.py --stores 20 --skus 10000
    python benchmarks/distributed.py --stores 4 --skus 500          # CI size, well under a minute

One config holds ``--stores`` stock jobs, ``store01`` ... , each on its own pair of CSV feeds of
``--skus`` SKUs (a WMS truth and a web feed where a ``--drift`` fraction of the quantities
drifted), in enforce mode. A run is a whole job today (pull, decide, push of one job in one
worker process), so jobs are the unit the workers share: more workers make more stores' runs at
once, never one store's run faster.

Every job is enqueued at once (``asyncio.gather`` over ``Enqueuer.run_job``, as ``omnihub run
--engine celery`` enqueues them) on ``omnihub worker`` subprocesses, once with 1 worker process
and once with 2 (each ``--concurrency 1``), each time on fresh feeds and a fresh PostgreSQL
schema, the workers started and ready before the clock starts. The time is until every report
is back. An untimed pass on up to 4 stores comes first (``--no-warmup`` leaves it out): the
first pass of a session runs on cold caches, and would make the second look faster than it is.
After each pass, every feed is checked (the warm-up's too):

* ``lost``: web rows still not what the truth says (less the safety stock of 1), or missing; must be 0;
* ``doubled``: changes sent more than once: outbox rows ``done`` more than once for one
  (run, connector, key), or one key written twice in one job; must be 0.

Redis: only the database of ``--broker`` is used, flushed before each pass and at the end.
PostgreSQL: a schema of the benchmark's own per pass, dropped afterwards. The workers are each the
leader of their own process group, killed as a group whatever happened.

The last line is the one-line summary, ``workers=1,2 seconds=<t1>,<t2> speedup=<t1/t2> lost=<n>
doubled=<n> stores=<S> skus=<N>``; the line before it has the details (per pass, comma-separated).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from reconcile import scratch_database  # the benchmarks' one schema-of-its-own helper
from sqlalchemy import func, select

from hub.config.loader import load_config
from hub.state import schema as t
from hub.state.store import Store
from hub.sync.report import JobReport

ROOT = Path(__file__).resolve().parents[1]
#: How long workers may take to say they are ready, and a whole pass to finish.
READY_TIMEOUT_S = 60.0
PASS_TIMEOUT_S = 3600.0


def store_name(n: int) -> str:
    return f"store{n + 1:02d}"


def write_feeds(folder: Path, stores: int, skus: int, drift: float, seed: int) -> dict[str, dict[str, str]]:
    """Each store's WMS truth and drifted web feed; the web quantities expected after the run
    (the truth minus a safety stock of 1), by store and SKU."""
    rng = random.Random(seed)
    expected: dict[str, dict[str, str]] = {}
    for s in range(stores):
        name = store_name(s)
        want = expected[name] = {}
        with (
            (folder / f"{name}-wms.csv").open("w", newline="") as wms,
            (folder / f"{name}-web.csv").open("w", newline="") as web,
        ):
            w1, w2 = csv.writer(wms), csv.writer(web)
            w1.writerow(["sku", "location", "available", "on_hand"])
            w2.writerow(["sku", "location", "available"])
            for n in range(skus):
                sku = f"SKU-{n:06d}"
                qty = rng.randint(2, 200)
                w1.writerow([sku, "main-wh", qty, qty])
                want[sku] = str(qty - 1)
                w2.writerow([sku, "web-warehouse", qty - 1 + rng.randint(1, 9) if rng.random() < drift else qty - 1])
    return expected


def write_config(folder: Path, stores: int, database: str) -> Path:
    lines = [
        "version: 1",
        "hub:",
        f'  database: "{database}"',
        '  broker: "${OMNIHUB_BROKER_URL}"',
        "  engine: celery",
        "  job_lock_wait: 60s",
        "connectors:",
    ]
    for s in range(stores):
        name = store_name(s)
        lines += [
            f"  {name}-wms: {{type: csv, path: {name}-wms.csv}}",
            f"  {name}-web: {{type: csv, path: {name}-web.csv}}",
        ]
    lines.append("jobs:")
    for s in range(stores):
        name = store_name(s)
        lines += [
            f"  {name}:",
            f"    {{entity: stock, source: {name}-wms, targets: [{name}-web], mode: enforce, schedule: 'every 1h',",
            f"     rules: {{{name}-web: {{safety_stock: 1, locations: {{web-warehouse: [main-wh]}}}}}}}}",
        ]
    path = folder / "omnihub.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_price_feeds(folder: Path, skus: int, drift: float, seed: int) -> dict[str, dict[str, str]]:
    """One big prices job: an ERP truth and a web feed where a ``drift`` fraction of the prices
    drifted; the web prices expected after the run (the truth's), by SKU."""
    rng = random.Random(seed)
    want: dict[str, str] = {}
    with (folder / "big-erp.csv").open("w") as erp, (folder / "big-web.csv").open("w") as web:
        erp.write("sku,price,compare_at_price,currency\n")
        web.write("sku,price,compare_at_price,currency\n")
        for n in range(skus):
            sku = f"SKU-{n:07d}"
            price = f"{rng.randint(500, 20000) / 100:.2f}"
            want[sku] = price
            erp.write(f"{sku},{price},,EUR\n")
            shown = f"{float(price) + 1:.2f}" if rng.random() < drift else price
            web.write(f"{sku},{shown},,EUR\n")
    return {"big": want}


def write_price_config(folder: Path, database: str, partitions: int) -> Path:
    lines = [
        "version: 1",
        "hub:",
        f'  database: "{database}"',
        '  broker: "${OMNIHUB_BROKER_URL}"',
        "  engine: celery",
        "  job_lock_wait: 60s",
        "  currency: EUR",
        f"  partitions: {partitions}",
        "  partition_records: 1  # always --partitions, whatever the size",
        "connectors:",
        "  big-erp: {type: csv, path: big-erp.csv}",
        "  big-web: {type: csv, path: big-web.csv}",
        "jobs:",
        "  big: {entity: prices, source: big-erp, targets: [big-web], mode: enforce, schedule: 'every 1h'}",
    ]
    path = folder / "omnihub.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Workers:
    """``omnihub worker`` subprocesses, each the leader of its own process group (its pool
    processes with it), so that ``stop`` leaves none behind."""

    def __init__(self, config: Path, broker: str) -> None:
        self.config, self.broker = config, broker
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, count: int) -> None:
        env = {**os.environ, "OMNIHUB_BROKER_URL": self.broker, "PYTHONWARNINGS": "ignore"}
        for n in range(count):
            log = self.config.parent / f"worker-{n}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hub", "--config", str(self.config), "worker", "--concurrency", "1"],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.procs.append((proc, log))

    def wait_ready(self) -> None:
        """Until every worker said it is ready (Celery's ``ready.`` line), so that the timing
        leaves their start out."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for proc, log in self.procs:
            while b" ready." not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{self.logs()}")
                time.sleep(0.05)

    def stop(self) -> None:
        for proc, _ in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-4000:] for _, log in self.procs)


@dataclass
class Pass:
    """What one pass (one number of workers) measured."""

    workers: int
    seconds: float
    reports: list[JobReport]
    lost: int
    doubled_in_run: int
    doubled_in_job: int
    drifted: int
    run_seconds: float

    @property
    def doubled(self) -> int:
        return max(self.doubled_in_run, self.doubled_in_job)


def web_feed(path: Path, column: str = "available") -> dict[str, str]:
    with path.open(newline="") as handle:
        return {row["sku"]: row[column] for row in csv.DictReader(handle)}


def doubles(store: Store) -> tuple[int, int]:
    """Extra ``done`` outbox rows: for one (run, connector, key), and for one (job, connector, key)."""
    o = t.outbox.c
    done = t.outbox.select().where(o.status == "done").subquery()

    def extra(*by: str) -> int:
        cols = [done.c[name] for name in by]
        counted = select(func.count().label("n")).select_from(done).group_by(*cols).subquery()
        q = select(func.coalesce(func.sum(counted.c.n - 1), 0)).where(counted.c.n > 1)
        with store.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    return extra("run_id", "connector", "key"), extra("job", "connector", "key")


def run_pass(workers: int, args: argparse.Namespace, big: bool = False) -> Pass:
    """Fresh feeds, a fresh schema, a flushed broker database; every job enqueued at once on
    ``workers`` worker processes, timed until every report is back; then the checks. ``big``:
    the one prices job of ``--big-skus`` instead of the stores' stock jobs."""
    broker = redis.Redis.from_url(args.broker)
    broker.flushdb()
    pool: Workers | None = None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="omnihub-bench-dist-") as tmp,
            scratch_database(args.db) as database,
        ):
            folder = Path(tmp)
            column = "price" if big else "available"
            if big:
                expected = write_price_feeds(folder, args.big_skus, args.drift, args.seed)
                config_path = write_price_config(folder, database, args.partitions)
            else:
                expected = write_feeds(folder, args.stores, args.skus, args.drift, args.seed)
                config_path = write_config(folder, args.stores, database)
            drifted = sum(
                sum(1 for sku, value in web_feed(folder / f"{name}-web.csv", column).items() if want[sku] != value)
                for name, want in expected.items()
            )
            os.environ["OMNIHUB_BROKER_URL"] = args.broker
            config = load_config(config_path)
            # the tables made once here, not by two workers racing on an empty schema
            store = Store.open(config.database_url())
            try:
                pool = Workers(config_path, args.broker)
                pool.start(workers)
                pool.wait_ready()
                from hub.distributed.enqueue import Enqueuer

                enqueuer = Enqueuer(config, poll_s=0.05)

                async def everything() -> list[JobReport]:
                    runs = [enqueuer.run_job(name) for name in config.jobs]
                    return await asyncio.wait_for(asyncio.gather(*runs), PASS_TIMEOUT_S)

                started = time.perf_counter()
                reports = asyncio.run(everything())
                seconds = time.perf_counter() - started
                bad = [r for r in reports if r.status != "ok"]
                if bad:
                    raise RuntimeError(f"runs not ok: {[(r.name, r.status, r.errors) for r in bad]}\n{pool.logs()}")
                lost = 0
                for name, want in expected.items():
                    have = web_feed(folder / f"{name}-web.csv", column)
                    lost += sum(1 for sku, value in want.items() if have.get(sku) != value)
                in_run, in_job = doubles(store)
            finally:
                store.close()
    finally:
        if pool is not None:
            pool.stop()
        broker.flushdb()
        broker.close()
    run_seconds = sum(r.duration_s for r in reports) / len(reports)
    return Pass(workers, seconds, reports, lost, in_run, in_job, drifted, run_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=20, help="stock jobs, one per store (>= 1)")
    parser.add_argument("--skus", type=int, default=10_000, help="SKUs in each store's feeds")
    parser.add_argument("--drift", type=float, default=0.05, help="fraction of web quantities drifted")
    parser.add_argument(
        "--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test", help="PostgreSQL (a schema is made)"
    )
    parser.add_argument(
        "--broker", default="redis://127.0.0.1:6379/12", help="Redis; its database is flushed before and after"
    )
    parser.add_argument(
        "--big-skus", type=int, default=1_000_000, help="SKUs of the one big prices job (0: leave it out)"
    )
    parser.add_argument("--partitions", type=int, default=2, help="hub.partitions of the big job")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed pass on up to 4 stores that warms the caches first",
    )
    args = parser.parse_args(argv)
    if args.stores < 1 or args.skus < 1 or args.big_skus < 0 or args.partitions < 1:
        parser.error("--stores, --skus and --partitions must be at least 1, --big-skus at least 0")
    if not args.db.startswith("postgresql"):
        parser.error("--db must be PostgreSQL: the distributed engine shares its state through it")
    # SIGTERM unwinds like Ctrl-C: the workers are killed and the schema dropped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    warmup = None
    if args.warmup:
        # untimed: the first pass of a session runs on cold caches (PostgreSQL's, the files') and
        # would be slower for that alone, which flatters the 2-worker pass that comes after it
        warmup = run_pass(2, argparse.Namespace(**{**vars(args), "stores": min(args.stores, 4)}))
    one = run_pass(1, args)
    two = run_pass(2, args)
    big = (run_pass(1, args, big=True), run_pass(2, args, big=True)) if args.big_skus else None
    checked = [p for p in (warmup, one, two, *(big or ())) if p is not None]
    pushed = [sum(sum(r.pushed.values()) for r in p.reports) for p in (one, two)]
    print(
        f"drifted={one.drifted},{two.drifted} pushed={pushed[0]},{pushed[1]} "
        f"run_s_mean={one.run_seconds:.2f},{two.run_seconds:.2f} "
        f"doubled_in_run={one.doubled_in_run},{two.doubled_in_run} "
        f"doubled_in_job={one.doubled_in_job},{two.doubled_in_job} "
        f"runs_per_hour={len(one.reports) / one.seconds * 3600:.0f},{len(two.reports) / two.seconds * 3600:.0f} "
        f"warmup_s={f'{warmup.seconds:.2f}' if warmup else 'none'}"
    )
    if big is not None:
        b1, b2 = big
        print(
            f"big_job skus={args.big_skus} partitions={args.partitions} drifted={b1.drifted},{b2.drifted} "
            f"pushed={sum(b1.reports[0].pushed.values())},{sum(b2.reports[0].pushed.values())} "
            f"per_sku_us={b1.seconds / args.big_skus * 1e6:.1f},{b2.seconds / args.big_skus * 1e6:.1f}"
        )
    big_figures = (
        f"big_seconds={big[0].seconds:.2f},{big[1].seconds:.2f} big_speedup={big[0].seconds / big[1].seconds:.2f} "
        f"big_skus={args.big_skus} "
        if big is not None
        else "big_skus=0 "
    )
    print(
        f"workers=1,2 seconds={one.seconds:.2f},{two.seconds:.2f} speedup={one.seconds / two.seconds:.2f} "
        f"{big_figures}lost={sum(p.lost for p in checked)} doubled={sum(p.doubled for p in checked)} "
        f"stores={args.stores} skus={args.skus}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
