"""``omnihub run``: the scheduler daemon wired to the engine, the store and the alert digest.

With ``hub.engine: celery`` (or ``omnihub run --engine celery``) the daemon keeps the schedule,
the webhook receiver and the digest, and its runs are enqueued for ``omnihub worker`` processes
(``hub.distributed``) instead of run here.

``omnihub run --stores DIR`` (``serve_stores``) serves every store of a stores directory
(``hub.config.stores``) from one process: each store's state store is opened and recovered, its
runs are made in process or enqueued on its own queue ``omnihub.<store>``, and its alerts follow
its own runs. A store that cannot be served (its config, its database, the distributed engine's
needs) is logged with its reasons and shown by ``/healthz``; the others are served.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from hub.config.loader import LoadedConfig
from hub.config.stores import StoreConfig, Stores, refuse_other_brokers, store_queue
from hub.distributed.checks import celery_missing, require_distributed
from hub.errors import ConfigError
from hub.ops.lifecycle import ServedStore, run_daemon, run_stores_daemon
from hub.ops.logging_setup import configure_logging
from hub.ops.metrics import HubMetrics, StoreMetrics
from hub.ops.notify import notify_after_run
from hub.ops.runner import RunJob, StoreLogFilter
from hub.redact import redact
from hub.state.store import Store, StoreError
from hub.sync.engine import Engine
from hub.sync.report import JobReport

__all__ = ["check_distributed_stores", "serve_scheduled", "serve_stores"]

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


async def serve_stores(
    stores: Stores,
    *,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    log_format: str | None = "text",
    run_at_start: bool = False,
    engine: str | None = None,
) -> int:
    """Run every store's scheduled jobs until SIGTERM/SIGINT, each store on its own state store.
    ``engine`` overrides each store's ``hub.engine``. Raises ``ConfigError`` when no store can
    be served (every one's problems listed), or when Celery is needed and missing."""
    if log_format is not None:
        configure_logging(log_format, "INFO").addFilter(StoreLogFilter())
    metrics = HubMetrics(per_store=True)
    check_distributed_stores(stores, engine)
    served: list[ServedStore] = []
    opened: list[Store] = []
    try:
        for loaded in list(stores.loaded):
            store = _open_store(stores, loaded)
            if store is None:
                continue
            opened.append(store)
            served.append(_served(loaded, store, engine, metrics.for_store(loaded.name)))
        failed = {f.name: str(f) for f in stores.failed}
        for name, why in failed.items():
            log.error("store %s is not served: %s", name, redact(why), extra={"store": name})
        if not served:
            raise ConfigError([p for f in stores.failed for p in f.error.problems])
        log.info("serving %d store(s) of %s: %s", len(served), stores.directory, ", ".join(s.name for s in served))
        return await run_stores_daemon(
            served,
            failed=failed,
            http_port=http_port,
            http_host=http_host,
            log_format=None,
            run_at_start=run_at_start,
            metrics=metrics,
        )
    finally:
        for store in opened:
            store.close()


def check_distributed_stores(stores: Stores, engine: str | None) -> None:
    """Leave out the stores that cannot run on the distributed engine they are to use (``engine``,
    else their ``hub.engine``): no PostgreSQL, no broker, or another broker than the other
    stores'. Raises ``ConfigError`` for an unknown engine, or when Celery is needed and missing."""
    distributed: set[str] = set()
    for loaded in list(stores.loaded):
        chosen = engine or loaded.config.hub.engine
        if chosen not in ("inprocess", "celery"):
            raise ConfigError(f"unknown engine {chosen!r}: inprocess or celery")
        if chosen != "celery":
            continue
        try:
            require_distributed(loaded.config)
        except ConfigError as exc:
            stores.fail(loaded, exc)
            continue
        distributed.add(loaded.name)
    if distributed and (missing := celery_missing()) is not None:
        raise ConfigError(missing)
    refuse_other_brokers(stores, among=distributed)


def _open_store(stores: Stores, loaded: StoreConfig) -> Store | None:
    """The store's state store, opened and recovered (what a process that died left is closed, as
    ``serve_scheduled`` does); None, with the store moved to the failed ones, when it cannot be."""
    try:
        store = Store.open(loaded.config.database_url())
    except (StoreError, SQLAlchemyError) as exc:
        stores.fail(loaded, ConfigError(loaded.config.located.problem(("hub", "database"), redact(exc))))
        return None
    try:
        Engine(loaded.config, store).recover()
    except (StoreError, SQLAlchemyError) as exc:
        store.close()
        stores.fail(loaded, ConfigError(loaded.config.located.problem(("hub", "database"), redact(exc))))
        return None
    return store


def _served(loaded: StoreConfig, store: Store, engine: str | None, metrics: StoreMetrics) -> ServedStore:
    """How one store is served: its runs in process (one at a time, as ``serve_scheduled``) or
    enqueued on its own queue (all its jobs at once), and its own alerts after each run."""
    config = loaded.config
    run_job: RunJob
    if (engine or config.hub.engine) == "celery":
        from hub.distributed.enqueue import Enqueuer

        run_job = Enqueuer(config, metrics=metrics, queue=store_queue(loaded.name)).run_job
        concurrent = max(1, len(config.jobs))
    else:

        async def in_process(name: str) -> JobReport:
            return await Engine(config, store).run_job(name)

        run_job, concurrent = in_process, 1

    async def after_run(reports: list[JobReport]) -> None:
        await notify_after_run(config, store, reports)

    return ServedStore(loaded.name, config, run_job, store, after_run, concurrent)
