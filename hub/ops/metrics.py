"""Prometheus metrics of the scheduler daemon, served at ``/metrics``.

Each ``HubMetrics`` owns its ``CollectorRegistry`` (never the process-wide default one), so two
daemons in one test process, or a re-created daemon, never collide over metric names. The figures
come only from ``JobReport``: the engine reports, this module counts.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hub.sync.report import JobReport

__all__ = ["CONTENT_TYPE", "HubMetrics", "StoreMetrics", "default_metrics", "observe", "render"]


class HubMetrics:
    """Counters and gauges of job runs, fed one ``JobReport`` at a time.

    ``per_store`` (``omnihub run --stores``): every metric also has a ``store`` label, the name of
    the store the job belongs to, since two stores' jobs and connectors may have the same names
    (store A's throttled ``web`` must not read as store B's). Off, the metrics are exactly those
    of a single config, so dashboards written for one keep working."""

    def __init__(self, *, per_store: bool = False) -> None:
        self.per_store = per_store
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry

        def labels(*names: str) -> list[str]:
            return ["store", *names] if per_store else list(names)

        self.runs = Counter("omnihub_job_runs", "Job runs by outcome.", labels("job", "status"), registry=r)
        self.pulled = Counter(
            "omnihub_records_pulled", "Records pulled from each connector.", labels("job", "connector"), registry=r
        )
        self.pushed = Counter(
            "omnihub_records_pushed",
            "Changes confirmed by each target connector.",
            labels("job", "connector"),
            registry=r,
        )
        self.failed = Counter(
            "omnihub_push_failures", "Changes a target refused or could not take.", labels("job"), registry=r
        )
        self.quarantined = Counter(
            "omnihub_records_quarantined", "Records that could not become canonical.", labels("job"), registry=r
        )
        self.races = Counter(
            "omnihub_stock_races", "Stock pushes that met a sale made during the sync.", labels("job"), registry=r
        )
        self.requests = Counter(
            "omnihub_requests", "Requests sent to each connector's platform.", labels("connector"), registry=r
        )
        self.throttled = Counter(
            "omnihub_throttled",
            "Throttled (429) answers from each connector's platform.",
            labels("connector"),
            registry=r,
        )
        self.webhooks = Counter(
            "omnihub_webhooks",
            "Webhook deliveries by connector and outcome (accepted, duplicate, ping, refused, unknown, error).",
            labels("connector", "outcome"),
            registry=r,
        )
        self.tasks_waiting = Gauge(
            "omnihub_tasks_waiting",
            "Steps of runs sent to the workers whose answer has not come back: queued or running.",
            labels("job"),
            registry=r,
        )
        self.task_seconds = Histogram(
            "omnihub_task_seconds",
            "From sending a step of a run to its worker's answer: queue wait and work together.",
            labels("job"),
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.open_mismatches = Gauge(
            "omnihub_open_mismatches", "Open mismatches after the last run.", labels("job"), registry=r
        )
        self.last_run = Gauge(
            "omnihub_last_run_timestamp_seconds",
            "When the job's last run finished (Unix time).",
            labels("job"),
            registry=r,
        )
        self.last_success = Gauge(
            "omnihub_last_success_timestamp_seconds",
            "When the job's last successful run finished (Unix time); alert when it grows old.",
            labels("job"),
            registry=r,
        )
        self.last_duration = Gauge(
            "omnihub_last_run_duration_seconds", "How long the job's last run took.", labels("job"), registry=r
        )

    def _labels(self, store: str | None, **labels: str) -> dict[str, str]:
        """``labels``, with the store's when the metrics are per store (where it must be given)."""
        if not self.per_store:
            return labels
        if store is None:
            raise ValueError("these metrics are per store: say which store")
        return {"store": store, **labels}

    def for_store(self, store: str) -> StoreMetrics:
        """What one store's enqueuer reports to (``hub.distributed.enqueue.TaskMetrics``): these
        metrics, under the store's label."""
        return StoreMetrics(self, store)

    def task_enqueued(self, job: str, store: str | None = None) -> None:
        """A step of a run handed to the workers (``hub.engine: celery``): it waits in the queue or runs."""
        self.tasks_waiting.labels(**self._labels(store, job=job)).inc()

    def task_done(self, job: str, seconds: float, store: str | None = None) -> None:
        """A step's answer came back from its worker (or the scheduler stopped waiting for it)."""
        self.tasks_waiting.labels(**self._labels(store, job=job)).dec()
        self.task_seconds.labels(**self._labels(store, job=job)).observe(seconds)

    def webhook(self, connector: str, outcome: str, store: str | None = None) -> None:
        """Count one webhook delivery by how it was answered."""
        self.webhooks.labels(**self._labels(store, connector=connector, outcome=outcome)).inc()

    def observe(self, report: JobReport, *, now: float | None = None, store: str | None = None) -> None:
        """Count one finished job run; ``now`` (Unix time) defaults to the current time."""
        finished = time.time() if now is None else now
        job = self._labels(store, job=report.name)
        self.runs.labels(**job, status=report.status).inc()
        for connector, count in report.pulled.items():
            self.pulled.labels(**job, connector=connector).inc(count)
        for connector, count in report.pushed.items():
            self.pushed.labels(**job, connector=connector).inc(count)
        for connector, count in report.requests.items():
            self.requests.labels(**self._labels(store, connector=connector)).inc(count)
        for connector, count in report.throttled.items():
            self.throttled.labels(**self._labels(store, connector=connector)).inc(count)
        self.failed.labels(**job).inc(report.failed)
        self.quarantined.labels(**job).inc(report.quarantined)
        self.races.labels(**job).inc(report.races)
        self.last_run.labels(**job).set(finished)
        self.last_duration.labels(**job).set(report.duration_s)
        if report.status == "ok":
            # A failed run may not have reached the diff: keep the last known count rather than a 0.
            self.open_mismatches.labels(**job).set(report.mismatches)
            self.last_success.labels(**job).set(finished)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


class StoreMetrics:
    """One store's view of per-store ``HubMetrics``, in the shape the enqueuer reports to (it
    knows jobs, not stores)."""

    def __init__(self, metrics: HubMetrics, store: str) -> None:
        self.metrics = metrics
        self.store = store

    def task_enqueued(self, job: str) -> None:
        self.metrics.task_enqueued(job, self.store)

    def task_done(self, job: str, seconds: float) -> None:
        self.metrics.task_done(job, seconds, self.store)


#: The daemon's metrics, unless it is given its own.
default_metrics = HubMetrics()


def observe(report: JobReport) -> None:
    """Count one finished job run in the default metrics."""
    default_metrics.observe(report)


def render() -> bytes:
    """The default metrics as Prometheus text."""
    return default_metrics.render()
