"""One scheduled run of a job: ``JobRunner`` runs it, never raises, logs every outcome and keeps its last result.

A run's work happens in an inner task, so that the daemon's stop sequence (``hub.ops.lifecycle``)
can cancel it while APScheduler's own task ends normally; runs of different jobs queue for a
bounded number of slots because they share the store and the connectors' rate limits.

Serving a stores directory (``omnihub run --stores``), each store has a runner of its own: its own
slots (a store whose runs are slow or stuck never holds another's turn), its own last results, and
its name in every line it logs (``job acme/stock failed``). While a store's run goes on, every log
record made within it (the engine's, the enqueuer's) carries ``store`` (``StoreLogFilter``), so a
JSON log line says which store it is about even when its message cannot.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.config.loader import LoadedConfig
from hub.errors import OmnihubError
from hub.redact import redact
from hub.sync.report import JobReport

__all__ = ["JobRunner", "LastRun", "OnReport", "RunJob", "StoreLogFilter", "current_store"]

#: One logger for the whole schedule (runner, scheduler, daemon): operators filter on it.
log = logging.getLogger("omnihub.scheduler")

RunJob = Callable[[str], Awaitable[JobReport]]
OnReport = Callable[[JobReport], Awaitable[None]]

#: The store whose run the current task (and the threads it hands work to) is making, if any.
current_store: contextvars.ContextVar[str | None] = contextvars.ContextVar("omnihub_store", default=None)


class StoreLogFilter(logging.Filter):
    """Puts ``store`` on every record made within a store's run (``current_store``), unless the
    record names one itself: installed on the daemon's handler when it serves a stores directory."""

    def filter(self, record: logging.LogRecord) -> bool:
        store = current_store.get()
        if store is not None and not hasattr(record, "store"):
            record.store = store
        return True


@dataclass
class LastRun:
    """What ``/healthz`` says about a job's most recent run."""

    status: str
    finished_at: datetime
    duration_s: float
    mismatches: int
    errors: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "finished_at": self.finished_at.isoformat().replace("+00:00", "Z"),
            "duration_s": round(self.duration_s, 3),
            "mismatches": self.mismatches,
            "errors": self.errors,
        }


