"""``omnihub run``: the scheduler daemon wired to the engine, the store and the alert digest."""

from __future__ import annotations

import logging

from hub.config.loader import LoadedConfig
from hub.ops.lifecycle import run_daemon
from hub.ops.notify import notify_after_run
from hub.state.store import Store
from hub.sync.engine import Engine
from hub.sync.report import JobReport

__all__ = ["serve_scheduled"]

log = logging.getLogger("omnihub.daemon")


async def serve_scheduled(
    config: LoadedConfig, *, http_port: int | None = None, http_host: str = "127.0.0.1", log_format: str = "text"
) -> int:
    """Run every scheduled job until SIGTERM/SIGINT; one job at a time, one store for all."""
    store = Store.open(config.database_url())
    Engine(config, store).recover()

    async def run_job(name: str) -> JobReport:
        return await Engine(config, store).run_job(name)

    async def after_run(reports: list[JobReport]) -> None:
        await notify_after_run(config, store, reports)

    try:
        return await run_daemon(
            config,
            run_job,
            http_port=http_port,
            http_host=http_host,
            log_format=log_format,
            after_run=after_run,
            store=store,
        )
    finally:
        store.close()
