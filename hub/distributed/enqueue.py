"""The scheduler's side of the distributed engine: a ``run_job`` that has the workers make the run.

``omnihub run`` with ``hub.engine: celery`` keeps the schedule and the webhook receiver, and hands
the ``JobRunner`` this ``run_job`` instead of the engine's. It coordinates each run and does none
of its work (``hub.distributed.steps`` is the work):

1. it takes the job's lock (a PostgreSQL advisory lock, held by its own connection for the whole
   run), so that a job runs once at a time however many schedulers fire it. A second scheduler
   kept for high availability waits for the first one's run to end and, finding that the run
   was made for the same tick (``Enqueuer._covered``), takes its report instead of running again;
2. it records the run, then sends the steps and waits for each: the reserving channels' orders,
   then every connector's pull at once, then every partition of the keys at once, then the settle;
3. it returns the settle's report: the runner keeps each job's last outcome for ``/healthz`` and
   ``/metrics`` and sends the alert digest after it, and neither may speak of a run it did not
   see finish.

A step a dead worker held is given back to another worker by the broker (``task_acks_late``),
and is safe to run twice (see ``hub.distributed.steps``). A scheduler that stops stops waiting:
the run stays ``running`` until the next run of its job, under the lock, settles it as
interrupted and decides again from a fresh pull whatever it left unconfirmed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any, Protocol

from celery import Celery
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from hub.config.loader import LoadedConfig
from hub.distributed.app import QUEUE, STEPS, celery_app
from hub.distributed.fragments import report_from_json
from hub.distributed.publish import publish, wait_ready
from hub.errors import OmnihubError
from hub.redact import redact
from hub.state.job_locks import JobAlreadyRunning, job_lock
from hub.state.store import Store, utcnow
from hub.sync.engine import Engine
from hub.sync.report import JobReport

__all__ = ["Enqueuer", "TaskMetrics", "WorkerFailed", "report_from_json"]

log = logging.getLogger("omnihub.scheduler")

#: The longest pause between two looks at whether a step is over (the first looks come sooner).
POLL_S = 0.5
#: The first pause: most steps of a small job end within milliseconds.
FIRST_POLL_S = 0.01
#: How far apart two schedulers may fire one tick of a schedule and still count as one firing.
SAME_TICK = timedelta(seconds=2)


class WorkerFailed(OmnihubError):
    """A step raised on its worker instead of answering (the config does not load there, a bug):
    the run is failed with what the worker said."""


class TaskMetrics(Protocol):
    """What the enqueuer tells the daemon's metrics (``hub.ops.metrics.HubMetrics`` is one)."""

    def task_enqueued(self, job: str) -> None: ...

    def task_done(self, job: str, seconds: float) -> None: ...


