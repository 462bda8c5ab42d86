"""What the reconciler works with and says: its input, its findings and plans, and the comparison
of one target record with what it should be (shared by every entity's reconciliation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from hub.config.models import ChannelRules, MergeRule
from hub.model.base import Entity, Record

__all__ = [
    "MISSING",
    "NO_RULES",
    "PRESENCE",
    "PRESENT",
    "Finding",
    "Plan",
    "ReconcileInput",
    "as_text",
    "compare",
    "copy_with",
    "differs",
    "group_of",
    "same",
]

#: Built once: a target without rules is the common case, and building one per record costs.
NO_RULES = ChannelRules()
#: The field of a finding about a whole record: one side has the key, the other does not.
PRESENCE = "presence"
PRESENT = "present"
MISSING = "missing"


def group_of(entity: Entity, key: str) -> str:
    """What records are reconciled together: a SKU's stock at every location, else one key."""
    return key.split("@", 1)[0] if entity is Entity.stock else key


def as_text(value: Any) -> str | None:
    """A canonical value as the string mismatches and plans show."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (tuple, list)):
        return ",".join(as_text(v) or "" for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True, slots=True)
class Finding:
    """One field of one record on one channel that differs from what it should be."""

    key: str
    grp: str
    connector: str
    field: str
    expected: Any
    actual: Any


@dataclass(slots=True)
class Plan:
    """The correction of one target record: fields to set, what was seen, the whole expected record."""

    connector: str
    key: str
    grp: str
    values: dict[str, Any]
    previous: dict[str, Any]
    record: Record | None
    create: bool = False


@dataclass
class ReconcileInput:
    """Everything the reconciler needs for one job, independent of how it was loaded."""

    entity: Entity
    source: str
    targets: Sequence[str]
    rules: Mapping[str, ChannelRules]
    #: Per target, the canonical fields compared (what its mapping covers, narrowed by the job).
    fields: Mapping[str, Sequence[str]]
    merge: Mapping[str, MergeRule] = field(default_factory=dict)
    #: Extra read-only connectors that feed the golden customer (consent can change anywhere).
    sources: Sequence[str] = ()
    #: Stock only: every location the truth reports stock at (for any SKU). A target location fed
    #: by none of them is a configuration gap (the job says so), not a SKU missing from the truth.
    #: ``None``: not known, every location counts as fed.
    truth_locations: frozenset[str] | None = None
    #: Stock only: per target, the canonical locations it sells at. A target not named here is
    #: never told it lacks a SKU (nobody knows where it would keep it).
    target_locations: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Per connector, keys it has but could not read this run (quarantined: invalid, duplicated).
    #: Such a key is not missing: the quarantine says what is wrong with it.
    unreadable: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Stock only: what the job's reservation ledger holds, by SKU (``hub.sync.orders.Reserved``:
    #: ``.at(truth locations)`` answers the units reserved there). Empty: nothing is reserved.
    reserved: Mapping[str, Any] = field(default_factory=dict)

    def missing(self, key: str, grp: str, connector: str, *, target_has: bool) -> list[Finding]:
        """The presence finding for a key one side lacks, unless the side lacking it does have it
        but could not read it."""
        lacking = self.source if target_has else connector
        if key in self.unreadable.get(lacking, ()):
            return []
        return [_presence(key, grp, connector, target_has=target_has)]


def _presence(key: str, grp: str, connector: str, *, target_has: bool) -> Finding:
    """A key one side has and the other lacks: the truth's key missing on a target, or a target's
    key the truth does not know. Reported, never corrected: creating or deleting products is a
    decision for people."""
    if target_has:
        return Finding(key, grp, connector, PRESENCE, MISSING, PRESENT)
    return Finding(key, grp, connector, PRESENCE, PRESENT, MISSING)


def differs(entity: Entity, name: str, expected: Any, actual: Any, rules: ChannelRules) -> bool:
    if expected == actual:
        return False
    if expected is None or actual is None:
        return True
    if entity is Entity.prices and name in ("amount", "compare_at"):
        return abs(Decimal(expected) - Decimal(actual)) > rules.price_tolerance
    if entity is Entity.stock and name == "available":
        return abs(int(expected) - int(actual)) > rules.stock_tolerance
    return True


def compare(
    job: ReconcileInput,
    grp: str,
    connector: str,
    expected: Mapping[str, Any],
    actual: Record,
    expected_record: Callable[[], Record] | None,
    rules: ChannelRules | None = None,
) -> tuple[list[Finding], Plan | None]:
    """The findings and the plan for one target record. Called once per record of every target:
    the common case (nothing differs) allocates nothing but the empty result."""
    rules = rules or job.rules.get(connector) or NO_RULES
    entity = job.entity
    skip_unknown = entity is Entity.customers  # nobody knows the value: never erase what a channel has
    findings: list[Finding] = []
    values: dict[str, Any] | None = None
    for name in job.fields[connector]:
        if name not in expected:
            continue
        want, have = expected[name], getattr(actual, name)
        if want == have or (want is None and skip_unknown):
            continue
        if differs(entity, name, want, have, rules):
            findings.append(Finding(actual.key, grp, connector, name, want, have))
            if values is None:
                values = {}
            values[name] = want
    if values is None:
        return findings, None
    # ``previous`` carries everything the channel showed, not only what changes: a connector needs
    # it to protect consent (never re-subscribe) and to compare-and-set stock.
    previous = {name: getattr(actual, name) for name in job.fields[connector]}
    record = expected_record() if expected_record is not None else None
    plan = Plan(connector, actual.key, grp, values, previous, record)
    return findings, plan


def same(record: Record) -> Callable[[], Record]:
    return lambda: record


def copy_with(record: Record, update: Mapping[str, Any]) -> Callable[[], Record]:
    return lambda: record.model_copy(update=dict(update))
