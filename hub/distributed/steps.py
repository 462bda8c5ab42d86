"""The steps of a distributed run, as a worker runs them: pull one connector, pull the orders,
decide (and push) one partition of the keys, settle the run.

A run of a job is split so that two workers make a big job in about half the time: every
connector's pull is a task of its own, and the reconciling and pushing are split by partition
of the keys (``hub.state.partitions``: a stable hash of the SKU or e-mail). The scheduler's
``Enqueuer`` holds the job's lock for the whole run and sends these steps in order
(orders, then the pulls together, then the partitions together, then the settle); each step is a
plain function of JSON values, so a step given back by a dead worker is run again as it is.

What makes each step safe to run twice:

* a pull writes what it read to the store under the run's id (the same rows again, the same
  result); its cursor is saved only by the settle step;
* a partition first looks at the outbox: when an earlier delivery of itself journaled changes, it
  decides nothing from the pull that is now stale (the platform may hold what that delivery sent),
  closes the unconfirmed ones as superseded, and asks for another run of the job, which decides
  them from a fresh pull. Nothing is sent twice and nothing is left undecided;
* the settle step writes the run's outcome (cursors, rules' fingerprint, the run's record), each
  an overwrite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from hub.config.loader import LoadedConfig
from hub.config.models import JobConfig
from hub.config.stores import load_store_config
from hub.distributed.fragments import merge_reports, outcome_from_json, outcome_json, report_from_json
from hub.errors import ConfigError, OmnihubError
from hub.model.base import RecordInvalid
from hub.redact import redact
from hub.state.partitions import Partition
from hub.state.store import Store, utcnow
from hub.sync.connectors import count_figures, figures
from hub.sync.decide import groups_to_decide, record_findings
from hub.sync.engine import Engine
from hub.sync.findings import group_of
from hub.sync.orders import reserved_for
from hub.sync.outcome import PullOutcome
from hub.sync.pull import Puller, PullRequest, pack_cursor
from hub.sync.push import Pusher
from hub.sync.report import JobReport

__all__ = ["decide_partition", "pull_connector", "pull_orders", "settle_run"]

log = logging.getLogger("omnihub.worker")

#: (pid, database URL) -> the store this process opened for it.
_stores: dict[tuple[int, str], Store] = {}
#: path -> ((modification time, size), the config loaded from it): a task of the same config reuses
#: its mappings (loaded and compiled once), a changed file is read again. One entry per store, so
#: a worker serving many stores does not reload each config at every task.
_configs: dict[str, tuple[tuple[int, int], LoadedConfig]] = {}


def store_for(config: LoadedConfig) -> Store:
    """The store of ``config`` in this process (a prefork worker's children must not share their
    parent's connections, so it is opened per process)."""
    url = config.database_url()
    if not url.startswith("postgresql"):
        raise ConfigError("the distributed engine needs PostgreSQL for state (hub.database)")
    key = (os.getpid(), url)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = Store.open(url)
    return store


def config_at(path: str) -> LoadedConfig:
    """The config at ``path``, loaded again when the file changed; with the variables of the
    store's ``NAME.env`` beside it (``hub.config.stores``), as the scheduler loaded it."""
    status = os.stat(path)
    stamp = (status.st_mtime_ns, status.st_size)
    known = _configs.get(path)
    if known is None or known[0] != stamp:
        known = _configs[path] = (stamp, load_store_config(path))
    return known[1]


def _job(config: LoadedConfig, name: str) -> JobConfig:
    if name not in config.jobs:
        raise ConfigError(f"unknown job {name!r}; defined jobs: {', '.join(config.jobs) or 'none'}")
    return config.jobs[name]


def _report(job: JobConfig, name: str) -> JobReport:
    return JobReport(name=name, entity=job.entity.value, mode=job.mode)


# ---------------------------------------------------------------------------------- orders, pulls


def pull_orders(config_path: str, job_name: str, run_id: int) -> dict[str, Any]:
    """Pull the job's reserving channels' orders into the ledger (before the stock is pulled)."""
    config = config_at(config_path)
    job = _job(config, job_name)
    engine = Engine(config, store_for(config))
    report = _report(job, job_name)

    async def pull() -> None:
        connectors = await engine.connectors.open(list(job.reservations))
        before = {n: figures(c) for n, c in connectors.items()}
        try:
            await engine.orders_for(job, connectors, report, dry_run=False)
        finally:
            for conn in connectors.values():
                count_figures(report, conn, before.get(conn.name))
            await engine.connectors.release(connectors)

    asyncio.run(_failing_into(report, pull()))
    return {"step": "orders", "report": report.as_json()}


def pull_connector(config_path: str, job_name: str, run_id: int, connector: str) -> dict[str, Any]:
    """Pull one connector of the job, writing every record it read to the store under ``run_id``;
    answers the outcome without its records (``outcome``, absent when the pull failed) and the
    report's share (what was pulled, its requests, why it failed)."""
    config = config_at(config_path)
    job = _job(config, job_name)
    store = store_for(config)
    engine = Engine(config, store)
    report = _report(job, job_name)
    landed: list[PullOutcome] = []

    async def pull() -> None:
        connectors = await engine.connectors.open([connector])
        conn = connectors[connector]
        before = figures(conn)
        try:
            puller = Puller(store, config.hub, engine.mapping_for, None, readers=1)
            request = PullRequest(job.entity, run_id, False, connector == config.source_of(job), job.full_every)
            outcome = await puller.pull(conn, request)
            landed.append(outcome)
        finally:
            count_figures(report, conn, before)
            await engine.connectors.release(connectors)

    asyncio.run(_failing_into(report, pull()))
    if not landed:
        return {"step": "pull", "report": report.as_json()}
    outcome = landed[0]
    report.pulled[connector] = outcome.seen
    if outcome.full:
        report.full.append(connector)
    report.quarantined += len(outcome.quarantine)
    return {"step": "pull", "report": report.as_json(), "outcome": outcome_json(outcome)}


async def _failing_into(report: JobReport, work: Any) -> None:
    """Await ``work``; a platform or data failure fails the report with its reason (the run goes
    on with what landed, as in process); a bug is raised, failing the task."""
    try:
        await work
    except (OmnihubError, RecordInvalid) as exc:
        report.status = "failed"
        report.errors.append(redact(exc))
        log.error("%s", redact(exc))


# ---------------------------------------------------------------------------------- partitions


def decide_partition(
    config_path: str,
    job_name: str,
    run_id: int,
    partition: list[int],
    pulls: dict[str, dict[str, Any]],
    plan: dict[str, Any],
) -> dict[str, Any]:
    """Reconcile one partition of the job's groups from what the pulls stored, record its
    mismatches, and push its changes in enforce mode.

    Answers the report's share, ``decided`` (it reached its end: what the pulls read may be
    trusted next run) and ``cursors`` (the cursors its pushes moved). ``blind``: the
    partition compared nothing while the truth and a target both hold records in it; nothing was
    recorded or pushed, and the scheduler decides whether the whole job is blind. ``again``: an
    earlier delivery of this partition died after journaling changes, so this run leaves them to
    a run of its own from a fresh pull."""
    config = config_at(config_path)
    job = _job(config, job_name)
    store = store_for(config)
    part = Partition(*partition)
    report = _report(job, job_name)
    entity = job.entity
    earlier = [
        (i, status)
        for i, key, status in store.outbox.journaled_by(job_name, run_id)
        if part.holds(group_of(entity, key))
    ]
    if earlier:
        unsure = store.outbox.supersede(
            [i for i, _ in earlier], "its worker died before the platform confirmed it; decided again from a fresh pull"
        )
        log.warning(
            "job %s, run %d: %s was delivered again after its worker died mid-push (%d changes unconfirmed); "
            "another run decides it from a fresh pull",
            job_name,
            run_id,
            part,
            unsure,
            extra={"job": job_name},
        )
        report.status = "failed"
        report.errors.append(
            f"{part}: its worker died before {unsure} of its changes were confirmed; "
            "the next run decides them again from a fresh pull"
        )
        return {"step": "partition", "report": report.as_json(), "again": True}
    engine = Engine(config, store)
    outcomes = {name: outcome_from_json(p["outcome"]) for name, p in pulls.items() if "outcome" in p}
    source = config.source_of(job)
    written_elsewhere: set[str] | None = None
    if plan["same_rules"]:
        written_elsewhere = set()
        for name in outcomes:
            written_elsewhere |= part.only(
                store.observations.groups_written_after(name, entity.value, plan["last_run_id"])
            )
    groups = groups_to_decide(store, job, job_name, outcomes, written_elsewhere, run_id)
    if groups is not None:
        _, hinted = store.hints.pending(job_name, up_to=plan["hinted_up_to"])
        groups = part.only(groups | hinted)
    reserved = reserved_for(job, store.orders.open_orders(job.reservations)) if job.reservations else None
    targets = [t for t in job.targets if t in outcomes]

    async def decide() -> dict[str, Any]:
        connectors = await engine.connectors.open(targets)
        before = {n: figures(c) for n, c in connectors.items()}
        try:
            fields = {t: engine.fields_of(job, connectors[t]) for t in targets}
            decision = engine.decider(store, config.hub.memory_records).decide(
                job, source, fields, outcomes, groups, reserved=reserved, partition=part
            )
            if decision.blind is not None and plan.get("trusted"):
                decision.blind = None  # other partitions compared: this one merely holds no pair
            report.warnings += decision.warnings
            report.compared = decision.compared
            report.quarantined += len(decision.stale)
            if decision.stale:
                store.quarantine.add(run_id, decision.stale)
            if decision.blind is not None:
                return {"blind": decision.blind}
            record_findings(store, job_name, entity, decision.findings, groups, report, utcnow(), part)
            if job.mode != "enforce" or not decision.plans:
                return {"decided": True}
            pusher = Pusher(store, config.hub.push_failures_to_trip)
            pushed = await pusher.push(job_name, entity, run_id, decision.plans, connectors, outcomes, report)
            # Changes that did not land keep their mismatches open, and open mismatches are decided
            # again next run: the partition is decided whatever its pushes did.
            return {"decided": True, "cursors": pushed.cursors}
        finally:
            for conn in connectors.values():
                count_figures(report, conn, before.get(conn.name))
            await engine.connectors.release(connectors)

    answer: dict[str, Any] = {}

    async def run() -> None:
        answer.update(await decide())

    asyncio.run(_failing_into(report, run()))
    report.settle_status()
    return {"step": "partition", "report": report.as_json(), **answer}


# ---------------------------------------------------------------------------------- settle


def settle_run(
    config_path: str,
    job_name: str,
    run_id: int,
    pieces: list[dict[str, Any]],
    plan: dict[str, Any],
) -> dict[str, Any]:
    """The run's end: its report from every step's share, the mismatch count, and, when every pull
    landed and the job was not blind, what the next run starts from (the pulls' cursors, or the
    ones the pushes moved; the rules' fingerprint; the hints decided). Records the run."""
    config = config_at(config_path)
    job = _job(config, job_name)
    store = store_for(config)
    engine = Engine(config, store)
    report = _report(job, job_name)
    for piece in pieces:
        merge_reports(report, report_from_json(piece["report"]))
    errors = list(plan.get("errors", []))
    if errors:
        report.status = "failed"
        report.errors += [e for e in errors if e not in report.errors]
    pulls = {p["outcome"]["connector"]: p["outcome"] for p in pieces if "outcome" in p}
    # As in process: when every pull (and the orders) landed and every partition reached its end,
    # what the pulls read may be trusted next time, whatever the pushes did.
    decided = (
        not errors
        and all(p["report"]["status"] == "ok" for p in pieces if p.get("step") in ("pull", "orders"))
        and all(p.get("decided") for p in pieces if p.get("step") == "partition")
    )
    report.settle_status()
    report.mismatches = store.mismatches.count_open(job_name)
    if decided:
        moved = _moved_cursors([p.get("cursors") for p in pieces if p.get("cursors")])
        for name, outcome in pulls.items():
            cursor = moved[name] if name in moved else outcome["cursor"]
            if cursor is not None:
                store.cursors.set(name, job.entity.value, pack_cursor(cursor, engine.mapping_for(name)))
        store.runs.set_job_state(job_name, plan["fingerprint"], run_id)
        if plan["hinted_up_to"]:
            store.hints.consume(job_name, plan["hinted_up_to"])
    report.duration_s = time.time() - plan["started_at"]
    store.runs.finish(run_id, report.status, report.duration_s, report.as_json(), "; ".join(report.errors) or None)
    return {"run_id": run_id, "report": report.as_json()}


def _moved_cursors(answers: list[dict[str, str | None]]) -> dict[str, str | None]:
    """The cursors the partitions' pushes moved, by connector. Partitions that wrote to one
    connector and disagree on its cursor (each saw the platform after its own writes only) leave
    it unset: the next run reads that connector whole, which is slower and never wrong."""
    moved: dict[str, str | None] = {}
    for answer in answers:
        for name, cursor in answer.items():
            moved[name] = cursor if name not in moved or moved[name] == cursor else None
    return moved
