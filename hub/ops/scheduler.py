"""Unattended operation: the job schedule, the ``omnihub run`` daemon, and its health and metrics.

``build_scheduler`` turns every ``jobs:`` entry with a ``schedule`` into one APScheduler job
(cron or ``every 10m``, in the hub's time zone). A run never overlaps the previous run of the
same job (``max_instances=1``), runs missed while the previous one was busy are merged into one
(``coalesce``), and a run that raises or reports ``failed`` is logged with its reason while the
schedule goes on.

``run_daemon`` runs that schedule until SIGTERM or SIGINT, optionally with an HTTP server on
loopback that answers ``/healthz`` and ``/metrics``. On a signal it stops starting runs, gives
the runs in flight ``stop_timeout_s`` to finish, then cancels them: the engine journals pushes
in an outbox before sending, so a cancelled push is decided again by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.config.durations import parse_schedule
from hub.config.loader import LoadedConfig
from hub.errors import OmnihubError
from hub.ops.logging_setup import configure_logging
from hub.ops.metrics import CONTENT_TYPE, HubMetrics
from hub.redact import redact
from hub.sync.report import JobReport

__all__ = ["Daemon", "DaemonError", "JobRunner", "build_scheduler", "run_daemon", "trigger_for"]

log = logging.getLogger("omnihub.scheduler")

RunJob = Callable[[str], Awaitable[JobReport]]
OnReport = Callable[[JobReport], Awaitable[None]]
AfterRun = Callable[[list[JobReport]], Awaitable[None]]

#: After the grace period, how long cancelled runs get to unwind before the daemon moves on.
_CANCEL_WAIT_S = 1.0
#: How long the HTTP server gets to close its connections.
_HTTP_STOP_S = 1.5


class DaemonError(OmnihubError):
    """The daemon could not start (the HTTP port is taken, for instance)."""


def trigger_for(schedule: str, timezone: str) -> BaseTrigger:
    """The APScheduler trigger of a ``schedule:`` value, firing in the hub's ``timezone``."""
    zone = ZoneInfo(timezone)
    _, value = parse_schedule(schedule)
    if isinstance(value, str):
        return CronTrigger.from_crontab(value, timezone=zone)
    return IntervalTrigger(seconds=value.total_seconds(), timezone=zone)


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
    """

    def __init__(
        self, config: LoadedConfig, run_job: RunJob, on_report: OnReport | None = None, *, max_concurrent_runs: int = 1
    ) -> None:
        if max_concurrent_runs < 1:
            raise ValueError("max_concurrent_runs must be at least 1")
        self._config = config
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

    async def run(self, name: str) -> JobReport:
        """Run job ``name`` once; the report is a ``failed`` one if the run raised or was cancelled."""
        started = time.monotonic()
        # Whether this run must queue for a slot is decided now, when the scheduler starts it: a run
        # started before a stop goes on (it is in flight), only one still queued behind others is dropped.
        queued = self.closed or len(self._admitted) >= self._limit
        task = asyncio.create_task(self._turn(name, queued), name=f"omnihub-job-{name}")
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
            log.warning("job %s %s (after %.1fs)", name, reason, time.monotonic() - started, extra={"job": name})
            return self._failed(name, reason, time.monotonic() - started)
        finally:
            if self.in_flight.get(name) is task:
                del self.in_flight[name]
            self.waiting.discard(current)  # type: ignore[arg-type]

    async def _turn(self, name: str, queued: bool) -> JobReport:
        async with self._slots:
            if queued and self.closed:
                log.info("job %s not started: the daemon is stopping", name, extra={"job": name})
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
            log.error("job %s failed: %s%s", name, report.errors[0], details, extra={"job": name, "status": "failed"})
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
                log.error("after job %s: %s: %s", name, type(exc).__name__, redact(exc), extra={"job": name})
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

    @staticmethod
    def _log(report: JobReport) -> None:
        extra = {"job": report.name, "status": report.status, "duration_s": round(report.duration_s, 3)}
        if report.status != "ok":
            reasons = [redact(e) for e in report.errors]
            if report.failed:
                reasons.append(f"{report.failed} changes did not land")
            log.error(
                "job %s %s: %s", report.name, report.status, "; ".join(reasons) or "no reason reported", extra=extra
            )
            return
        log.info(
            "job %s finished in %.1fs: %d open mismatches (%d new, %d resolved), %d pushed, %d failed, %d quarantined",
            report.name,
            report.duration_s,
            report.mismatches,
            report.new_mismatches,
            report.resolved_mismatches,
            sum(report.pushed.values()),
            report.failed,
            report.quarantined,
            extra=extra,
        )


def _add_jobs(
    scheduler: AsyncIOScheduler, config: LoadedConfig, runner: JobRunner, misfire_grace_s: int, run_at_start: bool
) -> None:
    timezone = config.hub.timezone
    for name, job in config.jobs.items():
        if job.schedule is None:
            continue
        extra: dict[str, Any] = {"next_run_time": datetime.now(ZoneInfo(timezone))} if run_at_start else {}
        scheduler.add_job(
            runner.run,
            trigger_for(job.schedule, timezone),
            args=[name],
            id=name,
            name=f"omnihub job {name}",
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
    return _scheduler(config, runner, misfire_grace_s, run_at_start)


def _scheduler(config: LoadedConfig, runner: JobRunner, misfire_grace_s: int, run_at_start: bool) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=ZoneInfo(config.hub.timezone))
    _add_jobs(scheduler, config, runner, misfire_grace_s, run_at_start)
    return scheduler


# --- the HTTP side: /healthz and /metrics -------------------------------------------------------


def create_app(health: Callable[[], tuple[int, dict[str, Any]]], metrics: HubMetrics) -> Starlette:
    """The daemon's tiny HTTP app; ``health`` returns (status code, JSON body)."""

    async def healthz(request: Request) -> Response:
        code, body = health()
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", prometheus)])


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the daemon owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn releases
        return None


