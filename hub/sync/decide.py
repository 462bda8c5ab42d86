"""The decide stage: from what the pulls brought to findings and plans, around the pure reconciler.

It chooses the groups to decide (only those that changed since the job last reconciled, unless
everything must be), builds the reconciler's input, feeds it the records (from memory, or streamed
from the store when the pulls outgrew the memory budget), refuses a run that compared nothing, and
records the differences found as mismatches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hub.config.models import JobConfig
from hub.model.base import Entity, Record
from hub.model.records import ENTITY_MODELS
from hub.state.keyed_pages import keyed_pages, stored_loader
from hub.state.partitions import Partition
from hub.state.store import Store
from hub.sync.locations import location_gaps, sells_at
from hub.sync.orders import Reserved
from hub.sync.outcome import PullOutcome, QuarantineRow, stored_record
from hub.sync.reconcile import Finding, Plan, ReconcileInput, as_text, group_of, reconcile_group, reconcile_keyed
from hub.sync.report import JobReport

__all__ = ["Decider", "Decision", "groups_to_decide", "record_findings"]

#: Entities whose group is the key itself (a stock group holds a SKU's every location).
_KEYED = frozenset({Entity.products, Entity.prices})


@dataclass
class Decision:
    """What the reconciler decided for one run of a job."""

    findings: list[Finding]
    plans: list[Plan]
    #: Target records compared with the truth.
    compared: int
    #: Location rules that leave a target location unfed, or a truth location unsold.
    warnings: list[str] = field(default_factory=list)
    #: Stored records that no longer validate, to quarantine.
    stale: list[QuarantineRow] = field(default_factory=list)
    #: Why the run compared nothing although both sides hold records (a config slip), else None.
    blind: str | None = None


def groups_to_decide(
    store: Store,
    job: JobConfig,
    name: str,
    outcomes: dict[str, PullOutcome],
    written_elsewhere: set[str] | None,
    run_id: int | None,
) -> set[str] | None:
    """The groups this run reconciles: those its pulls changed, those other runs changed since the
    job last reconciled (``written_elsewhere``) and, in enforce mode, those with open mismatches.
    None (every group) when ``written_elsewhere`` is: a first run, changed rules, a dry run."""
    if written_elsewhere is None:
        return None
    entity = job.entity
    groups = set(written_elsewhere)
    for conn_name, outcome in outcomes.items():
        groups |= {group_of(entity, k) for k in (*outcome.changed, *outcome.deleted, *outcome.duplicates)}
        if outcome.spilled and run_id is not None:  # its records were written, not kept
            groups |= store.observations.groups_written_by(conn_name, entity.value, run_id)
    if job.mode == "enforce":
        groups |= store.mismatches.open_groups(name)
    return groups


def compared_nothing(compared: int, source: str, targets: Sequence[str], outcomes: dict[str, PullOutcome]) -> bool:
    """Both sides hold records and not one pair met: the job's silence would mean nothing."""
    return compared == 0 and outcomes[source].held > 0 and any(outcomes[t].held > 0 for t in targets)


def blind_reason(job: JobConfig, source: str, targets: Sequence[str], outcomes: dict[str, PullOutcome]) -> str:
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


def identity_conflicts(entity: Entity, outcomes: dict[str, PullOutcome]) -> list[Finding]:
    """Two people claiming one e-mail is an identity conflict someone must settle (a duplicate
    SKU row is a feed error, quarantined with its reason instead)."""
    if entity is not Entity.customers:
        return []
    return [
        Finding(key, key, conn_name, "identity", "one record", f"{len(origins)} records ({', '.join(origins[:3])})")
        for conn_name, outcome in outcomes.items()
        for key, origins in outcome.duplicates.items()
    ]


