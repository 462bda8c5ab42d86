"""The daemon's side of the distributed engine: a ``run_job`` that enqueues the run and waits for its report.

``omnihub run`` with ``hub.engine: celery`` keeps the schedule and the webhook receiver, and hands
the ``JobRunner`` this ``run_job`` instead of the engine's. It waits for the worker's report rather
than returning at once: the runner keeps each job's last outcome for ``/healthz`` and ``/metrics``
and sends the alert digest after it, and neither may speak of a run it did not see finish. A run
waiting in the queue (no worker up yet) shows as ``running`` in ``/healthz``, which is true: it is
not over. A daemon that stops stops waiting, and leaves the task to the workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import fields
from typing import Any, Protocol

from celery import Celery
from celery.result import AsyncResult

from hub.config.loader import LoadedConfig
from hub.distributed.app import QUEUE, TASK, celery_app
from hub.errors import OmnihubError
from hub.redact import redact
from hub.sync.report import FailedChange, JobReport, PlannedChange

__all__ = ["Enqueuer", "TaskMetrics", "WorkerFailed", "report_from_json"]

log = logging.getLogger("omnihub.scheduler")

#: How often the daemon looks whether an enqueued run is over.
POLL_S = 0.5


class WorkerFailed(OmnihubError):
    """The worker's task raised instead of returning a report (the config does not load there,
    a bug): the run is failed with what the worker said."""


def report_from_json(value: dict[str, Any], run_id: int | None = None) -> JobReport:
    """A ``JobReport`` back from its ``as_json`` (keys it does not know, from a newer worker, are left out)."""
    known = {f.name for f in fields(JobReport)}
    data = {k: v for k, v in value.items() if k in known}
    data["failures"] = [FailedChange(**f) for f in data.get("failures", [])]
    if value.get("planned") is not None:
        data["planned"] = [
            PlannedChange(p["connector"], p["key"], p["field"], p.get("from"), p.get("to")) for p in value["planned"]
        ]
    return JobReport(**data, run_id=run_id)


class TaskMetrics(Protocol):
    """What the enqueuer tells the daemon's metrics (``hub.ops.metrics.HubMetrics`` is one)."""

    def task_enqueued(self, job: str) -> None: ...

    def task_done(self, job: str, seconds: float) -> None: ...


class Enqueuer:
    """Enqueues one job's run on the broker and waits for the worker's report."""

    def __init__(
        self,
        config: LoadedConfig,
        app: Celery | None = None,
        *,
        poll_s: float = POLL_S,
        metrics: TaskMetrics | None = None,
        queue: str = QUEUE,
    ) -> None:
        self.config = config
        #: The queue this config's tasks go to (one per store when a deployment serves several).
        self.queue = queue
        #: Where the runs waiting for the workers are counted (the daemon's ``/metrics``).
        self.metrics = metrics
        self.app = app if app is not None else celery_app(config)
        self.poll_s = poll_s
        #: The config as the workers read it: the same file, by its absolute path.
        self.config_path = str(config.path.resolve())

    async def run_job(self, name: str) -> JobReport:
        """Enqueue ``name`` and return the report of the run a worker made of it."""
        result: AsyncResult = await asyncio.to_thread(
            self.app.send_task, TASK, args=[self.config_path, name], queue=self.queue
        )
        log.info("job %s enqueued (task %s)", name, result.id, extra={"job": name})
        enqueued = time.monotonic()
        if self.metrics is not None:
            self.metrics.task_enqueued(name)
        try:
            while True:
                if await asyncio.to_thread(result.ready):
                    break
                await asyncio.sleep(self.poll_s)
        except asyncio.CancelledError:
            log.warning(
                "job %s: stopped waiting for task %s; a worker still runs it", name, result.id, extra={"job": name}
            )
            raise
        finally:
            if self.metrics is not None:
                self.metrics.task_done(name, time.monotonic() - enqueued)
        if not result.successful():
            raise WorkerFailed(f"the worker failed: {redact(f'{type(result.result).__name__}: {result.result}')}")
        value = result.result
        result.forget()
        return report_from_json(value["report"], value.get("run_id"))