class JobRunner:
    """Runs one job for the scheduler: never raises, logs every outcome, tracks what is in flight.

    The work of a run (``run_job`` and then ``on_report``) happens in an inner task, so that a
    shutdown can cancel it while the scheduler's own task ends normally. At most
    ``max_concurrent_runs`` jobs run at once (default one: runs share the store and the
    connectors' rate limits); a job whose time comes while another runs waits for its turn.
    ``store`` names the store of a stores directory the jobs belong to (None for a single config).
    """

    def __init__(
        self,
        config: LoadedConfig,
        run_job: RunJob,
        on_report: OnReport | None = None,
        *,
        max_concurrent_runs: int = 1,
        store: str | None = None,
    ) -> None:
        if max_concurrent_runs < 1:
            raise ValueError("max_concurrent_runs must be at least 1")
        self._config = config
        self.store = store
        self._run_job = run_job
        self._on_report = on_report
        self._slots = asyncio.Semaphore(max_concurrent_runs)
        self._limit = max_concurrent_runs
        #: Runs given a slot (or promised one when they were started), counted at once, not when their task first runs.
        self._admitted: set[asyncio.Task[JobReport]] = set()
        #: Set when the daemon stops: a run still waiting for its turn then does not start.
        self.closed = False
        #: The inner task of each job running now.
        self.in_flight: dict[str, asyncio.Task[JobReport]] = {}
        #: The scheduler's tasks awaiting them (they end once their inner task is done or cancelled).
        self.waiting: set[asyncio.Task[Any]] = set()
        self.last: dict[str, LastRun] = {}
        #: Jobs asked to run soon (``request``) whose run has not started yet.
        self._requested: set[str] = set()
        #: Jobs asked to run while they were running: one more run follows the current one.
        self._again: set[str] = set()
        self._requests: set[asyncio.Task[None]] = set()

    def request(self, name: str, delay_s: float = 0.05) -> bool:
        """Run ``name`` soon, outside its schedule (a webhook delivery concerns it). Requests made
        while one waits are the same run; a request made while the job runs makes one more run
        after it (the running one may have read the platform before the change). The short delay
        gathers the deliveries of one sale (order created, paid, stock updated) into one run.
        False when the daemon is stopping."""
        if self.closed:
            return False
        if name in self._requested:
            return True
        if name in self.in_flight:
            self._again.add(name)
            return True
        self._requested.add(name)
        task = asyncio.get_running_loop().create_task(
            self._requested_run(name, delay_s), name=f"omnihub-request-{self._id(name)}"
        )
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)
        return True

    def cancel_requests(self) -> None:
        """Drop the requested runs that have not started (the daemon is stopping)."""
        for task in list(self._requests):
            task.cancel()
        self._requested.clear()
        self._again.clear()

    async def _requested_run(self, name: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._requested.discard(name)
        if self.closed:
            return
        if name in self.in_flight:
            self._again.add(name)
            return
        await self.run(name)

    async def run(self, name: str) -> JobReport:
        """Run job ``name`` once; the report is a ``failed`` one if the run raised or was cancelled.

        A run asked for while the same job runs (the schedule's time came during a requested run)
        waits for that run and one more run follows it: two runs of one job never overlap."""
        if (running := self.in_flight.get(name)) is not None:
            self._again.add(name)
            return await asyncio.shield(running)
        started = time.monotonic()
        # Whether this run must queue for a slot is decided now, when the scheduler starts it: a run
        # started before a stop goes on (it is in flight), only one still queued behind others is dropped.
        queued = self.closed or len(self._admitted) >= self._limit
        task = asyncio.create_task(self._turn(name, queued), name=f"omnihub-job-{self._id(name)}")
        if not queued:
            self._admitted.add(task)
        task.add_done_callback(self._admitted.discard)
        self.in_flight[name] = task
        current = asyncio.current_task()
        if current is not None:
            self.waiting.add(current)
        try:
            return await task
        except asyncio.CancelledError:
            if current is not None and current.cancelling():
                raise  # the scheduler's own task is being cancelled: let it go
            reason = "cancelled at shutdown; pushes journaled in the outbox are decided again by the next run"
            elapsed = time.monotonic() - started
            log.warning("job %s %s (after %.1fs)", self._id(name), reason, elapsed, extra=self._extra(name))
            return self._failed(name, reason, time.monotonic() - started)
        finally:
            if self.in_flight.get(name) is task:
                del self.in_flight[name]
            self.waiting.discard(current)  # type: ignore[arg-type]
            if name in self._again and not self.closed:
                self._again.discard(name)
                self.request(name, 0.0)

    def _id(self, name: str) -> str:
        """How logs name a job: ``store/job`` when serving a stores directory."""
        return name if self.store is None else f"{self.store}/{name}"

    def _extra(self, name: str, **more: Any) -> dict[str, Any]:
        """A log record's extras about job ``name`` (and its store's name, when it has one)."""
        return {"job": name, **more} if self.store is None else {"job": name, "store": self.store, **more}

    async def _turn(self, name: str, queued: bool) -> JobReport:
        if self.store is not None:  # this task's own context: every record of the run says its store
            current_store.set(self.store)
        async with self._slots:
            if queued and self.closed:
                log.info("job %s not started: the daemon is stopping", self._id(name), extra=self._extra(name))
                return self._failed(name, "not started: the daemon was stopping", 0.0)
            if queued and (current := asyncio.current_task()) is not None:
                self._admitted.add(current)
            return await self._work(name, time.monotonic())

    async def _work(self, name: str, started: float) -> JobReport:
        try:
            report = await self._run_job(name)
        except Exception as exc:
            report = self._failed(name, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
            details = "" if isinstance(exc, OmnihubError) else "\n" + redact("".join(traceback.format_exception(exc)))
            log.error(
                "job %s failed: %s%s",
                self._id(name),
                report.errors[0],
                details,
                extra=self._extra(name, status="failed"),
            )
        else:
            self._log(report)
        self.last[name] = LastRun(
            status=report.status,
            finished_at=datetime.now(UTC),
            duration_s=report.duration_s or time.monotonic() - started,
            mismatches=report.mismatches,
            errors=[redact(e) for e in report.errors],
        )
        if self._on_report is not None:
            try:
                await self._on_report(report)
            except Exception as exc:  # alerts or metrics must not stop the schedule
                log.error(
                    "after job %s: %s: %s", self._id(name), type(exc).__name__, redact(exc), extra=self._extra(name)
                )
        return report

    def _failed(self, name: str, reason: str, duration_s: float) -> JobReport:
        job = self._config.jobs.get(name)
        return JobReport(
            name=name,
            entity=str(job.entity) if job else "",
            mode=job.mode if job else "monitor",
            status="failed",
            duration_s=duration_s,
            errors=[redact(reason)],
        )

    def _log(self, report: JobReport) -> None:
        extra = self._extra(report.name, status=report.status, duration_s=round(report.duration_s, 3))
        if report.status != "ok":
            reasons = [redact(e) for e in report.errors]
            if report.failed:
                reasons.append(f"{report.failed} changes did not land")
            log.error(
                "job %s %s: %s",
                self._id(report.name),
                report.status,
                "; ".join(reasons) or "no reason reported",
                extra=extra,
            )
            return
        log.info(
            "job %s finished in %.1fs: %d open mismatches (%d new, %d resolved), %d pushed, %d failed, %d quarantined",
            self._id(report.name),
            report.duration_s,
            report.mismatches,
            report.new_mismatches,
            report.resolved_mismatches,
            sum(report.pushed.values()),
            report.failed,
            report.quarantined,
            extra=extra,
        )