class Decider:
    """Runs the reconciler over a job's groups, reading records back from the store when needed."""

    def __init__(self, store: Store, memory_records: int) -> None:
        self.store = store
        self.memory_records = memory_records

    def decide(
        self,
        job: JobConfig,
        source: str,
        fields: dict[str, list[str]],
        outcomes: dict[str, PullOutcome],
        groups: set[str] | None,
        *,
        reserved: Mapping[str, Reserved] | None = None,
        partition: Partition | None = None,
    ) -> Decision:
        """Findings and plans for ``groups`` (every group when None) of the connectors that were read;
        ``reserved`` (stock) holds the units the job's reservation ledger holds, by SKU.

        ``partition``: only the groups of that partition (one task of a distributed run), read from
        the store, where every pull of such a run wrote what it read. Whether the run compared
        nothing is then judged on the partition's own records."""
        entity = job.entity
        if partition is not None:
            if not all(o.spilled for o in outcomes.values()):
                raise ValueError("a partition is decided from the store: its run's pulls must all be stored")
            groups = None if groups is None else partition.only(groups)
        targets = [t for t in job.targets if t in outcomes]
        job_input = ReconcileInput(
            entity=entity,
            source=source,
            targets=targets,
            rules=job.rules,
            fields={t: fields[t] for t in targets},
            merge=job.merge,
            sources=job.sources,
            unreadable={n: o.unreadable for n, o in outcomes.items()},  # live: read-backs add to them
            reserved=reserved or {},
        )
        warnings: list[str] = []
        if entity is Entity.stock:
            located = {n: o.locations for n, o in outcomes.items()}
            job_input.truth_locations = located[source]
            job_input.target_locations = {t: sells_at(job, t, located[t]) for t in targets}
            warnings = location_gaps(job, source, targets, located)
        findings, plans, compared = self.reconcile(job_input, outcomes, groups, partition)
        conflicts = identity_conflicts(entity, outcomes)
        findings += conflicts if partition is None else [f for f in conflicts if partition.holds(f.grp)]
        stale = [(n, entity.value, key, "the state store", why) for n, o in outcomes.items() for key, why in o.stale]
        blind = None
        if (
            groups is None
            and compared_nothing(compared, source, targets, outcomes)
            and (partition is None or self._partition_holds_both(entity, source, targets, partition))
        ):
            blind = blind_reason(job, source, targets, outcomes)
        return Decision(findings, plans, compared, warnings, stale, blind)

    def _partition_holds_both(self, entity: Entity, source: str, targets: Sequence[str], partition: Partition) -> bool:
        """The truth and a target both hold records in ``partition`` (a partition that compared
        nothing for want of records is not a blind job)."""
        count = self.store.observations.count
        return count(source, entity.value, partition) > 0 and any(count(t, entity.value, partition) for t in targets)

    def reconcile(
        self,
        job_input: ReconcileInput,
        outcomes: dict[str, PullOutcome],
        groups: set[str] | None,
        partition: Partition | None = None,
    ) -> tuple[list[Finding], list[Plan], int]:
        """Findings, plans and the number of target records compared, for every group to decide."""
        entity, source = job_input.entity, job_input.source
        if groups is None and entity in _KEYED and all(o.all_in_memory for o in outcomes.values()):
            # A first sync (or a full one) of products or prices: every record is in memory, one
            # per key and connector, so each target is compared key by key without grouping.
            held = {t: outcomes[t].changed for t in job_input.targets}
            return reconcile_keyed(job_input, outcomes[source].changed, held)
        if groups is None and entity in _KEYED and any(o.spilled for o in outcomes.values()):
            return self._reconcile_spilled(job_input, outcomes, partition)
        findings: list[Finding] = []
        plans: list[Plan] = []
        compared = 0
        for grp, by_connector in self._groups(entity, outcomes, groups, partition):
            f, p, n = reconcile_group(job_input, grp, by_connector)
            compared += n
            if f:
                findings += f
            if p:
                plans += p
        return findings, plans, compared

    def _reconcile_spilled(
        self, job_input: ReconcileInput, outcomes: dict[str, PullOutcome], partition: Partition | None = None
    ) -> tuple[list[Finding], list[Plan], int]:
        """Every key of a spilled products or prices run, read back from the store in key order and
        reconciled page by page (``reconcile_keyed`` decides as ``reconcile_group`` would): the
        run holds one page of ``hub.memory_records`` records, not the catalogue.

        Every pull wrote what it read before this, so the store holds each connector's current
        records; a duplicated key is stored from an earlier run, and left out as the pull left it."""
        entity, source = job_input.entity, job_input.source
        readers = [source, *job_input.targets]
        skip = {(name, key) for name, outcome in outcomes.items() for key in outcome.duplicates}
        rows = self.store.observations.iter_keyed(readers, entity.value, partition)
        size = max(1, self.memory_records // len(readers))
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

    def _groups(
        self,
        entity: Entity,
        outcomes: dict[str, PullOutcome],
        groups: set[str] | None,
        partition: Partition | None = None,
    ) -> Iterator[tuple[str, dict[str, list[Record]]]]:
        """The groups to reconcile with their records by connector: from memory when the run holds
        them, else streamed from the store in group order (a pull that outgrew the memory budget)."""
        if not any(outcome.spilled for outcome in outcomes.values()):
            yield from self._records(entity, outcomes, groups).items()
            return
        model = ENTITY_MODELS[entity]
        duplicates = {(name, key) for name, outcome in outcomes.items() for key in outcome.duplicates}
        for grp, rows in self.store.observations.iter_groups(list(outcomes), entity.value, groups, partition):
            by_connector: dict[str, list[Record]] = {}
            for name, key, data in rows:
                if (name, key) not in duplicates and (record := stored_record(model, outcomes[name], key, data)):
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
        for conn_name, outcome in outcomes.items():
            _held_records(records, entity, conn_name, outcome, groups)
            if outcome.all_in_memory:
                continue
            skip = outcome.changed.keys() | outcome.deleted | outcome.duplicates.keys()
            rows = (
                self.store.observations.iter_records(conn_name, entity.value)
                if groups is None
                else self.store.observations.fetch(conn_name, entity.value, groups)
            )
            for key, grp, data in rows:
                if key not in skip and (record := stored_record(model, outcome, key, data)):
                    records.setdefault(grp, {}).setdefault(conn_name, []).append(record)
        return records


def _held_records(
    records: dict[str, dict[str, list[Record]]],
    entity: Entity,
    conn_name: str,
    outcome: PullOutcome,
    groups: set[str] | None,
) -> None:
    """Add the records a pull holds in memory to ``records`` (group -> connector -> records)."""
    stock = entity is Entity.stock
    if groups is None and not stock:
        # The first sync's shape: every record, one per key and connector (duplicates
        # were taken out), its key its group.
        for key, record in outcome.changed.items():
            group = records.get(key)
            if group is None:
                records[key] = {conn_name: [record]}
            else:
                group[conn_name] = [record]
        return
    for key, record in outcome.changed.items():
        grp = key.split("@", 1)[0] if stock else key  # group_of, inlined: once per record
        if groups is None or grp in groups:
            records.setdefault(grp, {}).setdefault(conn_name, []).append(record)


def record_findings(
    store: Store,
    job: str,
    entity: Entity,
    findings: list[Finding],
    groups: set[str] | None,
    report: JobReport,
    now: datetime,
    partition: Partition | None = None,
) -> None:
    """Save the run's findings as mismatches: new ones opened, ones no longer found resolved (only
    within ``groups``: a group not decided keeps its mismatches), every open one seen now. With
    ``partition``, only within that partition's groups (the other partitions decide the rest)."""
    store.mismatches.touch_open(job, now)
    previous = store.mismatches.open(job, groups)
    if partition is not None:
        previous = {k: row for k, row in previous.items() if partition.holds(row["grp"])}
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
    store.mismatches.save(job, entity.value, list(found.values()), gone, now)
