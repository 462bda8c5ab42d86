"""One sync run: pull -> normalize -> store -> reconcile -> diff -> plan -> push -> record.

The engine owns the order and the bookkeeping; the stages do the work: ``hub.sync.pull`` reads the
connectors into the store, ``hub.sync.decide`` runs the reconciler over the groups that changed and
records the mismatches, ``hub.sync.push`` journals and sends the changes. Connectors only pull
pages and push batches, the reconciler only decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hub.config.loader import LoadedConfig
from hub.config.models import JobConfig
from hub.errors import ConfigError, FatalError, OmnihubError
from hub.model.base import RecordInvalid
from hub.model.records import ENTITY_MODELS
from hub.plugins.contract import Connector
from hub.plugins.mapping import Mapping
from hub.redact import redact
from hub.state.job_locks import JobAlreadyRunning, job_lock
from hub.state.store import Store, utcnow
from hub.sync.connectors import Connectors, Figures, count_figures, figures
from hub.sync.decide import Decider, Decision, groups_to_decide, record_findings
from hub.sync.orders import Reserved, pull_reserving_channels, reserved_for
from hub.sync.outcome import PullOutcome
from hub.sync.pull import Progress, Puller, PullRequest, pack_cursor
from hub.sync.push import Pushed, Pusher
from hub.sync.reconcile import as_text
from hub.sync.report import JobReport, PlannedChange

__all__ = ["Engine", "Progress"]

log = logging.getLogger("omnihub.engine")


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a run, and collect what the run left right after.

    A run allocates hundreds of thousands of small, acyclic records that it keeps until the end;
    the collector would re-scan them again and again (about a tenth of a first sync's time) to
    find nothing. Reference counting still frees everything acyclic at once; the few cycles a run
    makes (exceptions, HTTP responses) wait for the collection at its end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect(0)  # everything the run allocated is still in the youngest generation


class Engine:
    """Runs jobs of one loaded config against one store."""

    #: The decide stage's class (a benchmark times its reconciler by handing its own).
    decider: type[Decider] = Decider

    def __init__(
        self, config: LoadedConfig, store: Store, *, progress: Progress | None = None, mode: str | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.progress = progress
        #: Overrides every job's mode (``monitor``: report only, whatever the YAML says).
        self.mode = mode
        self.connectors = Connectors(config)

    # ------------------------------------------------------------------ building connectors

    def mapping_for(self, name: str) -> Mapping:
        """The mapping of a connector (``omnihub check`` loads them all)."""
        return self.connectors.mapping_for(name)

    def connector(self, name: str) -> Connector:
        """A new, unopened connector (``omnihub check`` probes each)."""
        return self.connectors.build(name)

    # ------------------------------------------------------------------ sync

    async def sync(self, job_names: Sequence[str] | None = None, *, dry_run: bool = False) -> list[JobReport]:
        """Run the named jobs (all by default) once, one after the other."""
        names = list(job_names) if job_names else list(self.config.jobs)
        unknown = [n for n in names if n not in self.config.jobs]
        if unknown:
            raise ConfigError(f"unknown job {unknown[0]!r}; defined jobs: {', '.join(self.config.jobs) or 'none'}")
        if not dry_run:
            self.recover()
        self.connectors.start_session()
        try:
            return [await self.run_job(name, dry_run=dry_run) for name in names]
        finally:
            await self.connectors.end_session()

    def recover(self) -> None:
        """Close the books of a process that died mid-run (once, before the first run)."""
        interrupted = self.store.runs.interrupt_stale()
        superseded = self.store.outbox.supersede_pending(interrupted)
        if superseded:
            log.warning("%d journaled changes of an interrupted run will be decided again", superseded)

    async def run_job(self, name: str, *, dry_run: bool = False) -> JobReport:
        """Run one job, one run of it at a time across every process sharing the store (the daemon
        and a manual ``sync``): a run that cannot take the job's lock within ``hub.job_lock_wait``
        does nothing and fails, naming the process that runs the job. A dry run writes nothing, so
        it takes no lock."""
        started = time.perf_counter()
        wait_s = self.config.hub.job_lock_wait.total_seconds()
        try:
            async with contextlib.nullcontext() if dry_run else job_lock(self.store.engine, name, wait_s=wait_s):
                if not dry_run:
                    self.settle_dead_runs(name)
                with _paused_gc():
                    return await self._run_job(name, dry_run=dry_run)
        except JobAlreadyRunning as exc:
            return self.refused_run(name, exc, time.perf_counter() - started)

    def refused_run(self, name: str, exc: JobAlreadyRunning, waited_s: float) -> JobReport:
        """A run that could not take its job's lock: recorded failed, naming who holds the lock."""
        log.error("%s", exc)
        job = self.config.jobs[name]
        mode = self.mode or job.mode
        report = JobReport(name=name, entity=job.entity.value, mode=mode, status="failed", errors=[str(exc)])
        report.duration_s = waited_s
        report.run_id = self.store.runs.start(name, job.entity.value, mode, False)
        self.store.runs.finish(report.run_id, "failed", report.duration_s, report.as_json(), str(exc))
        return report

    def settle_dead_runs(self, name: str) -> None:
        """Holding the job's lock, any other run of the job still marked running is dead (a worker
        killed on another host, a container gone): its journaled changes are decided again now."""
        dead = self.store.runs.interrupt_job(name)
        if dead and (superseded := self.store.outbox.supersede_pending(dead)):
            log.warning("job %s: %d changes journaled by an interrupted run will be decided again", name, superseded)

    async def _run_job(self, name: str, *, dry_run: bool) -> JobReport:
        job = self.config.jobs[name]
        if self.mode is not None:
            job = job.model_copy(update={"mode": self.mode})
        report = JobReport(name=name, entity=job.entity.value, mode=job.mode)
        started = time.perf_counter()
        run_id = None if dry_run else self.store.runs.start(name, job.entity.value, job.mode, dry_run)
        report.run_id = run_id
        if run_id is not None and (superseded := self.store.outbox.supersede_retries(name, run_id)):
            log.info("job %s: %d changes that did not land before are decided again", name, superseded)
        connectors: dict[str, Connector] = {}
        before: dict[str, Figures] = {}
        try:
            source = self.config.source_of(job)
            involved = list(dict.fromkeys([source, *job.sources, *job.targets, *job.reservations]))
            connectors = await self.connectors.open(involved)
            before = {n: figures(c) for n, c in connectors.items()}
            await self._run(job, name, source, connectors, report, run_id, dry_run)
        except (OmnihubError, RecordInvalid) as exc:
            report.status = "failed"
            report.errors.append(redact(exc))
            log.error("job %s failed: %s", name, redact(exc))
        except Exception as exc:  # a bug must not take the other jobs (or the scheduler) down
            report.status = "failed"
            report.errors.append(redact(f"internal error: {type(exc).__name__}: {exc}"))
            log.exception("job %s failed with an internal error", name)
        except asyncio.CancelledError:  # the daemon is stopping: say so, and leave nothing pending
            report.status = "failed"
            report.errors.append("cancelled: omnihub stopped during the run; the next run decides again")
            if run_id is not None:
                self.store.outbox.supersede_pending([run_id])
            raise
        finally:
            for conn in connectors.values():
                count_figures(report, conn, before.get(conn.name))
            await self.connectors.release(connectors)
            report.duration_s = time.perf_counter() - started
            if run_id is not None:
                self.store.runs.finish(
                    run_id, report.status, report.duration_s, report.as_json(), "; ".join(report.errors) or None
                )
        return report

    async def _run(
        self,
        job: JobConfig,
        name: str,
        source: str,
        connectors: dict[str, Connector],
        report: JobReport,
        run_id: int | None,
        dry_run: bool,
    ) -> None:
        """Pull every connector of the job together, then decide (and push) from what they brought."""
        entity = job.entity
        readers = list(dict.fromkeys([source, *job.sources, *job.targets]))
        fingerprint = self.fingerprint(job, source)
        old_fingerprint, last_run_id = (None, 0) if dry_run else self.store.runs.job_state(name)
        written_elsewhere: set[str] | None = None  # None: every group is decided again
        if not dry_run and old_fingerprint == fingerprint:
            written_elsewhere = set()
            for conn_name in readers:
                written_elsewhere |= self.store.observations.groups_written_after(conn_name, entity.value, last_run_id)
        reserved = await self.orders_for(job, connectors, report, dry_run) if job.reservations else None
        puller = Puller(self.store, self.config.hub, self.mapping_for, self.progress, readers=len(readers))
        pulls = await asyncio.gather(
            *(
                puller.pull(connectors[n], PullRequest(entity, run_id, dry_run, n == source, job.full_every))
                for n in readers
            ),
            return_exceptions=True,
        )
        outcomes = _collect(readers, pulls, report)
        try:
            context = _Context(fingerprint, written_elsewhere, dry_run, reserved)
            await self._decide(job, name, source, connectors, outcomes, report, context)
        finally:
            # The finished gather stays referenced by the event loop's current callback until this
            # step of the loop ends; let go of the records now, by reference counting, instead of
            # leaving hundreds of thousands of them for the collector to walk through.
            for outcome in outcomes.values():
                outcome.release()

    async def _decide(
        self,
        job: JobConfig,
        name: str,
        source: str,
        connectors: dict[str, Connector],
        outcomes: dict[str, PullOutcome],
        report: JobReport,
        context: _Context,
    ) -> None:
        """Reconcile what the pulls brought, record the mismatches, push in enforce mode, and
        remember what the run decided from (cursors, the rules' fingerprint) when every pull landed."""
        entity, run_id = job.entity, report.run_id
        if source not in outcomes:
            raise FatalError(f"the source of truth {source!r} could not be read; nothing was reconciled")
        groups = groups_to_decide(self.store, job, name, outcomes, context.written_elsewhere, run_id)
        hinted_up_to, hinted = (0, set()) if context.dry_run else self.store.hints.pending(name)
        if groups is not None:
            groups |= hinted
        fields = {t: self.fields_of(job, connectors[t]) for t in job.targets if t in outcomes}
        decider = self.decider(self.store, self.config.hub.memory_records)
        decision = decider.decide(job, source, fields, outcomes, groups, reserved=context.reserved)
        _report_decision(report, decision)
        if decision.stale and not context.dry_run:
            self.store.quarantine.add(run_id, decision.stale)
        if context.dry_run:
            report.mismatches = len(decision.findings)
            report.planned = _planned(decision)
            return
        assert run_id is not None
        if decision.blind is not None:  # a config slip, not thousands of mismatches: nothing is recorded or pushed
            return
        decided = report.status == "ok"  # every pull landed: what they read may be trusted next time
        record_findings(self.store, name, entity, decision.findings, groups, report, utcnow())
        pushed = Pushed()
        if job.mode == "enforce" and decision.plans:
            pusher = Pusher(self.store, self.config.hub.push_failures_to_trip)
            pushed = await pusher.push(name, entity, run_id, decision.plans, connectors, outcomes, report)
        report.settle_status()
        report.mismatches = self.store.mismatches.count_open(name)
        if decided:
            # Changes that did not land keep their mismatches open, and open mismatches are decided
            # again next run, so the pulls' cursors are saved whatever the pushes did.
            for conn_name, outcome in outcomes.items():
                cursor = pushed.cursors.get(conn_name, outcome.cursor)
                if cursor is not None:
                    self.store.cursors.set(conn_name, entity.value, pack_cursor(cursor, self.mapping_for(conn_name)))
            self.store.runs.set_job_state(name, context.fingerprint, run_id)
            if hinted_up_to:
                self.store.hints.consume(name, hinted_up_to)

    async def orders_for(
        self, job: JobConfig, connectors: dict[str, Connector], report: JobReport, dry_run: bool
    ) -> dict[str, Reserved]:
        """Pull the reserving channels' orders before the stock, hint every job reserving for a
        channel at the SKUs whose reservations moved, and answer what the job's ledger holds."""
        pulled, errors = await pull_reserving_channels(
            self.store, job, connectors, dry_run=dry_run, run_id=report.run_id
        )
        for orders in pulled:
            report.orders[orders.channel] = len(orders.orders)
            report.quarantined += len(orders.rejected)
            if orders.changed:
                jobs = [n for n, j in self.config.jobs.items() if orders.channel in j.reservations]
                self.store.hints.add(jobs, orders.changed, f"orders:{orders.channel}")
        if errors:
            report.status = "failed"
            report.errors += errors
        overlay = [o for orders in pulled for o in orders.orders] if dry_run else []
        return reserved_for(job, self.store.orders.open_orders(job.reservations), overlay)

    def fields_of(self, job: JobConfig, target: Connector) -> list[str]:
        """The fields compared on a target: the job's (default all) that the target carries."""
        model = ENTITY_MODELS[job.entity]
        covered = {r.name for r in self.mapping_for(target.name)[job.entity].rules}
        narrowed = target.carried_fields(job.entity)
        if narrowed is not None:
            covered &= narrowed
        wanted = job.fields or list(model.compared_fields)
        return [f for f in wanted if f in covered]

    def fingerprint(self, job: JobConfig, source: str) -> str:
        digest = hashlib.blake2b(digest_size=16)
        # What decides the golden values and the comparisons; not when the job runs, reads in full or pushes.
        digest.update(job.model_dump_json(exclude={"mode", "schedule", "full_every"}).encode())
        digest.update(source.encode())
        for name in (source, *job.sources, *job.targets):
            digest.update(self.mapping_for(name).fingerprint)
        return digest.hexdigest()