class Enqueuer:
    """Coordinates the runs of one config's jobs on the workers."""

    def __init__(
        self,
        config: LoadedConfig,
        app: Celery | None = None,
        *,
        poll_s: float = POLL_S,
        metrics: TaskMetrics | None = None,
        queue: str = QUEUE,
        store: Store | None = None,
    ) -> None:
        self.config = config
        #: Where the steps waiting for the workers are counted (the daemon's ``/metrics``).
        self.metrics = metrics
        #: The queue this config's tasks go to (one per store when a deployment serves several).
        self.queue = queue
        self.app = app if app is not None else celery_app(config)
        self.poll_s = poll_s
        #: The config as the workers read it: the same file, by its absolute path.
        self.config_path = str(config.path.resolve())
        self._store = store
        self._locks: SqlEngine | None = None

    @property
    def store(self) -> Store:
        """The config's store (the daemon's own, or opened on first use)."""
        if self._store is None:
            self._store = Store.open(self.config.database_url())
        return self._store

    @property
    def locks(self) -> SqlEngine:
        """Where the job locks are held: a connection of its own per run in flight, outside the
        store's pool. Every job's run holds its lock's connection for the whole run, so twenty
        runs at once would take the pool's every connection and leave none for the runs' own
        queries (they would wait for each other for good)."""
        if self._locks is None:
            self._locks = create_engine(self.store.engine.url, poolclass=NullPool)
        return self._locks

    async def run_job(self, name: str) -> JobReport:
        """Have the workers make a run of ``name``; its report."""
        engine = Engine(self.config, self.store)
        wait_s = self.config.hub.job_lock_wait.total_seconds()
        started, fired = time.perf_counter(), utcnow()
        try:
            async with job_lock(self.locks, name, wait_s=wait_s):
                if (covered := self._covered(engine.store, name, fired)) is not None:
                    run_id, value = covered
                    log.info("job %s: run %d by another scheduler covers this one", name, run_id, extra={"job": name})
                    return report_from_json(value, run_id)
                engine.settle_dead_runs(name)
                report, again = await self._run(engine, name)
                if again:  # a partition's earlier delivery died mid-push: decide it from a fresh pull
                    log.info("job %s: running it again for what a dead worker left unconfirmed", name)
                    report, _ = await self._run(engine, name)
                return report
        except JobAlreadyRunning as exc:
            return engine.refused_run(name, exc, time.perf_counter() - started)

    def _covered(self, store: Store, name: str, fired: datetime) -> tuple[int, dict[str, Any]] | None:
        """The run another scheduler (kept for high availability) made of the job while this one
        waited for its lock, when that run is this one's: it started at most ``SAME_TICK`` before
        this one fired (two schedulers fire one tick of a schedule within a second or so of each
        other), and no hint (a webhook's SKUs, moved reservations) waits that it did not decide."""
        if store.hints.pending(name)[0]:
            return None
        return store.runs.covering(name, fired - SAME_TICK)

    async def _run(self, engine: Engine, name: str) -> tuple[JobReport, bool]:
        """One run: its steps sent in order, its report; and whether another run must follow."""
        config, store = self.config, engine.store
        job = config.jobs[name]
        source = config.source_of(job)
        run_id = store.runs.start(name, job.entity.value, job.mode, False)
        if superseded := store.outbox.supersede_retries(name, run_id):
            log.info("job %s: %d changes that did not land before are decided again", name, superseded)
        old_fingerprint, last_run_id = store.runs.job_state(name)
        fingerprint = engine.fingerprint(job, source)
        plan: dict[str, Any] = {
            "fingerprint": fingerprint,
            "same_rules": old_fingerprint == fingerprint,
            "last_run_id": last_run_id,
            "started_at": time.time(),
            "hinted_up_to": 0,
            "errors": [],
        }
        path, pieces, again = self.config_path, [], False
        try:
            if job.reservations:  # the orders first: the stock is read knowing what they hold
                pieces.append(await self._step("orders", name, [path, name, run_id]))
            # The hints so far, the orders' included, are this run's; later ones wait for the next.
            plan["hinted_up_to"], _ = store.hints.pending(name)
            readers = list(dict.fromkeys([source, *job.sources, *job.targets]))
            pulls = await asyncio.gather(*(self._step("pull", name, [path, name, run_id, r]) for r in readers))
            pieces += pulls
            landed = {p["outcome"]["connector"]: p for p in pulls if "outcome" in p}
            if source in landed:
                parts = await self._decide(name, run_id, landed, plan)
                pieces += parts
                again = any(p.get("again") for p in parts)
            else:
                plan["errors"].append(f"the source of truth {source!r} could not be read; nothing was reconciled")
            final = await self._step("settle", name, [path, name, run_id, pieces, plan])
        except OmnihubError as exc:  # a step that failed on its worker, a broker gone for good
            return self._abandon(store, job.entity.value, name, job.mode, run_id, plan, str(exc)), False
        except asyncio.CancelledError:
            self._abandon(store, job.entity.value, name, job.mode, run_id, plan, "cancelled: omnihub stopped")
            raise
        return report_from_json(final["report"], final["run_id"]), again

    async def _decide(
        self, name: str, run_id: int, landed: dict[str, dict[str, Any]], plan: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Every partition decided (and pushed) by the workers at once.

        A partition that compared nothing while the truth and a target both hold records in it
        records nothing (``blind``). When no partition compared anything, the job is blind, as in
        process: the run fails saying why. When others did, the partition merely holds no pair
        (a small catalogue cut in many parts): it is decided again, trusted."""
        count = self.partitions(max(p["outcome"]["held"] for p in landed.values()))
        path = self.config_path

        async def decide(index: int, trusted: bool) -> dict[str, Any]:
            args = [path, name, run_id, [index, count], landed, {**plan, "trusted": trusted}]
            return await self._step("partition", name, args)

        parts = list(await asyncio.gather(*(decide(i, False) for i in range(count))))
        blind = [i for i, p in enumerate(parts) if p.get("blind")]
        if blind and not any(p["report"]["compared"] for p in parts):
            plan["errors"].append(parts[blind[0]]["blind"])
        elif blind:
            again = await asyncio.gather(*(decide(i, True) for i in blind))
            for index, part in zip(blind, again, strict=True):
                parts[index] = part
        return parts

    def partitions(self, held: int) -> int:
        """How many partitions a run of ``held`` records (its largest connector's) is decided in."""
        hub = self.config.hub
        return max(1, min(hub.partitions, -(-held // hub.partition_records)))

    async def _step(self, step: str, job: str, args: list[Any]) -> dict[str, Any]:
        """Send one step, wait for its worker's answer, and return it. A broker that cannot be
        reached is tried again for ``hub.broker_outage`` (``hub.distributed.publish``)."""
        outage_s = self.config.hub.broker_outage.total_seconds()
        result = await publish(self.app, STEPS[step], args, queue=self.queue, give_up_after_s=outage_s, job=job)
        log.debug("job %s: %s step enqueued (task %s)", job, step, result.id, extra={"job": job})
        enqueued = time.monotonic()
        if self.metrics is not None:
            self.metrics.task_enqueued(job)
        try:
            await wait_ready(result, poll_s=self.poll_s, give_up_after_s=outage_s, job=job, first_poll_s=FIRST_POLL_S)
        except asyncio.CancelledError:
            log.warning(
                "job %s: stopped waiting for its %s step (task %s); a worker may still run it",
                job,
                step,
                result.id,
                extra={"job": job},
            )
            raise
        finally:
            if self.metrics is not None:
                self.metrics.task_done(job, time.monotonic() - enqueued)
        if not result.successful():
            why = redact(f"{type(result.result).__name__}: {result.result}")
            result.forget()
            raise WorkerFailed(f"the {step} step failed on its worker: {why}")
        value: dict[str, Any] = result.result
        result.forget()
        return value

    def _abandon(
        self, store: Store, entity: str, name: str, mode: str, run_id: int, plan: dict[str, Any], why: str
    ) -> JobReport:
        """A run that cannot go on: recorded failed with why; what it journaled and did not see
        confirmed is decided again by the next run from a fresh pull."""
        log.error("job %s: %s", name, why, extra={"job": name})
        report = JobReport(name=name, entity=entity, mode=mode, status="failed", errors=[why], run_id=run_id)
        report.duration_s = time.time() - plan["started_at"]
        store.outbox.supersede_pending([run_id])
        store.runs.finish(run_id, "failed", report.duration_s, report.as_json(), why)
        return report
