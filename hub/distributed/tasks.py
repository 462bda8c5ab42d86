"""What a worker does with an enqueued run: the same ``Engine.run_job`` as ``omnihub run`` in process.

The task is a plain function of JSON values (the config's path and the job's name), so it can be
redelivered as is. A worker process keeps one store per database for its life, opened in that
process (a prefork worker's children must not share their parent's connections).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from hub.config.loader import load_config
from hub.errors import ConfigError
from hub.state.store import Store
from hub.sync.engine import Engine

__all__ = ["run_job"]

log = logging.getLogger("omnihub.worker")

#: (pid, database URL) -> the store this process opened for it.
_stores: dict[tuple[int, str], Store] = {}


def _store(url: str) -> Store:
    key = (os.getpid(), url)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = Store.open(url)
    return store


def run_job(config_path: str, job_name: str) -> dict[str, Any]:
    """Run ``job_name`` of the config at ``config_path`` (read again for every run, so a changed
    file is seen without restarting the worker); return ``{"run_id", "report"}`` as JSON values.

    Before the run, what a dead process left is closed (``Engine.recover``), as the daemon does at
    its start: a redelivered task finds the run of the worker that was killed still ``running``,
    and its journaled changes pending. Under the job's lock, the new run supersedes them and
    decides again from a fresh pull, so what the dead run sent is not sent twice."""
    config = load_config(config_path)
    if job_name not in config.jobs:
        raise ConfigError(f"unknown job {job_name!r}; defined jobs: {', '.join(config.jobs) or 'none'}")
    if not config.database_url().startswith("postgresql"):
        raise ConfigError("the distributed engine needs PostgreSQL for state (hub.database)")
    engine = Engine(config, _store(config.database_url()))
    engine.recover()
    log.info("job %s: running it for the scheduler", job_name, extra={"job": job_name})
    report = asyncio.run(engine.run_job(job_name))
    return {"run_id": report.run_id, "report": report.as_json()}
