"""``omnihub worker``: a Celery worker of the distributed engine, running what ``omnihub run`` enqueues.

With ``--stores DIR`` one pool of workers serves every store of a stores directory: it takes runs
from each store's queue (``omnihub.<store>``) besides ``--queues``. Celery's Redis transport asks
a worker's queues in turn, the one it last took from going last, so a store with a long queue
takes one task in turn with every other store that has one waiting, never all the worker's turns.
A store whose run is slow (a throttled platform) still holds the worker process that runs it:
give the pool more processes than the stores that may be slow at once, or run a worker of its own
for a store that needs one (``--queues omnihub.<store>``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from hub.cli.common import EXIT_FAILED, checked, err, fail, load, state
from hub.config.loader import LoadedConfig
from hub.distributed.checks import celery_missing, require_distributed
from hub.errors import ConfigError
from hub.redact import redact

__all__ = ["worker"]


def worker(
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, max=256, help="Runs this worker makes at once, one process each."
    ),
    queues: str = typer.Option("omnihub", "--queues", help="Comma-separated queues to take runs from."),
    redeliver_after: float = typer.Option(
        3600.0,
        "--redeliver-after",
        min=1.0,
        help="Seconds after which a run taken by a worker that vanished goes to another worker "
        "(Redis); longer than your longest run.",
    ),
    stores: Path = typer.Option(
        None,
        "--stores",
        help="Serve every store of this directory (as `omnihub run --stores`): take runs from each "
        "store's queue omnihub.<store> as well as --queues (instead of --config).",
        show_default=False,
    ),
) -> None:
    """Run jobs for `omnihub run --engine celery` (hub.engine: celery) until SIGTERM/Ctrl-C."""
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if stores is not None:
        config, store_queues = _stores_config(stores)
        names += [q for q in store_queues if q not in names]
    else:
        config = load()
        try:
            require_distributed(config)
        except ConfigError as exc:
            fail("; ".join(str(p) for p in exc.problems))
    if (missing := celery_missing()) is not None:
        fail(missing, EXIT_FAILED)
    from hub.distributed.app import celery_app
    from hub.ops.logging_setup import configure_logging

    configure_logging(state.log_format, "INFO")
    app = celery_app(config, redeliver_after_s=redeliver_after)
    if not names:
        fail("--queues names no queue")
    runner = app.Worker(concurrency=concurrency, queues=names, loglevel="INFO", quiet=True, without_gossip=True)
    runner.start()
    raise typer.Exit(runner.exitcode or 0)


def _stores_config(directory: Path) -> tuple[LoadedConfig, list[str]]:
    """The config the worker's Celery app is built from (the first store's: every store served
    shares its broker) and the queues of the stores it serves. A store that cannot run here is
    said on stderr and its queue is left alone (another worker may serve it); none: exit 2."""
    from hub.config.stores import load_stores, store_queue
    from hub.ops.daemon import check_distributed_stores

    loaded = checked(lambda _: load_stores(directory))
    try:
        check_distributed_stores(loaded, "celery")
    except ConfigError as exc:
        fail("; ".join(str(p) for p in exc.problems), EXIT_FAILED)
    for failure in loaded.failed:
        err.print(f"store {failure.name} is not served here: {redact(failure)}", soft_wrap=True)
    if not loaded.loaded:
        fail(f"no store of {directory} can run on this worker")
    return loaded.loaded[0].config, [store_queue(s.name) for s in loaded.loaded]