@dataclass(frozen=True)
class _Context:
    """What a job run decides with besides the pulls."""

    #: The job's rules and mappings, digested: a change reconciles everything once.
    fingerprint: str
    #: The groups other runs changed since this job last reconciled; None: decide every group.
    written_elsewhere: set[str] | None
    dry_run: bool
    #: Stock jobs with ``reservations:``: units the ledger holds, by SKU; None: the job reserves nothing.
    reserved: dict[str, Reserved] | None = None


def _collect(
    readers: Sequence[str], pulls: Sequence[PullOutcome | BaseException], report: JobReport
) -> dict[str, PullOutcome]:
    """The pulls that landed, by connector; a pull that failed fails the run (a bug is raised)."""
    outcomes: dict[str, PullOutcome] = {}
    for conn_name, outcome in zip(readers, pulls, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, (OmnihubError, RecordInvalid)):
                raise outcome
            report.status = "failed"
            report.errors.append(redact(outcome))
            continue
        outcomes[conn_name] = outcome
        report.pulled[conn_name] = outcome.seen
        if outcome.full:
            report.full.append(conn_name)
        report.quarantined += len(outcome.quarantine)
    return outcomes


def _report_decision(report: JobReport, decision: Decision) -> None:
    report.warnings += decision.warnings
    report.compared = decision.compared
    report.quarantined += len(decision.stale)
    if decision.blind is not None:
        report.status = "failed"
        report.errors.append(decision.blind)


def _planned(decision: Decision) -> list[PlannedChange]:
    """What a dry run would have pushed, field by field."""
    return [
        PlannedChange(p.connector, p.key, f, as_text(p.previous.get(f)), as_text(v))
        for p in decision.plans
        for f, v in p.values.items()
    ]
