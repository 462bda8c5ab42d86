"""Metrics: what one JobReport adds, in a registry of its own."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hub.ops.metrics import HubMetrics
from hub.sync.report import JobReport


def samples(metrics: HubMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text, parsed back: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_a_report_is_counted_per_job_connector_and_status() -> None:
    metrics = HubMetrics()
    report = JobReport(
        "stock",
        "stock",
        mode="enforce",
        pulled={"wms": 120, "shop": 80},
        pushed={"shop": 7},
        mismatches=3,
        failed=1,
        quarantined=2,
        races=1,
        duration_s=4.5,
        requests={"shop": 5, "wms": 2},
        throttled={"shop": 1},
    )
    metrics.observe(report, now=1_700_000_000)
    metrics.observe(report, now=1_700_000_300)
    got = samples(metrics)
    assert got[("omnihub_job_runs_total", (("job", "stock"), ("status", "ok")))] == 2
    assert got[("omnihub_records_pulled_total", (("connector", "wms"), ("job", "stock")))] == 240
    assert got[("omnihub_records_pushed_total", (("connector", "shop"), ("job", "stock")))] == 14
    assert got[("omnihub_push_failures_total", (("job", "stock"),))] == 2
    assert got[("omnihub_records_quarantined_total", (("job", "stock"),))] == 4
    assert got[("omnihub_requests_total", (("connector", "shop"),))] == 10
    assert got[("omnihub_throttled_total", (("connector", "shop"),))] == 2
    assert got[("omnihub_open_mismatches", (("job", "stock"),))] == 3
    assert got[("omnihub_last_run_timestamp_seconds", (("job", "stock"),))] == 1_700_000_300
    assert got[("omnihub_last_success_timestamp_seconds", (("job", "stock"),))] == 1_700_000_300
    assert got[("omnihub_last_run_duration_seconds", (("job", "stock"),))] == 4.5


def test_a_failed_run_keeps_the_last_known_mismatches_and_success_time() -> None:
    metrics = HubMetrics()
    metrics.observe(JobReport("prices", "prices", mismatches=4), now=100)
    metrics.observe(JobReport("prices", "prices", status="failed", errors=["web: 503"]), now=400)
    got = samples(metrics)
    assert got[("omnihub_job_runs_total", (("job", "prices"), ("status", "failed")))] == 1
    assert got[("omnihub_job_runs_total", (("job", "prices"), ("status", "ok")))] == 1
    assert got[("omnihub_open_mismatches", (("job", "prices"),))] == 4
    assert got[("omnihub_last_success_timestamp_seconds", (("job", "prices"),))] == 100
    assert got[("omnihub_last_run_timestamp_seconds", (("job", "prices"),))] == 400


def test_each_instance_has_its_own_registry() -> None:
    first, second = HubMetrics(), HubMetrics()
    first.observe(JobReport("stock", "stock"))
    assert first.registry is not REGISTRY and first.registry is not second.registry
    assert ("omnihub_job_runs_total", (("job", "stock"), ("status", "ok"))) not in samples(second)
    assert b"omnihub_job_runs_total" not in generate_latest(REGISTRY)
