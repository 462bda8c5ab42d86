"""``omnihub run``: the scheduler daemon wired to the engine, the store and the alert digest.

With ``hub.engine: celery`` (or ``omnihub run --engine celery``) the daemon keeps the schedule,
the webhook receiver and the digest, and its runs are enqueued for ``omnihub worker`` processes
(``hub.distributed``) instead of run here.
"""

from __future__ import annotations

import logging

from hub.config.loader import LoadedConfig
from hub.distributed.checks import celery_missing, require_distributed
from hub.errors import ConfigError
from hub.ops.lifecycle import run_daemon
from hub.ops.metrics import HubMetrics
from hub.ops.notify import notify_after_run
from hub.ops.runner import RunJob
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

__all__ = ["serve_scheduled"]

log = logging.getLogger("omnihub.daemon")


async def serve_scheduled(
    config: LoadedConfig,
    *,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    log_format: str = "text",
    run_at_start: bool = False,
    engine: str | None = None,
) -> int:
    """Run every scheduled job until SIGTERM/SIGINT, one store for all. ``engine`` overrides
    ``hub.engine``: ``inprocess`` runs one job at a time here; ``celery`` enqueues each run and
    waits for its report, every job at once (the workers share the work, the job lock keeps each
    job to one run at a time)."""
    chosen = engine or config.hub.engine
    metrics = HubMetrics()
    enqueued, concurrent = _runs(config, chosen, metrics)
    store = Store.open(config.database_url())
    Engine(config, store).recover()

    async def in_process(name: str) -> JobReport:
        return await Engine(config, store).run_job(name)

    async def after_run(reports: list[JobReport]) -> None:
        await notify_after_run(config, store, reports)

    try:
        return await run_daemon(
            config,
            enqueued or in_process,
            http_port=http_port,
            http_host=http_host,
            log_format=log_format,
            after_run=after_run,
            store=store,
            run_at_start=run_at_start,
            max_concurrent_runs=concurrent,
            metrics=metrics,
        )
    finally:
        store.close()


def _runs(config: LoadedConfig, engine: str, metrics: HubMetrics) -> tuple[RunJob | None, int]:
    """The ``run_job`` of the distributed engine and how many runs it may wait for at once;
    (None, 1) for the in-process engine."""
    if engine == "inprocess":
        return None, 1
    if engine != "celery":
        raise ConfigError(f"unknown engine {engine!r}: inprocess or celery")
    require_distributed(config)
    if (missing := celery_missing()) is not None:
        raise ConfigError(missing)
    from hub.distributed.enqueue import Enqueuer

    return Enqueuer(config, metrics=metrics).run_job, max(1, len(config.jobs))
