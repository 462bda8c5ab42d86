"""One sync run: pull -> normalize -> store -> reconcile -> diff -> plan -> push -> record.

The engine owns the order and the bookkeeping; connectors only pull pages and push batches, the
reconciler only decides. What makes re-syncs cheap: each raw row is hashed (salted with the
mapping's fingerprint) and compared with the stored hash before it is normalized, and only the
*groups* (SKUs, e-mails) that changed since the job last reconciled are reconciled again.

What makes pushes safe: every change is journaled in the outbox before it is sent; a change a
platform refused for good is not sent again until the data changes; a run that died leaves its
journaled changes to be decided again from a fresh pull (never replayed blindly).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import xxhash
from pydantic import ValidationError

from hub.config.loader import LoadedConfig
from hub.config.models import JobConfig
from hub.errors import ConfigError, ConnectorError, FatalError, OmnihubError, RetriableError
from hub.model.base import Entity, Record, RecordInvalid
from hub.model.limits import check_truth, out_of_range
from hub.model.records import ENTITY_MODELS, json_dumper
from hub.plugins.contract import Capability, Change, Connector, ConnectorContext, PushResult, RawRecord
from hub.plugins.mapping import EntityMapping, Mapping, load_mapping
from hub.plugins.registry import connector_class
from hub.redact import redact
from hub.state.keyed_pages import keyed_pages, stored_loader
from hub.state.ledger import PullLedger
from hub.state.locks import JobAlreadyRunning, job_lock
from hub.state.store import FORGOTTEN_HASH, Store, utcnow
from hub.sync.breaker import Breaker, CircuitOpen
from hub.sync.locations import location_gaps, sells_at
from hub.sync.reconcile import (
    PRESENCE,
    Finding,
    Plan,
    ReconcileInput,
    as_text,
    group_of,
    reconcile_group,
    reconcile_keyed,
)
from hub.sync.report import JobReport, PlannedChange

__all__ = ["Engine", "Progress"]

log = logging.getLogger("omnihub.engine")

#: progress(connector, entity, records done, total or None)
Progress = Callable[[str, str, int, int | None], None]


class RowHasher:
    """Stable 64-bit digests of platform rows (and their links), seeded by the mapping.

    The digest only has to tell a changed row from an unchanged one, so it is XXH3 (a fast
    non-cryptographic hash, a third of the cost of BLAKE2b per row) over the row's JSON, seeded
    with the mapping's fingerprint: a changed mapping changes every digest and so re-reads every
    row. At 64 bits two different rows of a million-row catalogue share a digest with a chance of
    about one in 10^7."""

    def __init__(self, salt: bytes) -> None:
        self._seed = int.from_bytes(hashlib.blake2b(salt + b"row-hash/xxh3", digest_size=8).digest(), "big")

    def __call__(self, raw: RawRecord) -> int:
        return _xxh3(orjson.dumps((raw.data, raw.link), default=str), self._seed) - _SIGNED_OFFSET


_xxh3 = xxhash.xxh3_64_intdigest
#: Entities whose group is the key itself (a stock group holds a SKU's every location).
_KEYED = frozenset({Entity.products, Entity.prices})
#: Digests are stored in a signed 64-bit column.
_SIGNED_OFFSET = 1 << 63


def _pack_cursor(cursor: str, mapping: Mapping) -> str:
    return f"{mapping.fingerprint.hex()[:16]}|{cursor}"


def _unpack_cursor(stored: str | None, mapping: Mapping) -> str | None:
    prefix = f"{mapping.fingerprint.hex()[:16]}|"
    return stored[len(prefix) :] if stored is not None and stored.startswith(prefix) else None


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


@dataclass
class PullOutcome:
    """What one connector's pull of one entity produced, for the reconciler."""

    connector: str
    #: Records that changed (or are new) in this pull, by key, with their link.
    changed: dict[str, Record] = field(default_factory=dict)
    links: dict[str, dict[str, str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    #: Keys that appeared more than once: key -> origins. Neither copy is used.
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    seen: int = 0
    unchanged: int = 0
    complete: bool = True
    cursor: str | None = None
    quarantine: list[tuple[str, str, str | None, str, str]] = field(default_factory=list)
    #: The pull outgrew the run's memory budget: its changed records were written to the store page
    #: by page and are not held (the store knows them by this run's id); the reconciler reads them back.
    spilled: bool = False
    #: Records the connector holds after this pull (pulled now, or stored before an incremental pull).
    held: int = 0
    #: Stock only: every location this connector holds stock at (pulled now or stored before).
    locations: frozenset[str] = frozenset()
    #: Read with no cursor (everything the platform holds), as opposed to only what changed.
    full: bool = False
    #: Records the platform says it holds (``PullPage.held``), when a page said so.
    platform_held: int | None = None
    #: An incremental pull whose platform count moved unlike the store's: records appeared or
    #: vanished behind its cursor. Nothing of it was written but the pages past the memory budget.
    drifted: bool = False

    def release(self) -> None:
        """Drop the records (the outcome's counts stay), once the run is done with them."""
        self.changed = {}
        self.links = {}

    #: Keys this connector has but could not read this run (quarantined, duplicated, or stored
    #: under looser rules than today's): never reported missing. Grows while the run reads back.
    unreadable: set[str] = field(default_factory=set)
    #: Stored records that no longer validate (key, reason): quarantined once the run has decided.
    stale: list[tuple[str, str]] = field(default_factory=list)

    @property
    def all_in_memory(self) -> bool:
        """Every current record of this connector is in ``changed`` (so the store need not be read)."""
        return self.complete and self.unchanged == 0 and not self.spilled


def _compared_nothing(compared: int, source: str, targets: Sequence[str], outcomes: dict[str, PullOutcome]) -> bool:
    """Both sides hold records and not one pair met: the job's silence would mean nothing."""
    return compared == 0 and outcomes[source].held > 0 and any(outcomes[t].held > 0 for t in targets)


def _blind_reason(job: JobConfig, source: str, targets: Sequence[str], outcomes: dict[str, PullOutcome]) -> str:
    """Why a job compared nothing, naming what does not meet (locations for stock, keys otherwise)."""
    if job.entity is Entity.stock:
        where = "; ".join(
            f"{t} sells at {', '.join(sorted(sells_at(job, t, outcomes[t].locations))) or 'no location'}"
            for t in targets
        )
        return (
            f"compared nothing: {source} (the truth) keeps stock at "
            f"{', '.join(sorted(outcomes[source].locations)) or 'no location'}; {where}. No target location is fed "
            f"by a truth location: map them in the connector's location settings or with the job's "
            f"rules: {{TARGET: {{locations: {{TARGET-LOCATION: [TRUTH-LOCATION, ...]}}}}}}"
        )
    sample = {n: next(iter(outcomes[n].changed), None) for n in (source, *targets)}
    examples = ", ".join(f"{n}: {k!r}" for n, k in sample.items() if k is not None)
    return (
        f"compared nothing: no {job.entity.value} key of {source} (the truth) is on {', '.join(targets)}, "
        f"and no key of theirs is known to the truth; check that they name records the same way"
        + (f" (for example {examples})" if examples else "")
    )


def _figures(conn: Connector) -> tuple[int, int, int | None]:
    """A connector's request, throttle and point counters so far (a shared connector's grow across jobs)."""
    stats = conn.transport_stats
    if stats is None:
        return (0, 0, None)
    return (stats.requests, stats.throttled, getattr(stats, "points", None))


def _count_figures(report: JobReport, conn: Connector, before: tuple[int, int, int | None] | None) -> None:
    """What the job cost on ``conn``: its counters now less what they were when the job began."""
    if conn.transport_stats is None:
        return
    requests, throttled, points = _figures(conn)
    start = before or (0, 0, 0)
    report.requests[conn.name] = requests - start[0]
    report.throttled[conn.name] = throttled - start[1]
    if points is not None:  # platforms priced in points
        report.points[conn.name] = points - (start[2] or 0)


async def _close(conn: Connector) -> None:
    try:
        await conn.close()
    except Exception:  # closing must not hide the run's own outcome
        log.warning("closing connector %s failed", conn.name, exc_info=True)


def _stored(model: type[Record], outcome: PullOutcome, key: str, data: str) -> Record | None:
    """A stored record read back, or ``None`` when it no longer passes today's rules (stored by an
    older omnihub, before a value rule got stricter): it is then unreadable, as a quarantined row
    is, instead of failing the job. The platform's next change to it is read and checked anew."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        outcome.unreadable.add(key)
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        outcome.stale.append(
            (
                key,
                f"stored record no longer valid ({reason}); not compared until {outcome.connector} "
                "changes it or the next full read",
            )
        )
        return None


class Engine:
    """Runs jobs of one loaded config against one store."""

    def __init__(
        self, config: LoadedConfig, store: Store, *, progress: Progress | None = None, mode: str | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.progress = progress
        #: Overrides every job's mode (``monitor``: report only, whatever the YAML says).
        self.mode = mode
        #: How many connectors the running job reads (they share the memory budget).
        self._readers = 1
        #: The connectors the jobs of one ``sync`` share (``None`` outside a sync: each job opens its own).
        self._session: dict[str, Connector] | None = None
        self._mappings: dict[str, Mapping] = {}

    # ------------------------------------------------------------------ building connectors

    def mapping_for(self, name: str) -> Mapping:
        if name not in self._mappings:
            settings = self.config.connectors[name]
            connector_class(settings.type)  # its package registers the transforms its mapping names
            self._mappings[name] = load_mapping(
                settings.type,
                user_file=settings.mapping,
                settings=dict(settings),
                currency=self.config.hub.currency,
                country=self.config.hub.country,
                base_dir=self.config.base_dir,
            )
        return self._mappings[name]

    def connector(self, name: str) -> Connector:
        settings = self.config.connectors[name]
        cls = connector_class(settings.type)
        context = ConnectorContext(
            currency=self.config.hub.currency, base_dir=self.config.base_dir, mapping=self.mapping_for(name)
        )
        return cls(name, settings, context)

    # ------------------------------------------------------------------ sync

    async def sync(self, job_names: Sequence[str] | None = None, *, dry_run: bool = False) -> list[JobReport]:
        """Run the named jobs (all by default) once, one after the other."""
        names = list(job_names) if job_names else list(self.config.jobs)
        unknown = [n for n in names if n not in self.config.jobs]
        if unknown:
            raise ConfigError(f"unknown job {unknown[0]!r}; defined jobs: {', '.join(self.config.jobs) or 'none'}")
        if not dry_run:
            self.recover()
        # The jobs of one sync share each connector, opened once: a platform listing that serves
        # several entities (WooCommerce's products: products, prices and stock) is read once.
        self._session = {}
        try:
            return [await self.run_job(name, dry_run=dry_run) for name in names]
        finally:
            session, self._session = self._session, None
            for conn in session.values():
                await _close(conn)

    async def _open(self, names: Sequence[str]) -> dict[str, Connector]:
        """The job's connectors, open: the sync's shared ones where a session runs, else new ones."""
        session = self._session
        fresh = {n: self.connector(n) for n in names if session is None or n not in session}
        try:
            await asyncio.gather(*(c.open() for c in fresh.values()))
        except BaseException:
            for conn in fresh.values():
                await _close(conn)
            raise
        if session is None:
            return fresh
        session.update(fresh)
        return {n: session[n] for n in names}

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
                with _paused_gc():
                    return await self._run_job(name, dry_run=dry_run)
        except JobAlreadyRunning as exc:
            log.error("%s", exc)
            job = self.config.jobs[name]
            mode = self.mode or job.mode
            report = JobReport(name=name, entity=job.entity.value, mode=mode, status="failed", errors=[str(exc)])
            report.duration_s = time.perf_counter() - started
            report.run_id = self.store.runs.start(name, job.entity.value, mode, False)
            self.store.runs.finish(report.run_id, "failed", report.duration_s, report.as_json(), str(exc))
            return report

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
        before: dict[str, tuple[int, int, int | None]] = {}
        try:
            source = self.config.source_of(job)
            involved = list(dict.fromkeys([source, *job.sources, *job.targets]))
            connectors = await self._open(involved)
            before = {n: _figures(c) for n, c in connectors.items()}
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
                _count_figures(report, conn, before.get(conn.name))
                if self._session is None:  # a job on its own (the daemon): its connectors are its own
                    await _close(conn)
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
        entity = job.entity
        readers = [source, *job.sources, *job.targets]
        self._readers = len(dict.fromkeys(readers))
        fingerprint = self._fingerprint(job, source)
        old_fingerprint, last_run_id = (None, 0) if dry_run else self.store.runs.job_state(name)
        written_elsewhere: set[str] = set()
        if not dry_run and old_fingerprint == fingerprint:
            for conn_name in dict.fromkeys(readers):
                written_elsewhere |= self.store.observations.groups_written_after(conn_name, entity.value, last_run_id)
        outcomes_list = await asyncio.gather(
            *(
                self._pull(connectors[n], entity, run_id, dry_run, truth=n == source, full_every=job.full_every)
                for n in dict.fromkeys(readers)
            ),
            return_exceptions=True,
        )
        outcomes: dict[str, PullOutcome] = {}
        for conn_name, outcome in zip(dict.fromkeys(readers), outcomes_list, strict=True):
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
        try:
            await self._decide(
                job,
                name,
                source,
                connectors,
                outcomes,
                report,
                fingerprint=fingerprint,
                written_elsewhere=None if dry_run or old_fingerprint != fingerprint else written_elsewhere,
                dry_run=dry_run,
            )
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
        *,
        fingerprint: str,
        written_elsewhere: set[str] | None,
        dry_run: bool,
    ) -> None:
        """Reconcile what the pulls brought, record the mismatches, push in enforce mode.

        ``written_elsewhere`` holds the groups other runs changed since this job last reconciled,
        or is None when everything must be reconciled (a first run, changed rules, a dry run)."""
        entity = job.entity
        run_id = report.run_id
        if source not in outcomes:
            raise FatalError(f"the source of truth {source!r} could not be read; nothing was reconciled")
        targets = [t for t in job.targets if t in outcomes]

        groups: set[str] | None = None  # None: every group
        if written_elsewhere is not None:
            groups = set(written_elsewhere)
            for conn_name, outcome in outcomes.items():
                groups |= {group_of(entity, k) for k in (*outcome.changed, *outcome.deleted, *outcome.duplicates)}
                if outcome.spilled and run_id is not None:  # its records were written, not kept
                    groups |= self.store.observations.groups_written_by(conn_name, entity.value, run_id)
            if job.mode == "enforce":
                groups |= self.store.mismatches.open_groups(name)
        job_input = ReconcileInput(
            entity=entity,
            source=source,
            targets=targets,
            rules=job.rules,
            fields={t: self._fields(job, connectors[t]) for t in targets},
            merge=job.merge,
            sources=job.sources,
            unreadable={n: o.unreadable for n, o in outcomes.items()},  # live: read-backs add to them
        )
        if entity is Entity.stock:
            located = {n: o.locations for n, o in outcomes.items()}
            job_input.truth_locations = located[source]
            job_input.target_locations = {t: sells_at(job, t, located[t]) for t in targets}
            report.warnings += location_gaps(job, source, targets, located)
        findings, plans, report.compared = self._reconcile(job_input, outcomes, groups)
        findings += self._identity_conflicts(entity, outcomes)
        stale = [(n, entity.value, key, "the state store", why) for n, o in outcomes.items() for key, why in o.stale]
        if stale:
            report.quarantined += len(stale)
            if not dry_run:
                self.store.quarantine.add(run_id, stale)
        blind = groups is None and _compared_nothing(report.compared, source, targets, outcomes)
        if blind:
            report.status = "failed"
            report.errors.append(_blind_reason(job, source, targets, outcomes))
        if dry_run:
            report.mismatches = len(findings)
            report.planned = [
                PlannedChange(p.connector, p.key, f, as_text(p.previous.get(f)), as_text(v))
                for p in plans
                for f, v in p.values.items()
            ]
            return
        assert run_id is not None
        if blind:  # a config slip, not thousands of mismatches: nothing is recorded or pushed
            return
        decided = report.status == "ok"  # every pull landed: what they read may be trusted next time
        self._diff(name, entity, findings, groups, report, utcnow())
        if job.mode == "enforce" and plans:
            await self._push(name, entity, run_id, plans, connectors, outcomes, report)
        report.settle_status()
        report.mismatches = self.store.mismatches.count_open(name)
        if decided:
            # Changes that did not land keep their mismatches open, and open mismatches are decided
            # again next run, so the pulls' cursors are saved whatever the pushes did.
            for conn_name, outcome in outcomes.items():
                if outcome.cursor is not None:
                    packed = _pack_cursor(outcome.cursor, self.mapping_for(conn_name))
                    self.store.cursors.set(conn_name, entity.value, packed)
            self.store.runs.set_job_state(name, fingerprint, run_id)

    def _reconcile(
        self, job_input: ReconcileInput, outcomes: dict[str, PullOutcome], groups: set[str] | None
    ) -> tuple[list[Finding], list[Plan], int]:
        """Findings, plans and the number of target records compared, for every group to decide."""
        entity, source = job_input.entity, job_input.source
        if groups is None and entity in _KEYED and all(o.all_in_memory for o in outcomes.values()):
            # A first sync (or a full one) of products or prices: every record is in memory, one
            # per key and connector, so each target is compared key by key without grouping.
            held = {t: outcomes[t].changed for t in job_input.targets}
            return reconcile_keyed(job_input, outcomes[source].changed, held)
        if groups is None and entity in _KEYED and any(o.spilled for o in outcomes.values()):
            return self._reconcile_spilled(job_input, outcomes)
        findings: list[Finding] = []
        plans: list[Plan] = []
        compared = 0
        for grp, by_connector in self._groups(entity, outcomes, groups):
            f, p, n = reconcile_group(job_input, grp, by_connector)
            compared += n
            if f:
                findings += f
            if p:
                plans += p
        return findings, plans, compared

    def _reconcile_spilled(
        self, job_input: ReconcileInput, outcomes: dict[str, PullOutcome]
    ) -> tuple[list[Finding], list[Plan], int]:
        """Every key of a spilled products or prices run, read back from the store in key order and
        reconciled page by page (``reconcile_keyed`` decides as ``reconcile_group`` would): the
        run holds one page of ``hub.memory_records`` records, not the catalogue.

        Every pull wrote what it read before this, so the store holds each connector's current
        records; a duplicated key is stored from an earlier run, and left out as the pull left it."""
        entity, source = job_input.entity, job_input.source
        readers = [source, *job_input.targets]
        skip = {(name, key) for name, outcome in outcomes.items() for key in outcome.duplicates}
        rows = self.store.observations.iter_keyed(readers, entity.value)
        size = max(1, self.config.hub.memory_records // len(readers))
        load = stored_loader(ENTITY_MODELS[entity])
        findings: list[Finding] = []
        plans: list[Plan] = []
        compared = 0
        for truth, held in keyed_pages(rows, load, source, job_input.targets, skip, size):
            f, p, n = reconcile_keyed(job_input, truth, held)
            findings += f
            plans += p
            compared += n
        return findings, plans, compared

    @staticmethod
    def _identity_conflicts(entity: Entity, outcomes: dict[str, PullOutcome]) -> list[Finding]:
        """Two people claiming one e-mail is an identity conflict someone must settle (a duplicate
        SKU row is a feed error, quarantined with its reason instead)."""
        if entity is not Entity.customers:
            return []
        return [
            Finding(key, key, conn_name, "identity", "one record", f"{len(origins)} records ({', '.join(origins[:3])})")
            for conn_name, outcome in outcomes.items()
            for key, origins in outcome.duplicates.items()
        ]

    # ------------------------------------------------------------------ pull and store

    async def _pull(
        self,
        conn: Connector,
        entity: Entity,
        run_id: int | None,
        dry_run: bool,
        *,
        truth: bool = False,
        full_every: timedelta | None = None,
    ) -> PullOutcome:
        """Pull one connector's entity: only what changed since its cursor, or everything.

        Incremental pulls cannot see a platform that went back in time (restored from a backup: its
        records are older than the cursor), so everything is read when there is no cursor, when
        the last full read is older than ``full_every``, and when the platform's count shows records
        appeared or vanished behind the cursor. That last one is read again in the same run: the
        job would otherwise decide from a store it knows to be wrong, and the count costs nothing
        (it comes with the pages), while the second read happens only when something is off."""
        # A cursor is saved only after a successful run, so there are stored records to compare with;
        # it is tied to the mapping it was read with: a changed mapping means reading everything.
        since = _unpack_cursor(self.store.cursors.get(conn.name, entity.value), self.mapping_for(conn.name))
        full_at, gap = self.store.cursors.full_read(conn.name, entity.value)
        started = utcnow()
        if since is not None and full_every is not None and (full_at is None or started - full_at >= full_every):
            log.info(
                "%s: %s last read in full %s, longer ago than full_every (%s): reading everything",
                conn.name,
                entity.value,
                full_at.isoformat(timespec="seconds") if full_at else "never",
                full_every,
            )
            since = None
        out = await self._read(conn, entity, run_id, dry_run, since, truth=truth, gap=gap)
        if out.drifted:
            log.warning(
                "%s: the platform holds %d %s records where the hub expected %d: records appeared or vanished "
                "without changing their modification time (a restored backup?); reading everything",
                conn.name,
                out.platform_held,
                entity.value,
                out.held + (gap or 0),
            )
            incremental = out
            out = await self._read(conn, entity, run_id, dry_run, None, truth=truth, gap=None)
            if incremental.spilled:  # its first pages are stored: the full read finds them unchanged
                out.spilled = True
        if out.full and out.complete and not dry_run:
            held_gap = None if out.platform_held is None else out.platform_held - out.held
            self.store.cursors.mark_full_read(conn.name, entity.value, started, held_gap)
        return out

    async def _read(
        self,
        conn: Connector,
        entity: Entity,
        run_id: int | None,
        dry_run: bool,
        since: str | None,
        *,
        truth: bool,
        gap: int | None,
    ) -> PullOutcome:
        """Read, normalize and store one pull from ``since``. An incremental pull whose platform
        count minus the records held differs from ``gap`` (what it was after the last full read)
        comes back ``drifted`` and unwritten, for ``_pull`` to read everything instead.

        Past the memory budget the pull keeps one window in memory: its records are written, its
        keys go to a ledger on disk (``PullLedger``) that finds duplicates across windows,
        deletions and the census at the end. A re-sync of more stored records than the budget
        looks each page's digests up in the ledger instead of holding every stored hash."""
        mapping = self.mapping_for(conn.name)
        em: EntityMapping = mapping[entity]
        row_hash = RowHasher(mapping.fingerprint)
        stored: dict[str, int] | None = None  # loaded with the first record: a pull may bring none
        known: dict[int, str] = {}
        ledger: PullLedger | None = None  # created when the pull first passes the budget
        hashes_on_disk = False  # the stored hashes are in the ledger, looked up page by page
        out = PullOutcome(conn.name, full=since is None)
        seen: dict[str, str] = {}
        hashes: dict[str, int] = {}
        total: int | None = None
        budget = None if dry_run else max(1, self.config.hub.memory_records // max(1, self._readers))
        changed, links, duplicates = out.changed, out.links, out.duplicates
        to_canonical = em.to_canonical
        # What only a source of truth is held to (no negative stock): a target is read as it is.
        held_to_truth = check_truth if truth and entity is Entity.stock else None
        try:
            async for page in conn.pull(entity, since):
                out.complete = out.complete and page.complete
                out.cursor = page.cursor or out.cursor
                total = page.total or total
                if out.platform_held is None:
                    out.platform_held = page.held
                for key, reason, origin in page.rejected:
                    out.quarantine.append((conn.name, entity.value, key, origin, reason))
                if stored is None and page.records:
                    if budget is not None and self.store.observations.count(conn.name, entity.value) > budget:
                        stored, hashes_on_disk = {}, True
                        ledger = PullLedger()
                        ledger.add_stored(self.store.observations.iter_hashes(conn.name, entity.value))
                        ledger.index_stored()
                        out.spilled = True  # nor is any record held: the reconciler reads the store
                        log.info(
                            "%s: more than %d stored %s records; comparing them on disk",
                            conn.name,
                            self.config.hub.memory_records,
                            entity.value,
                        )
                    else:
                        stored = self.store.observations.hashes(conn.name, entity.value)
                        # An unchanged row is recognized by its hash alone, before its key is even read.
                        known = {digest: key for key, digest in stored.items()}
                        known.pop(FORGOTTEN_HASH, None)  # rows the hub wrote since: read again, whatever they hold
                if hashes_on_disk and ledger is not None:  # the stored rows of this page's digests, looked up together
                    known = ledger.known(map(row_hash, page.records), FORGOTTEN_HASH)
                out.seen += len(page.records)
                # The loop of every pulled row: locals only, nothing allocated for an unchanged one.
                for raw in page.records:
                    digest = row_hash(raw)
                    key = known.get(digest) if known else None
                    if key is not None:  # unchanged since the last pull
                        if key in seen:
                            duplicates.setdefault(key, [seen[key]]).append(raw.origin)
                        else:
                            seen[key] = raw.origin
                            out.unchanged += 1
                        continue
                    try:
                        record = to_canonical(raw)
                        key = record.key
                        if held_to_truth is not None:
                            held_to_truth(record)
                    except RecordInvalid as exc:
                        try:
                            key = em.key_of(raw)
                        except RecordInvalid:
                            key = None
                        out.quarantine.append((conn.name, entity.value, key, raw.origin, exc.reason))
                        if key is not None and key not in seen:
                            seen[key] = raw.origin  # known but unreadable now: not a deletion
                        continue
                    if key in seen:
                        duplicates.setdefault(key, [seen[key]]).append(raw.origin)
                        continue
                    seen[key] = raw.origin
                    changed[key] = record
                    hashes[key] = digest
                    if raw.link:
                        links[key] = raw.link
                if budget is not None and (len(changed) > budget or (ledger is not None and len(seen) > budget)):
                    if ledger is None:
                        ledger = PullLedger()
                        ledger.add_stored((stored or {}).items())
                        ledger.index_stored()
                    self._spill(conn.name, entity, out, hashes, run_id)
                    ledger.add_window(seen, duplicates)  # the window's keys leave memory too
                    seen.clear()
                    duplicates.clear()
                if self.progress is not None:
                    self.progress(conn.name, entity.value, out.seen, total)
            if ledger is not None:  # the last window; then every copy of a key, across windows
                ledger.add_window(seen, duplicates)
                seen.clear()
                ledger.finish()
                out.duplicates = ledger.duplicates()
            return self._settle_pull(conn, entity, out, run_id, dry_run, gap, seen, stored, hashes, ledger)
        finally:
            if ledger is not None:
                ledger.close()

    def _settle_pull(
        self,
        conn: Connector,
        entity: Entity,
        out: PullOutcome,
        run_id: int | None,
        dry_run: bool,
        gap: int | None,
        seen: dict[str, str],
        stored: dict[str, int] | None,
        hashes: dict[str, int],
        ledger: PullLedger | None,
    ) -> PullOutcome:
        """The end of a pull: quarantine its duplicates, find its deletions, count what the
        connector holds, and write what it has not written yet."""
        for key, origins in out.duplicates.items():
            out.changed.pop(key, None)
            hashes.pop(key, None)
            for origin in origins:
                out.quarantine.append(
                    (
                        conn.name,
                        entity.value,
                        key,
                        origin,
                        f"duplicate key {key!r} (also at {', '.join(o for o in origins if o != origin)});"
                        " neither record is used until the source has one",
                    )
                )
        out.unreadable = set(out.duplicates).union(q[2] for q in out.quarantine if q[2] is not None)
        if ledger is not None:
            if out.complete:
                out.deleted = set(ledger.unseen_stored())
                self._guard_truncation(conn.name, entity, ledger.stored, ledger.count_seen(), len(out.deleted))
        else:
            if out.complete and stored is None:
                stored = self.store.observations.hashes(conn.name, entity.value)  # an empty feed: were records deleted?
            if out.complete and stored:
                out.deleted = {k for k in stored if k not in seen}
                self._guard_truncation(conn.name, entity, len(stored), len(seen), len(out.deleted))
        self._census(conn.name, entity, out, seen, stored, ledger)
        if not out.complete and gap is not None and out.platform_held not in (None, out.held + gap):
            out.drifted = True
            return out
        if not dry_run:
            spilled_duplicates: set[str] = set()
            if out.spilled:
                self._spill(conn.name, entity, out, hashes, run_id)  # the last pages, not held either
                if out.duplicates and run_id is not None:
                    spilled_duplicates = self.store.observations.keys_written_by(
                        conn.name, entity.value, run_id, out.duplicates
                    )
            else:
                self._write(conn.name, entity, out, hashes, run_id)
            if out.deleted or spilled_duplicates:
                # A duplicate already written page by page is taken out too: neither copy is used.
                self.store.observations.delete(conn.name, entity.value, sorted(out.deleted | spilled_duplicates))
            self.store.quarantine.add(run_id, out.quarantine)
        return out

    def _census(
        self,
        name: str,
        entity: Entity,
        out: PullOutcome,
        seen: dict[str, str],
        stored: dict[str, int] | None,
        ledger: PullLedger | None,
    ) -> None:
        """How many records the connector holds now and, for stock, at which locations: what tells
        a job that compared nothing from one that had nothing to compare."""
        if ledger is not None:  # past the budget: the ledger on disk holds the pull's keys
            out.held = ledger.count_seen() - len(out.duplicates) if out.complete else ledger.count_held()
            if entity is Entity.stock:
                out.locations = ledger.locations(with_stored=not out.complete)
            return
        if out.complete:
            current: Iterable[str] = seen.keys() - out.duplicates.keys()
            out.held = len(seen) - len(out.duplicates)
        elif stored is not None:  # an incremental pull: what it did not bring is still held as stored
            current = stored.keys() | seen.keys()
            out.held = len(current)
        else:  # it brought nothing (an unchanged feed): the store says, without reading every key
            out.held = self.store.observations.count(name, entity.value)
            if entity is Entity.stock:
                out.locations = self.store.observations.stock_locations(name)
            return
        if entity is Entity.stock:
            out.locations = frozenset(key.rpartition("@")[2] for key in current)

    def _write(self, name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int], run_id: int | None) -> None:
        keys = list(out.changed)
        # (key, group, hash, JSON) rows zipped from columns: no Python-level step per record.
        groups = [k.split("@", 1)[0] for k in keys] if entity is Entity.stock else keys
        to_json = json_dumper(ENTITY_MODELS[entity])
        rows = zip(keys, groups, map(hashes.__getitem__, keys), map(to_json, out.changed.values()), strict=True)
        self.store.observations.write(name, entity.value, rows, run_id)
        self.store.links.write(name, entity.value, out.links.items())

    def _spill(self, name: str, entity: Entity, out: PullOutcome, hashes: dict[str, int], run_id: int | None) -> None:
        """Write what the pull holds and stop holding it: past the memory budget, records live in
        the store and the reconciler streams them back group by group."""
        if not out.spilled:
            log.info(
                "%s: more than %d changed %s records; reconciling them from the store",
                name,
                self.config.hub.memory_records,
                entity.value,
            )
        self._write(name, entity, out, hashes, run_id)
        out.changed.clear()
        out.links.clear()
        hashes.clear()
        out.spilled = True

    def _guard_truncation(self, name: str, entity: Entity, known: int, seen: int, deleted: int) -> None:
        limit = self.config.hub.max_delete_fraction
        if deleted and (seen == 0 or deleted > limit * known):
            raise FatalError(
                f"the pull of {entity.value} returned {seen} records where {known} were known; refusing to treat "
                f"{deleted} as deleted because the feed looks empty or truncated. Fix the feed, or raise "
                f"hub.max_delete_fraction (now {limit}) if so many records really went away",
                connector=name,
            )

    def _groups(
        self, entity: Entity, outcomes: dict[str, PullOutcome], groups: set[str] | None
    ) -> Iterator[tuple[str, dict[str, list[Record]]]]:
        """The groups to reconcile with their records by connector: from memory when the run holds
        them, else streamed from the store in group order (a pull that outgrew the memory budget)."""
        if not any(outcome.spilled for outcome in outcomes.values()):
            yield from self._records(entity, outcomes, groups).items()
            return
        model = ENTITY_MODELS[entity]
        duplicates = {(name, key) for name, outcome in outcomes.items() for key in outcome.duplicates}
        for grp, rows in self.store.observations.iter_groups(list(outcomes), entity.value, groups):
            by_connector: dict[str, list[Record]] = {}
            for name, key, data in rows:
                if (name, key) not in duplicates and (record := _stored(model, outcomes[name], key, data)):
                    by_connector.setdefault(name, []).append(record)
            if by_connector:
                yield grp, by_connector

    def _records(
        self, entity: Entity, outcomes: dict[str, PullOutcome], groups: set[str] | None
    ) -> dict[str, dict[str, list[Record]]]:
        """Every current record of the groups to reconcile (all groups when ``groups`` is None), by
        group and connector. Bounded like the pulls: past ``hub.memory_records`` the run streams
        groups from the store instead (``_groups``)."""
        model = ENTITY_MODELS[entity]
        records: dict[str, dict[str, list[Record]]] = {}
        stock = entity is Entity.stock
        for conn_name, outcome in outcomes.items():
            if groups is None and not stock:
                # The first sync's shape: every record, one per key and connector (duplicates
                # were taken out), its key its group.
                for key, record in outcome.changed.items():
                    group = records.get(key)
                    if group is None:
                        records[key] = {conn_name: [record]}
                    else:
                        group[conn_name] = [record]
            else:
                for key, record in outcome.changed.items():
                    grp = key.split("@", 1)[0] if stock else key  # group_of, inlined: once per record
                    if groups is None or grp in groups:
                        records.setdefault(grp, {}).setdefault(conn_name, []).append(record)
            if outcome.all_in_memory:
                continue
            skip = outcome.changed.keys() | outcome.deleted | outcome.duplicates.keys()
            rows = (
                self.store.observations.iter_records(conn_name, entity.value)
                if groups is None
                else self.store.observations.fetch(conn_name, entity.value, groups)
            )
            for key, grp, data in rows:
                if key not in skip and (record := _stored(model, outcome, key, data)):
                    records.setdefault(grp, {}).setdefault(conn_name, []).append(record)
        return records

    def _fields(self, job: JobConfig, target: Connector) -> list[str]:
        """The fields compared on a target: the job's (default all) that the target carries."""
        model = ENTITY_MODELS[job.entity]
        covered = {r.name for r in self.mapping_for(target.name)[job.entity].rules}
        narrowed = target.carried_fields(job.entity)
        if narrowed is not None:
            covered &= narrowed
        wanted = job.fields or list(model.compared_fields)
        return [f for f in wanted if f in covered]

    def _fingerprint(self, job: JobConfig, source: str) -> str:
        digest = hashlib.blake2b(digest_size=16)
        # What decides the golden values and the comparisons; not when the job runs, reads in full or pushes.
        digest.update(job.model_dump_json(exclude={"mode", "schedule", "full_every"}).encode())
        digest.update(source.encode())
        for name in (source, *job.sources, *job.targets):
            digest.update(self.mapping_for(name).fingerprint)
        return digest.hexdigest()

    # ------------------------------------------------------------------ diff

    def _diff(
        self, job: str, entity: Entity, findings: list[Finding], groups: set[str] | None, report: JobReport, now: Any
    ) -> None:
        self.store.mismatches.touch_open(job, now)
        previous = self.store.mismatches.open(job, groups)
        found = {}
        for f in findings:
            found[(f.key, f.field, f.connector)] = {
                "key": f.key,
                "grp": f.grp,
                "field": f.field,
                "connector": f.connector,
                "expected": as_text(f.expected),
                "actual": as_text(f.actual),
                "detail": None,
            }
        report.new_mismatches = sum(1 for k in found if k not in previous)
        gone = [row["id"] for k, row in previous.items() if k not in found]
        report.resolved_mismatches = len(gone)
        self.store.mismatches.save(job, entity.value, list(found.values()), gone, now)

    # ------------------------------------------------------------------ push

    async def _push(
        self,
        job: str,
        entity: Entity,
        run_id: int,
        plans: list[Plan],
        connectors: dict[str, Connector],
        outcomes: dict[str, PullOutcome],
        report: JobReport,
    ) -> None:
        by_connector: dict[str, list[Plan]] = defaultdict(list)
        for plan in plans:
            by_connector[plan.connector].append(plan)
        for conn_name, conn_plans in by_connector.items():
            conn = connectors[conn_name]
            if not conn.can(entity, Capability.write):
                continue
            links = self.store.links.load(conn_name, entity.value, [p.key for p in conn_plans])
            fresh = outcomes[conn_name].links
            links.update({p.key: fresh[p.key] for p in conn_plans if p.key in fresh})
            changes = [self._change(job, entity, run_id, plan, links.get(plan.key, {})) for plan in conn_plans]
            refused = self.store.outbox.refused(c[1] for c in changes)
            to_send = []
            for change, decision in changes:
                unfit = out_of_range(change, conn.value_limits, conn_name)
                if unfit is not None:  # this record alone fails, unsent: never its batch or its job
                    report.fail(conn_name, change.key, list(change.values), "out_of_range", unfit)
                    self.store.mismatches.set_detail(entity.value, change.key, conn_name, unfit)
                    continue
                if decision in refused:
                    code, message = refused[decision]
                    detail = f"not sent again: {conn_name} refused this change before ({code or 'error'}: {message})"
                    report.fail(conn_name, change.key, list(change.values), code, detail)
                    self.store.mismatches.set_detail(entity.value, change.key, conn_name, detail)
                    continue
                to_send.append((change, decision))
            ids = self.store.outbox.journal(
                [
                    {
                        "run_id": run_id,
                        "job": job,
                        "connector": conn_name,
                        "entity": entity.value,
                        "key": c.key,
                        "idempotency_key": c.idempotency_key,
                        "decision": d,
                        "payload": orjson.dumps({"values": c.values, "previous": c.previous}, default=str).decode(),
                    }
                    for c, d in to_send
                ]
            )
            journaled = list(zip(ids, (c for c, _ in to_send), strict=True))
            await self._send(entity, conn, journaled, report)
            outcome = outcomes[conn_name]
            if outcome.cursor is not None:
                after = conn.cursor_after_push(entity, outcome.cursor)
                if after != outcome.cursor:  # the saved cursor describes what was there before the write
                    self.store.cursors.set(conn_name, entity.value, None)
                    outcome.cursor = after

    async def _send(
        self, entity: Entity, conn: Connector, journaled: list[tuple[int, Change]], report: JobReport
    ) -> None:
        """Hand ``journaled`` to the connector batch by batch, behind the connector's circuit breaker.

        The breaker counts the write calls the transport gave up on, in a row, wherever they happen
        (a connector may split a batch into several calls, and answer a failed call item by item):
        once ``hub.push_failures_to_trip`` have failed, no further batch is handed over this run, and
        its changes are left to the next run instead of each costing its calls' retries. A refusal
        that no retry can help (``FatalError``: bad credentials) stops the connector at once."""
        breaker = Breaker(conn.name, self.config.hub.push_failures_to_trip)
        size = max(1, conn.batch_size(entity))
        for start in range(0, len(journaled), size):
            batch = journaled[start : start + size]
            if breaker.is_open:
                self._unsent(conn.name, journaled[start:], "circuit_open", breaker.reason(), report)
                break
            try:
                with breaker.watching():
                    results = await conn.push(entity, [c for _, c in batch])
            except RetriableError as exc:
                breaker.failed(exc)
                if isinstance(exc, CircuitOpen):
                    self._unsent(conn.name, batch, "circuit_open", breaker.reason(), report)
                else:
                    self._unsent(conn.name, batch, "unavailable", redact(exc), report)
                continue
            except ConnectorError as exc:
                message = redact(exc)
                report.status = "failed"
                report.errors.append(f"push to {conn.name} stopped: {message}")
                self._unsent(conn.name, journaled[start:], "unavailable", message, report)
                return
            self._settle(entity, conn.name, batch, results, report)
        if breaker.is_open:
            report.status = "failed"
            report.errors.append(f"push to {conn.name} stopped: {breaker.reason()}")

    def _unsent(
        self, conn_name: str, rows: Sequence[tuple[int, Change]], code: str, message: str, report: JobReport
    ) -> None:
        """Changes that did not reach the platform: failed in the report, retried (superseded by the
        next run's decisions) in the outbox."""
        self.store.outbox.settle([(outbox_id, "retry", code, message) for outbox_id, _ in rows])
        for _, change in rows:
            report.fail(conn_name, change.key, list(change.values), code, message)

    def _change(self, job: str, entity: Entity, run_id: int, plan: Plan, link: dict[str, str]) -> tuple[Change, str]:
        decision = hashlib.blake2b(
            orjson.dumps(
                [
                    job,
                    plan.connector,
                    plan.key,
                    sorted((k, as_text(v)) for k, v in plan.values.items()),
                    sorted((k, as_text(v)) for k, v in plan.previous.items()),
                ]
            ),
            digest_size=16,
        ).hexdigest()
        idempotency = hashlib.blake2b(f"{run_id}:{decision}".encode(), digest_size=16).hexdigest()
        change = Change(
            entity=entity,
            key=plan.key,
            connector=plan.connector,
            values=plan.values,
            previous=plan.previous,
            record=plan.record,
            link={} if plan.create else link,
            idempotency_key=idempotency,
        )
        return change, decision

    def _settle(
        self,
        entity: Entity,
        conn_name: str,
        batch: Sequence[tuple[int, Change]],
        results: Iterable[PushResult],
        report: JobReport,
    ) -> None:
        by_key = {r.key: r for r in results}
        outcomes = []
        resolved = []
        written = []
        now = utcnow()
        for outbox_id, change in batch:
            result = by_key.get(change.key)
            if result is None:
                message = f"{conn_name} gave no answer for this record"
                outcomes.append((outbox_id, "retry", "no_answer", message))
                report.fail(conn_name, change.key, list(change.values), "no_answer", message)
            elif result.ok:
                outcomes.append((outbox_id, "done", None, None))
                report.pushed[conn_name] = report.pushed.get(conn_name, 0) + 1
                written.append(change.key)
                resolved += [(change.key, f, conn_name) for f in change.values]
                if not change.link:  # a create: the record is on the channel now
                    resolved.append((change.key, PRESENCE, conn_name))
            elif result.stale:
                report.races += 1
                message = result.message or "the value changed on the platform during the sync"
                outcomes.append((outbox_id, "stale", result.code, message))
                self.store.mismatches.set_detail(
                    entity.value,
                    change.key,
                    conn_name,
                    f"race: {message}",
                    {k: as_text(v) or "" for k, v in (result.actual or {}).items()},
                )
            else:
                status = "retry" if result.retriable else "failed"
                outcomes.append((outbox_id, status, result.code, result.message))
                report.fail(conn_name, change.key, list(change.values), result.code, result.message or "refused")
                self.store.mismatches.set_detail(
                    entity.value,
                    change.key,
                    conn_name,
                    f"{conn_name} refused: {result.code or 'error'}: {result.message}",
                )
        self.store.outbox.settle(outcomes)
        if written:  # what was read of these records is no longer what the channel holds
            self.store.observations.forget_hashes(conn_name, entity.value, written)
        if resolved:
            report.resolved_mismatches += self.store.mismatches.resolve_pushed(entity.value, resolved, now)
