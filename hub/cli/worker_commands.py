"""``omnihub worker``: a Celery worker of the distributed engine, running what ``omnihub run`` enqueues."""

from __future__ import annotations

import typer

from hub.cli.common import EXIT_FAILED, fail, load, state
from hub.distributed.checks import celery_missing, require_distributed
from hub.errors import ConfigError

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
) -> None:
    """Run jobs for `omnihub run --engine celery` (hub.engine: celery) until SIGTERM/Ctrl-C."""
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
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        fail("--queues names no queue")
    runner = app.Worker(concurrency=concurrency, queues=names, loglevel="INFO", quiet=True, without_gossip=True)
    runner.start()
    raise typer.Exit(runner.exitcode or 0)
