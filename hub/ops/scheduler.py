"""The job schedule: one APScheduler job per ``jobs:`` entry with a ``schedule``, in the hub's time zone.

``build_scheduler`` turns every ``jobs:`` entry with a ``schedule`` into one APScheduler job
(cron or ``every 10m``). A run never overlaps the previous run of the same job
(``max_instances=1``), runs missed while the previous one was busy are merged into one
(``coalesce``), and a run that raises or reports ``failed`` is logged with its reason while the
schedule goes on (``hub.ops.runner``). The daemon that runs the schedule until a signal is in
``hub.ops.lifecycle``.

Serving a stores directory, one scheduler holds every store's jobs (``add_jobs`` once per store,
each with the store's own runner and time zone); a job's id is then ``store/job``, so two stores'
``stock`` jobs are two jobs, each run by its own store's runner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hub.config.durations import parse_schedule
from hub.config.loader import LoadedConfig
from hub.ops.runner import JobRunner, OnReport, RunJob

__all__ = ["add_jobs", "build_scheduler", "job_id", "scheduler_for", "trigger_for"]


def trigger_for(schedule: str, timezone: str) -> BaseTrigger:
    """The APScheduler trigger of a ``schedule:`` value, firing in the hub's ``timezone``."""
    zone = ZoneInfo(timezone)
    _, value = parse_schedule(schedule)
    if isinstance(value, str):
        return CronTrigger.from_crontab(value, timezone=zone)
    return IntervalTrigger(seconds=value.total_seconds(), timezone=zone)


def add_jobs(
    scheduler: AsyncIOScheduler,
    config: LoadedConfig,
    runner: JobRunner,
    misfire_grace_s: int,
    run_at_start: bool,
    *,
    store: str | None = None,
) -> None:
    """Add ``config``'s scheduled jobs, run by ``runner``, in ``config``'s time zone; with
    ``store``, their ids are ``store/job`` (``job_id``)."""
    timezone = config.hub.timezone
    for name, job in config.jobs.items():
        if job.schedule is None:
            continue
        extra: dict[str, Any] = {"next_run_time": datetime.now(ZoneInfo(timezone))} if run_at_start else {}
        scheduler.add_job(
            runner.run,
            trigger_for(job.schedule, timezone),
            args=[name],
            id=job_id(name, store),
            name=f"omnihub job {job_id(name, store)}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=misfire_grace_s,
            replace_existing=True,
            **extra,
        )


def build_scheduler(
    config: LoadedConfig,
    run_job: RunJob,
    *,
    misfire_grace_s: int = 60,
    on_report: OnReport | None = None,
    run_at_start: bool = False,
    max_concurrent_runs: int = 1,
) -> AsyncIOScheduler:
    """An (unstarted) scheduler with one job per scheduled ``jobs:`` entry.

    ``on_report`` is awaited after every run with its report (a failed one when the run raised).
    ``run_at_start`` also runs each job as soon as the scheduler starts, not only at its first
    scheduled time (useful for ``every 24h``). ``max_concurrent_runs`` bounds the runs of
    different jobs at the same time (a job never overlaps itself).
    """
    runner = JobRunner(config, run_job, on_report, max_concurrent_runs=max_concurrent_runs)
    return scheduler_for(config, runner, misfire_grace_s, run_at_start)


def scheduler_for(
    config: LoadedConfig, runner: JobRunner, misfire_grace_s: int, run_at_start: bool
) -> AsyncIOScheduler:
    """An (unstarted) scheduler whose jobs are run by ``runner``: the daemon keeps the runner to stop its runs."""
    scheduler = AsyncIOScheduler(timezone=ZoneInfo(config.hub.timezone))
    add_jobs(scheduler, config, runner, misfire_grace_s, run_at_start)
    return scheduler


def job_id(name: str, store: str | None = None) -> str:
    """A job's id in the scheduler: its name, or ``store/name`` serving a stores directory (a store's
    name holds no ``/``, so no two stores' ids meet)."""
    return name if store is None else f"{store}/{name}"