def _listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket here, so a taken port is a clear error rather than uvicorn's exit."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {host}:{port} for /healthz and /metrics: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


# --- the daemon ---------------------------------------------------------------------------------


class Daemon:
    """The scheduler, its runs in flight, and the optional HTTP server, started and stopped together.

    ``run_daemon`` drives it from signals; tests drive it with ``request_stop``.
    """

    def __init__(
        self,
        config: LoadedConfig,
        run_job: RunJob,
        *,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        stop_timeout_s: float = 8.0,
        after_run: AfterRun | None = None,
        metrics: HubMetrics | None = None,
        misfire_grace_s: int = 60,
        run_at_start: bool = False,
        max_concurrent_runs: int = 1,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else HubMetrics()
        self.runner = JobRunner(config, run_job, self._on_report, max_concurrent_runs=max_concurrent_runs)
        self.scheduler = _scheduler(config, self.runner, misfire_grace_s, run_at_start)
        self.http_port = http_port
        self.http_host = http_host
        self.stop_timeout_s = stop_timeout_s
        self._after_run = after_run
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._stopping = False
        self._started_at: datetime | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task[None] | None = None

    async def _on_report(self, report: JobReport) -> None:
        self.metrics.observe(report)
        if self._after_run is not None:
            await self._after_run([report])

    # health -----------------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 while the schedule runs and every job's last run was ``ok``;
        503 while the last run of any job did not land everything (``failing``: a probe or a
        container health check must see it, silence would mean "in sync") and once stopping."""
        running = self.scheduler.running and not self._stopping
        jobs: dict[str, Any] = {}
        for name, job in self.config.jobs.items():
            if job.schedule is None:
                continue
            scheduled = self.scheduler.get_job(name) if self.scheduler.running else None
            next_run = getattr(scheduled, "next_run_time", None) if scheduled is not None else None
            last = self.runner.last.get(name)
            jobs[name] = {
                "schedule": job.schedule,
                "running": name in self.runner.in_flight,
                "next_run": next_run.astimezone(UTC).isoformat().replace("+00:00", "Z") if next_run else None,
                "last_run": last.as_json() if last else None,
            }
        if not running:
            status = "stopping"
        elif any(j["last_run"] and j["last_run"]["status"] != "ok" for j in jobs.values()):
            status = "failing"
        else:
            status = "ok"
        body = {
            "status": status,
            "scheduler_running": running,
            "started_at": self._started_at.isoformat().replace("+00:00", "Z") if self._started_at else None,
            "jobs": jobs,
        }
        return (200 if status == "ok" else 503), body

    # lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving HTTP (if asked) and the schedule; raises ``DaemonError`` if it cannot listen."""
        sock = _listen(self.http_host, self.http_port) if self.http_port is not None else None
        self._started_at = datetime.now(UTC)
        if sock is not None:
            config = uvicorn.Config(
                create_app(self.health, self.metrics),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
            self._server = _Server(config)
            self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]), name="omnihub-http")
            deadline = time.monotonic() + 10
            # uvicorn only exposes a `started` flag, no event to await
            while not self._server.started and not self._server_task.done() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if not self._server.started:
                await self._stop_http()
                raise DaemonError(f"the HTTP server on {self.http_host}:{self.http_port} did not start")
            address = sock.getsockname()
            log.info("serving /healthz and /metrics on http://%s:%s", address[0], address[1])
        self.scheduler.start()
        scheduled = [n for n, j in self.config.jobs.items() if j.schedule is not None]
        if scheduled:
            log.info(
                "scheduler started (%s): %s",
                self.config.hub.timezone,
                ", ".join(f"{n} [{self.config.jobs[n].schedule}]" for n in scheduled),
            )
        else:
            log.warning("no job has a schedule: the daemon will only serve /healthz and /metrics")

    def request_stop(self) -> None:
        """Ask the daemon to stop (signal handlers call this); asked twice, skip the grace period."""
        if self._stop.is_set():
            log.warning("second stop request: cancelling the runs in flight now")
            self._force.set()
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Stop taking runs, let the ones in flight finish (up to ``stop_timeout_s``), cancel the rest."""
        self._stopping = True
        self.runner.closed = True
        if self.scheduler.running:
            self.scheduler.pause()  # no new runs from here on; a shutdown now would cancel the runs in flight
        if self._server is not None:
            self._server.should_exit = True
        tasks = list(self.runner.in_flight.values())
        if tasks:
            log.info(
                "stopping: waiting up to %.0fs for %d run(s) in flight: %s",
                self.stop_timeout_s,
                len(tasks),
                ", ".join(self.runner.in_flight),
            )
            force = asyncio.create_task(self._force.wait())
            deadline = time.monotonic() + self.stop_timeout_s
            remaining = set(tasks)
            while remaining and not self._force.is_set() and (left := deadline - time.monotonic()) > 0:
                done, _ = await asyncio.wait([*remaining, force], timeout=left, return_when=asyncio.FIRST_COMPLETED)
                remaining -= done
            force.cancel()
            for task in remaining:
                task.cancel()
        waiting = [t for t in self.runner.waiting if not t.done()]
        if waiting:  # the scheduler's tasks return once their inner task is done or cancelled
            await asyncio.wait(waiting, timeout=_CANCEL_WAIT_S)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the next loop iteration
        await self._stop_http()
        log.info("stopped")

    async def _stop_http(self) -> None:
        if self._server is None or self._server_task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._server_task), timeout=_HTTP_STOP_S)
        except TimeoutError:
            self._server.force_exit = True
            self._server_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._server_task
        except Exception as exc:  # the server's own failure must not hide the shutdown
            log.warning("HTTP server ended with %s: %s", type(exc).__name__, redact(exc))
        self._server = None
        self._server_task = None


async def run_daemon(
    config: LoadedConfig,
    run_job: RunJob,
    *,
    http_port: int | None = None,
    log_format: str | None = "text",
    stop_timeout_s: float = 8.0,
    after_run: AfterRun | None = None,
    log_level: str = "INFO",
    http_host: str = "127.0.0.1",
    metrics: HubMetrics | None = None,
    run_at_start: bool = False,
    max_concurrent_runs: int = 1,
) -> int:
    """Run the schedule until SIGTERM or SIGINT; return the exit code (0 after a clean stop).

    ``after_run`` is awaited after every run with its report (the CLI sends the alert digest
    there); its failures are logged and the schedule goes on. Logging is configured here as
    ``log_format`` (``text`` or ``json``) at ``log_level``; ``log_format=None`` leaves the caller's
    logging as it is. Raises ``DaemonError`` when the HTTP port cannot be bound.
    """
    if log_format is not None:
        configure_logging(log_format, log_level)  # type: ignore[arg-type]
    daemon = Daemon(
        config,
        run_job,
        http_port=http_port,
        http_host=http_host,
        stop_timeout_s=stop_timeout_s,
        after_run=after_run,
        metrics=metrics,
        run_at_start=run_at_start,
        max_concurrent_runs=max_concurrent_runs,
    )
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals
            loop.add_signal_handler(sig, _on_signal, daemon, sig)
            handled.append(sig)
    try:
        await daemon.start()
        log.info("omnihub daemon running; stop with SIGTERM or Ctrl-C")
        await daemon.wait_stopped()
        await daemon.stop()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    return 0


def _on_signal(daemon: Daemon, sig: signal.Signals) -> None:
    log.info("received %s", sig.name)
    daemon.request_stop()
