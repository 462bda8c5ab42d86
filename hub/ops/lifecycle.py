"""The ``omnihub run`` daemon's lifecycle: the schedule and the HTTP server started together, stopped in order.

``run_daemon`` runs the schedule until SIGTERM or SIGINT, optionally with an HTTP server on
loopback that answers ``/healthz`` and ``/metrics`` (``hub.ops.endpoints``). On a signal it stops
starting runs, gives the runs in flight ``stop_timeout_s`` to finish, then cancels them: the
engine journals pushes in an outbox before sending, so a cancelled push is decided again by the
next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import uvicorn

from hub.config.loader import LoadedConfig
from hub.console.app import create_console
from hub.ops.endpoints import DaemonError, QuietServer, create_app, listen
from hub.ops.logging_setup import configure_logging
from hub.ops.metrics import HubMetrics
from hub.ops.runner import JobRunner, RunJob
from hub.ops.scheduler import scheduler_for
from hub.ops.webhooks import WebhookReceiver
from hub.redact import redact
from hub.state.store import Store
from hub.sync.report import JobReport

__all__ = ["AfterRun", "Daemon", "DaemonError", "run_daemon"]

log = logging.getLogger("omnihub.scheduler")

AfterRun = Callable[[list[JobReport]], Awaitable[None]]

#: After the grace period, how long cancelled runs get to unwind before the daemon moves on.
_CANCEL_WAIT_S = 1.0
#: How long the HTTP server gets to close its connections.
_HTTP_STOP_S = 1.5


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
        store: Store | None = None,
    ) -> None:
        self.config = config
        #: Read by the web console's pages (None: the console shows the schedule only).
        self.store = store
        self.metrics = metrics if metrics is not None else HubMetrics()
        self.runner = JobRunner(config, run_job, self._on_report, max_concurrent_runs=max_concurrent_runs)
        #: Answers ``POST /webhooks/{connector}`` when the daemon has a store to write hints to.
        self.webhooks = (
            WebhookReceiver(config, store, self._request_run, on_outcome=self.metrics.webhook)
            if store is not None
            else None
        )
        self.scheduler = scheduler_for(config, self.runner, misfire_grace_s, run_at_start)
        self.http_port = http_port
        self.http_host = http_host
        self.stop_timeout_s = stop_timeout_s
        self._after_run = after_run
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._stopping = False
        self._started_at: datetime | None = None
        self._server: QuietServer | None = None
        #: The HTTP server runs on its own event loop in this thread: a run busy with the CPU or the
        #: database must not keep a platform's webhook delivery (WooCommerce gives up after 5 s and
        #: disables a webhook after 5 failures) or a health probe waiting.
        self._server_thread: threading.Thread | None = None
        self._server_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        sock = listen(self.http_host, self.http_port) if self.http_port is not None else None
        self._started_at = datetime.now(UTC)
        if sock is not None:
            config = uvicorn.Config(
                create_app(
                    self.health,
                    self.metrics,
                    self.webhooks,
                    create_console(self.config, self.store, health=self.health, run_now=self._request_run),
                ),
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
            self._loop = asyncio.get_running_loop()
            self._server = QuietServer(config)
            self._server_thread = threading.Thread(target=self._serve, args=(sock,), name="omnihub-http", daemon=True)
            self._server_thread.start()
            deadline = time.monotonic() + 10
            # uvicorn only exposes a `started` flag, no event to await
            while not self._server.started and self._server_thread.is_alive() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if not self._server.started:
                await self._stop_http()
                raise DaemonError(f"the HTTP server on {self.http_host}:{self.http_port} did not start")
            address = sock.getsockname()
            served = "/console/, /healthz, /metrics" + (" and /webhooks/{connector}" if self.webhooks else "")
            log.info("serving %s on http://%s:%s", served, address[0], address[1])
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
        self.runner.cancel_requests()
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
        if self._server is None or self._server_thread is None:
            return
        self._server.should_exit = True
        await asyncio.to_thread(self._server_thread.join, _HTTP_STOP_S)
        if self._server_thread.is_alive():
            self._server.force_exit = True
            await asyncio.to_thread(self._server_thread.join, _HTTP_STOP_S)
        if self._server_error is not None:  # the server's own failure must not hide the shutdown
            log.warning("HTTP server ended with %s: %s", type(self._server_error).__name__, redact(self._server_error))
        self._server = None
        self._server_thread = None

    def _serve(self, sock: socket.socket) -> None:
        """The HTTP server's thread: its own event loop until ``should_exit``."""
        assert self._server is not None
        try:
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by _stop_http, never lost in a thread
            self._server_error = exc

    def _request_run(self, name: str) -> None:
        """A run of ``name`` asked for by a webhook, from the HTTP thread: the runner lives on the
        daemon's loop, so the request is handed over to it."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.runner.request, name)


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
    store: Store | None = None,
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
        store=store,
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
