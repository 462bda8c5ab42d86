"""A whole run in one task: the same ``Engine.run_job`` as ``omnihub run`` in process.

The scheduler splits its runs into steps (``hub.distributed.steps``); this task is the unsplit
form, for a caller that wants one job run on a worker as one unit (and for a scheduler of the
previous version, whose tasks a worker still understands). A plain function of JSON values (the
config's path and the job's name), so it can be redelivered as is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub.distributed.steps import config_at, store_for
from hub.errors import ConfigError
from hub.sync.engine import Engine

__all__ = ["run_job"]

log = logging.getLogger("omnihub.worker")


def run_job(config_path: str, job_name: str) -> dict[str, Any]:
    """Run ``job_name`` of the config at ``config_path`` (read again for every run, so a changed
    file is seen without restarting the worker); return ``{"run_id", "report"}`` as JSON values.

    Before the run, what a dead process left is closed (``Engine.recover``), as the daemon does at
    its start: a redelivered task finds the run of the worker that was killed still ``running``,
    and its journaled changes pending. Under the job's lock, the new run supersedes them and
    decides again from a fresh pull, so what the dead run sent is not sent twice."""
    config = config_at(config_path)
    if job_name not in config.jobs:
        raise ConfigError(f"unknown job {job_name!r}; defined jobs: {', '.join(config.jobs) or 'none'}")
    engine = Engine(config, store_for(config))
    engine.recover()
    log.info("job %s: running it for the scheduler", job_name, extra={"job": job_name})
    report = asyncio.run(engine.run_job(job_name))
    return {"run_id": report.run_id, "report": report.as_json()}
