"""The ``omnihub run`` daemon's lifecycle: the schedule and the HTTP server started together, stopped in order.

``run_daemon`` runs the schedule until SIGTERM or SIGINT, optionally with an HTTP server on
loopback that answers ``/healthz`` and ``/metrics`` (``hub.ops.endpoints``). On a signal it stops
starting runs, gives the runs in flight ``stop_timeout_s`` to finish, then cancels them: the
engine journals pushes in an outbox before sending, so a cancelled push is decided again by the
next run.

``StoresDaemon`` (``omnihub run --stores DIR``) is the same lifecycle for a stores directory: one
scheduler and one HTTP server for every store, each store with its own runner, state store,
alerts and webhook receiver (``POST /webhooks/{store}/{connector}``), and its name on its jobs in
the logs, ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.config.loader import LoadedConfig
from hub.console.app import create_console
from hub.ops.endpoints import DaemonError, QuietServer, create_app, listen
from hub.ops.logging_setup import configure_logging
from hub.ops.metrics import HubMetrics
from hub.ops.runner import JobRunner, RunJob, StoreLogFilter
from hub.ops.scheduler import add_jobs, job_id, scheduler_for
from hub.ops.webhooks import MAX_BODY, WebhookReceiver
from hub.redact import redact
from hub.state.store import Store
from hub.sync.report import JobReport

__all__ = ["AfterRun", "Daemon", "DaemonError", "ServedStore", "StoresDaemon", "run_daemon", "run_stores_daemon"]

log = logging.getLogger("omnihub.scheduler")

AfterRun = Callable[[list[JobReport]], Awaitable[None]]

#: After the grace period, how long cancelled runs get to unwind before the daemon moves on.
_CANCEL_WAIT_S = 1.0
#: How long the HTTP server gets to close its connections.
_HTTP_STOP_S = 1.5


@dataclass(frozen=True)
class ServedStore:
    """One store of a stores directory as ``StoresDaemon`` serves it: its config, how its runs are
    made (in process, or enqueued on the store's own queue), its state store, what follows each of
    its runs (its own alerts), and how many of its runs may wait at once."""

    name: str
    config: LoadedConfig
    run_job: RunJob
    store: Store | None = None
    after_run: AfterRun | None = None
    max_concurrent_runs: int = 1


@dataclass
class _Served:
    """What the daemon keeps of one config it serves: its runner, state store and webhook receiver."""

    name: str | None
    config: LoadedConfig
    runner: JobRunner
    store: Store | None
    webhooks: WebhookReceiver | None


class _Serving:
    """The schedule, the runs in flight and the optional HTTP server of one or several configs,
    started and stopped together. ``Daemon`` serves one config; ``StoresDaemon`` a stores
    directory, each store with its own runner (``hub.ops.runner``) in one scheduler."""

    def __init__(
        self,
        *,
        http_port: int | None,
        http_host: str,
        stop_timeout_s: float,
        metrics: HubMetrics,
    ) -> None:
        self.metrics = metrics
        #: The configs served, by store name (None: the single config of ``Daemon``).
        self.served: dict[str | None, _Served] = {}
        self.scheduler: AsyncIOScheduler
        self.http_port = http_port
        self.http_host = http_host
        self.stop_timeout_s = stop_timeout_s
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

    def _serve_config(
        self,
        name: str | None,
        config: LoadedConfig,
        run_job: RunJob,
        *,
        store: Store | None,
        after_run: AfterRun | None,
        max_concurrent_runs: int,
    ) -> _Served:
        """Serve one config: a runner whose reports reach the metrics (under the store's label)
        and ``after_run``, and a webhook receiver when there is a store to write hints to."""

        async def on_report(report: JobReport) -> None:
            self.metrics.observe(report, store=name)
            if after_run is not None:
                await after_run([report])

        runner = JobRunner(config, run_job, on_report, max_concurrent_runs=max_concurrent_runs, store=name)
        webhooks = None
        if store is not None:
            webhooks = WebhookReceiver(
                config,
                store,
                lambda job: self._request_run(job, name),
                on_outcome=lambda connector, outcome: self.metrics.webhook(connector, outcome, name),
                store_name=name,
            )
        served = self.served[name] = _Served(name, config, runner, store, webhooks)
        return served

    # health -----------------------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return self.scheduler.running and not self._stopping

    def _jobs_health(self, served: _Served) -> dict[str, Any]:
        """What ``/healthz`` says of each scheduled job of one config."""
        jobs: dict[str, Any] = {}
        for name, job in served.config.jobs.items():
            if job.schedule is None:
                continue
            scheduled = self.scheduler.get_job(job_id(name, served.name)) if self.scheduler.running else None
            next_run = getattr(scheduled, "next_run_time", None) if scheduled is not None else None
            last = served.runner.last.get(name)
            jobs[name] = {
                "schedule": job.schedule,
                "running": name in served.runner.in_flight,
                "next_run": next_run.astimezone(UTC).isoformat().replace("+00:00", "Z") if next_run else None,
                "last_run": last.as_json() if last else None,
            }
        return jobs

    @staticmethod
    def _failing(jobs: dict[str, Any]) -> bool:
        return any(j["last_run"] and j["last_run"]["status"] != "ok" for j in jobs.values())

    def _started(self) -> str | None:
        return self._started_at.isoformat().replace("+00:00", "Z") if self._started_at else None

    # lifecycle --------------------------------------------------------------------------------

    def _http_app(self) -> Starlette:
        raise NotImplementedError

    def _http_paths(self) -> str:
        raise NotImplementedError

    async def start(self) -> None:
        """Start serving HTTP (if asked) and the schedule; raises ``DaemonError`` if it cannot listen."""
        sock = listen(self.http_host, self.http_port) if self.http_port is not None else None
        self._started_at = datetime.now(UTC)
        if sock is not None:
            config = uvicorn.Config(
                self._http_app(),
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
            log.info("serving %s on http://%s:%s", self._http_paths(), address[0], address[1])
        self.scheduler.start()
        for served in self.served.values():
            config = served.config
            scheduled = [n for n, j in config.jobs.items() if j.schedule is not None]
            whose = "" if served.name is None else f"store {served.name}, "
            if scheduled:
                log.info(
                    "scheduler started (%s%s): %s",
                    whose,
                    config.hub.timezone,
                    ", ".join(f"{n} [{config.jobs[n].schedule}]" for n in scheduled),
                )
            elif served.name is None:
                log.warning("no job has a schedule: the daemon will only serve /healthz and /metrics")
            else:
                log.warning("store %s: no job has a schedule", served.name, extra={"store": served.name})

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
        runners = [served.runner for served in self.served.values()]
        for runner in runners:
            runner.closed = True
            runner.cancel_requests()
        if self.scheduler.running:
            self.scheduler.pause()  # no new runs from here on; a shutdown now would cancel the runs in flight
        if self._server is not None:
            self._server.should_exit = True
        in_flight = {
            job_id(name, served.name): task
            for served in self.served.values()
            for name, task in served.runner.in_flight.items()
        }
        tasks = list(in_flight.values())
        if tasks:
            log.info(
                "stopping: waiting up to %.0fs for %d run(s) in flight: %s",
                self.stop_timeout_s,
                len(tasks),
                ", ".join(in_flight),
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
        waiting = [t for runner in runners for t in runner.waiting if not t.done()]
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

    def _request_run(self, name: str, store: str | None = None) -> None:
        """A run of job ``name`` (of ``store``) asked for by a webhook, from the HTTP thread: the
        runner lives on the daemon's loop, so the request is handed over to it."""
        served = self.served.get(store)
        if served is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(served.runner.request, name)


class Daemon(_Serving):
    """The scheduler of one config, its runs in flight, and the optional HTTP server, started and
    stopped together.

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
        super().__init__(
            http_port=http_port,
            http_host=http_host,
            stop_timeout_s=stop_timeout_s,
            metrics=metrics if metrics is not None else HubMetrics(),
        )
        self.config = config
        #: Read by the web console's pages (None: the console shows the schedule only).
        self.store = store
        served = self._serve_config(
            None, config, run_job, store=store, after_run=after_run, max_concurrent_runs=max_concurrent_runs
        )
        self.runner = served.runner
        #: Answers ``POST /webhooks/{connector}`` when the daemon has a store to write hints to.
        self.webhooks = served.webhooks
        self.scheduler = scheduler_for(config, self.runner, misfire_grace_s, run_at_start)

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 while the schedule runs and every job's last run was ``ok``;
        503 while the last run of any job did not land everything (``failing``: a probe or a
        container health check must see it, silence would mean "in sync") and once stopping."""
        running = self._running
        jobs = self._jobs_health(self.served[None])
        if not running:
            status = "stopping"
        elif self._failing(jobs):
            status = "failing"
        else:
            status = "ok"
        body = {"status": status, "scheduler_running": running, "started_at": self._started(), "jobs": jobs}
        return (200 if status == "ok" else 503), body

    def _http_app(self) -> Starlette:
        console = create_console(self.config, self.store, health=self.health, run_now=self._request_run)
        return create_app(self.health, self.metrics, self.webhooks, console)

    def _http_paths(self) -> str:
        return "/console/, /healthz, /metrics" + (" and /webhooks/{connector}" if self.webhooks else "")


class StoresDaemon(_Serving):
    """One scheduler serving every store of a stores directory (``omnihub run --stores``).

    Each store keeps what is its own: a runner with its own slots (a store whose runs are slow,
    throttled or failing holds only its own turns), its state store, its alerts (``after_run``),
    its webhook receiver at ``/webhooks/{store}/{connector}``, and its name on its jobs in the
    logs, ``/healthz`` and ``/metrics`` (a ``store`` label). One APScheduler holds every store's
    jobs, each in its store's time zone.

    ``/healthz`` is 200 only when every store is ``ok``, and says per store which one is not:
    ``failing`` (a job's last run did not land everything) or ``not_served`` (its config or its
    database could not be used at start; ``failed`` gives the reasons, shown there). A probe of
    one store asks ``/healthz/{store}``. The web console serves a single config only, so it is
    not mounted here.
    """

    def __init__(
        self,
        stores: Sequence[ServedStore],
        *,
        failed: Mapping[str, str] | None = None,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        stop_timeout_s: float = 8.0,
        metrics: HubMetrics | None = None,
        misfire_grace_s: int = 60,
        run_at_start: bool = False,
    ) -> None:
        if metrics is not None and not metrics.per_store:
            raise ValueError("a stores daemon's metrics carry a store label: HubMetrics(per_store=True)")
        super().__init__(
            http_port=http_port,
            http_host=http_host,
            stop_timeout_s=stop_timeout_s,
            metrics=metrics if metrics is not None else HubMetrics(per_store=True),
        )
        #: Stores of the directory that are not served, and why (shown by ``/healthz``).
        self.failed = dict(failed or {})
        # Each job fires in its own store's time zone (its trigger's); the scheduler's own zone is unused.
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        for spec in stores:
            if spec.name in self.served or spec.name in self.failed:
                raise ValueError(f"store {spec.name!r} is given twice")
            served = self._serve_config(
                spec.name,
                spec.config,
                spec.run_job,
                store=spec.store,
                after_run=spec.after_run,
                max_concurrent_runs=spec.max_concurrent_runs,
            )
            add_jobs(self.scheduler, spec.config, served.runner, misfire_grace_s, run_at_start, store=spec.name)

    def runner(self, store: str) -> JobRunner:
        """The runner of one store's jobs."""
        return self.served[store].runner

    def _store_health(self, name: str) -> dict[str, Any]:
        if name in self.failed:
            return {"status": "not_served", "error": redact(self.failed[name])}
        jobs = self._jobs_health(self.served[name])
        return {"status": "failing" if self._failing(jobs) else "ok", "jobs": jobs}

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): every store's status and jobs; 200 only while the schedule runs
        and every store is ``ok``."""
        running = self._running
        names = sorted({*(n for n in self.served if n is not None), *self.failed})
        stores = {name: self._store_health(name) for name in names}
        if not running:
            status = "stopping"
        elif any(s["status"] != "ok" for s in stores.values()):
            status = "failing"
        else:
            status = "ok"
        body = {"status": status, "scheduler_running": running, "started_at": self._started(), "stores": stores}
        return (200 if status == "ok" else 503), body

    def store_health(self, name: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of one store: 200 while it is ``ok`` and the schedule runs, 404 for
        a store this daemon does not know, 503 otherwise."""
        if name not in self.served and name not in self.failed:
            return 404, {"status": "unknown", "message": f"no store {name!r} here"}
        body = {"store": name, **self._store_health(name)}
        if not self._running:
            body["status"] = "stopping"
        return (200 if body["status"] == "ok" else 503), body

    def _http_app(self) -> Starlette:
        app = create_app(self.health, self.metrics)
        app.router.routes.extend(self._store_routes())
        return app

    def _http_paths(self) -> str:
        return "/healthz, /healthz/{store}, /metrics and /webhooks/{store}/{connector}"

    def _store_routes(self) -> list[Route]:
        """``GET /healthz/{store}`` and ``POST /webhooks/{store}/{connector}``: the store's own
        receiver answers (its secrets, its hints, its jobs)."""

        async def store_healthz(request: Request) -> Response:
            code, body = self.store_health(request.path_params["store"])
            return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

        async def store_webhook(request: Request) -> Response:
            name, connector = request.path_params["store"], request.path_params["connector"]
            served = self.served.get(name)
            if served is None or served.webhooks is None:
                if name in self.failed:  # a platform retries a 5xx: the store may be served after a fix
                    message = f"store {name!r} is not served now (its config could not be used); retry later"
                    return JSONResponse({"status": "error", "message": message}, status_code=503)
                return JSONResponse({"status": "unknown", "message": f"no store {name!r} here"}, status_code=404)
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
                return JSONResponse({"status": "refused", "message": "body too large"}, status_code=413)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    return JSONResponse({"status": "refused", "message": "body too large"}, status_code=413)
            code, answer = await served.webhooks.receive(connector, dict(request.headers), bytes(body))
            return JSONResponse(answer, status_code=code)

        return [
            Route("/healthz/{store}", store_healthz),
            Route("/webhooks/{store}/{connector}", store_webhook, methods=["POST"]),
        ]


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
    return await _until_signal(daemon)


async def run_stores_daemon(
    stores: Sequence[ServedStore],
    *,
    failed: Mapping[str, str] | None = None,
    http_port: int | None = None,
    http_host: str = "127.0.0.1",
    log_format: str | None = "text",
    log_level: str = "INFO",
    stop_timeout_s: float = 8.0,
    metrics: HubMetrics | None = None,
    run_at_start: bool = False,
) -> int:
    """``run_daemon`` for a stores directory: every store's schedule in one ``StoresDaemon`` until
    SIGTERM or SIGINT. With ``log_format``, logging is configured here and every record made
    within a store's run carries its ``store`` (``StoreLogFilter``); ``None`` leaves the caller's
    logging as it is (``hub.ops.daemon.serve_stores`` configures it before opening the stores)."""
    if log_format is not None:
        configure_logging(log_format, log_level).addFilter(StoreLogFilter())  # type: ignore[arg-type]
    daemon = StoresDaemon(
        stores,
        failed=failed,
        http_port=http_port,
        http_host=http_host,
        stop_timeout_s=stop_timeout_s,
        metrics=metrics,
        run_at_start=run_at_start,
    )
    return await _until_signal(daemon)


async def _until_signal(daemon: _Serving) -> int:
    """Start ``daemon``, wait for SIGTERM or SIGINT (or ``request_stop``), stop it; 0."""
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


def _on_signal(daemon: _Serving, sig: signal.Signals) -> None:
    log.info("received %s", sig.name)
    daemon.request_stop()
