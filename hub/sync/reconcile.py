"""The reconciler: a pure function from observed records to findings and planned changes.

No I/O here. For one *group* (a SKU, or a customer's e-mail) it takes what the source of truth
and every target show, derives what each target *should* show (channel rules: safety stock,
location mapping, price markup and ending, tolerances; customer merge rules), and returns every
difference as a ``Finding`` and, per target record, the ``Plan`` that would correct it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

from hub.config.models import ChannelRules, MergeRule
from hub.model.base import Consent, Entity, Record
from hub.model.catalogue import Price, Product, StockLevel
from hub.model.currencies import minor_units
from hub.model.customers import Customer

__all__ = [
    "MISSING",
    "PRESENCE",
    "PRESENT",
    "Finding",
    "Plan",
    "ReconcileInput",
    "as_text",
    "group_of",
    "merge_customers",
    "reconcile_group",
    "reconcile_keyed",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Built once: a target without rules is the common case, and building one per record costs.
_NO_RULES = ChannelRules()
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


def reconcile_group(
    job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]
) -> tuple[list[Finding], list[Plan], int]:
    """Reconcile one group. ``records`` holds, per connector, its records of this group.

    Returns the findings (a key on one side only is a ``presence`` finding), the plans, and how
    many target records were compared with a golden one, so a run that compared nothing can say so.
    """
    if job.entity is Entity.stock:
        return _stock(job, grp, records)
    if job.entity is Entity.customers:
        return _customers(job, grp, records)
    return _by_key(job, grp, records)


# ------------------------------------------------------------------ comparison


def _differs(entity: Entity, name: str, expected: Any, actual: Any, rules: ChannelRules) -> bool:
    if expected == actual:
        return False
    if expected is None or actual is None:
        return True
    if entity is Entity.prices and name in ("amount", "compare_at"):
        return abs(Decimal(expected) - Decimal(actual)) > rules.price_tolerance
    if entity is Entity.stock and name == "available":
        return abs(int(expected) - int(actual)) > rules.stock_tolerance
    return True


def _compare(
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
    rules = rules or job.rules.get(connector) or _NO_RULES
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
        if _differs(entity, name, want, have, rules):
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


def _same(record: Record) -> Callable[[], Record]:
    return lambda: record


def _copy_with(record: Record, update: Mapping[str, Any]) -> Callable[[], Record]:
    return lambda: record.model_copy(update=dict(update))


# ------------------------------------------------------------------ products and prices


def channel_price(golden: Price, rules: ChannelRules) -> dict[str, Any]:
    """The price a channel should show: golden, plus markup, rounded up to the configured ending."""
    if not rules.markup_percent and rules.price_ending is None:  # most channels: the golden price
        return {"amount": golden.amount, "compare_at": golden.compare_at, "currency": golden.currency}
    step = Decimal(1).scaleb(-minor_units(golden.currency))  # a markup lands on the currency's cents
    return {
        "amount": _adjusted(golden.amount, rules, step),
        "compare_at": _adjusted(golden.compare_at, rules, step),
        "currency": golden.currency,
    }


def _adjusted(amount: Decimal | None, rules: ChannelRules, step: Decimal) -> Decimal | None:
    if amount is None:
        return None
    if rules.markup_percent:
        amount = (amount * (1 + rules.markup_percent / 100)).quantize(step, ROUND_HALF_UP)
    if rules.price_ending is not None:
        whole = amount.to_integral_value(ROUND_CEILING) if amount % 1 > rules.price_ending else amount // 1
        amount = Decimal(whole) + rules.price_ending
        if amount < 0:
            amount = Decimal(0)
    return amount


def _by_key(job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]):  # type: ignore[no-untyped-def]
    truth = records.get(job.source)
    golden = truth[0] if truth else None
    findings: list[Finding] = []
    plans: list[Plan] = []
    compared = 0
    for connector in job.targets:
        found = records.get(connector)
        if golden is None:
            for actual in found or ():
                findings += job.missing(actual.key, grp, connector, target_has=True)
            continue
        if not found:
            findings += job.missing(golden.key, grp, connector, target_has=False)
            continue
        rules = job.rules.get(connector) or _NO_RULES
        for actual in found:
            compared += 1
            _check_keyed(job, connector, rules, grp, golden, actual, findings, plans)
    return findings, plans, compared


def reconcile_keyed(
    job: ReconcileInput, truth: Mapping[str, Record], targets: Mapping[str, Mapping[str, Record]]
) -> tuple[list[Finding], list[Plan], int]:
    """Every target record of a keyed entity (products, prices) against the truth's record of the
    same key, target by target. What ``reconcile_group`` decides for each key, for a whole
    catalogue held in memory (a first sync): building a group per key would cost more than the
    comparisons. ``targets`` holds each target's records by key."""
    if job.entity not in (Entity.products, Entity.prices):
        raise ValueError(f"{job.entity.value} records are reconciled by group, not by key")
    findings: list[Finding] = []
    plans: list[Plan] = []
    compared = 0
    for connector in job.targets:
        rules = job.rules.get(connector) or _NO_RULES
        # A channel without price rules should show the golden record as it is: a record equal to
        # it field for field (one C-level comparison) needs nothing. Most records of a catalogue
        # are such; the others, and every record of a channel with rules, are checked in full.
        plain = job.entity is Entity.products or (not rules.markup_percent and rules.price_ending is None)
        held = targets.get(connector, {})
        matched = 0
        for key, actual in held.items():
            golden = truth.get(key)
            if golden is None:
                findings += job.missing(key, key, connector, target_has=True)
                continue
            matched += 1
            if not plain or actual.__dict__ != golden.__dict__:
                _check_keyed(job, connector, rules, key, golden, actual, findings, plans)
        if matched < len(truth):  # some of the truth's keys are not on this channel
            for key in truth:
                if key not in held:
                    findings += job.missing(key, key, connector, target_has=False)
        compared += matched
    return findings, plans, compared


def _check_keyed(
    job: ReconcileInput,
    connector: str,
    rules: ChannelRules,
    grp: str,
    golden: Record,
    actual: Record,
    findings: list[Finding],
    plans: list[Plan],
) -> None:
    """One target's record of a product or price against the golden record of its key."""
    if isinstance(golden, Price):
        expected = channel_price(golden, rules)
        if isinstance(actual, Price) and actual.currency != expected["currency"]:
            # 79 EUR against 79 USD is no match and 86 USD against 79 EUR no mismatch: amounts
            # in different currencies are not compared, and the difference is reported as such.
            findings.append(Finding(actual.key, grp, connector, "currency", expected["currency"], actual.currency))
            return
        record = _copy_with(golden, expected)
    else:
        assert isinstance(golden, Product)
        expected = golden.compared()
        record = _same(golden)
    found, plan = _compare(job, grp, connector, expected, actual, record, rules)
    if (
        isinstance(actual, Price)
        and actual.effective is not None
        and "amount" in job.fields[connector]
        and not any(f.field == "amount" for f in found)  # a new amount is written anyway
    ):
        plan = _check_effective(job, connector, rules, grp, expected, actual, record, found, plan)
    if found:
        findings += found
    if plan:
        plans.append(plan)


def _check_effective(
    job: ReconcileInput,
    connector: str,
    rules: ChannelRules,
    grp: str,
    expected: Mapping[str, Any],
    actual: Price,
    record: Callable[[], Record],
    findings: list[Finding],
    plan: Plan | None,
) -> Plan | None:
    """What the customer pays (the platform's derived price) against the amount it should be. A
    half-saved product shows the right ``amount`` and charges the old price: the finding names the
    effective price, and the plan writes the amount again so the platform derives it anew."""
    want = expected["amount"]
    if not _differs(job.entity, "amount", want, actual.effective, rules):
        return plan
    findings.append(Finding(actual.key, grp, connector, "effective", want, actual.effective))
    if plan is None:
        previous = {name: getattr(actual, name) for name in job.fields[connector]}
        previous["effective"] = actual.effective
        return Plan(connector, actual.key, grp, {"amount": want, "effective": want}, previous, record())
    plan.values.update({"amount": want, "effective": want})
    return plan


# ------------------------------------------------------------------ stock


def _stock(job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]):  # type: ignore[no-untyped-def]
    truth: dict[str, StockLevel] = {r.location: r for r in records.get(job.source, ()) if isinstance(r, StockLevel)}
    fed = job.truth_locations
    findings: list[Finding] = []
    plans: list[Plan] = []
    compared = 0
    for connector in job.targets:
        rules = job.rules.get(connector) or _NO_RULES
        shown: set[str] = set()
        for actual in records.get(connector, ()):
            assert isinstance(actual, StockLevel)
            shown.add(actual.location)
            sources = rules.locations.get(actual.location, [actual.location])
            known = [truth[loc] for loc in sources if loc in truth]
            if not known:
                # The truth has no stock for this SKU where this channel sells from. Assuming zero
                # would empty a shop on a config slip, so nothing is written; if the truth keeps
                # stock at those locations for other SKUs, this one is a SKU it does not know here.
                # (A location the truth never reports is a configuration gap the job reports.)
                if fed is None or not fed.isdisjoint(sources):
                    findings += job.missing(actual.key, grp, connector, target_has=True)
                continue
            compared += 1
            golden = max(0, sum(level.available for level in known) - rules.safety_stock)
            expected_record = _copy_with(actual, {"available": golden, "on_hand": None, "in_stock": None})
            f, plan = _compare(job, grp, connector, {"available": golden}, actual, expected_record, rules)
            if not f and actual.in_stock is not None and actual.in_stock != (golden > 0):
                # The right quantity, and an in-stock flag that contradicts it (a half-saved item):
                # writing the quantity again makes the platform derive the flag anew.
                f.append(Finding(actual.key, grp, connector, "in_stock", golden > 0, actual.in_stock))
                values = {"available": golden, "in_stock": golden > 0}
                previous = {"available": actual.available, "in_stock": actual.in_stock}
                plan = Plan(connector, actual.key, grp, values, previous, expected_record())
            findings += f
            if plan:
                plans.append(plan)
        if truth:
            findings += _stock_missing(job, grp, connector, rules, truth, shown)
    return findings, plans, compared


def _stock_missing(
    job: ReconcileInput,
    grp: str,
    connector: str,
    rules: ChannelRules,
    truth: Mapping[str, StockLevel],
    shown: set[str],
) -> list[Finding]:
    """The locations of a channel where the truth has units of this SKU to sell but the channel
    does not list the SKU at all. A location the truth would give nothing (no units after the
    safety stock) is not missing anything a customer could buy."""
    out = []
    for location in sorted(job.target_locations.get(connector, frozenset()) - shown):
        sources = rules.locations.get(location, [location])
        units = sum(truth[loc].available for loc in sources if loc in truth) - rules.safety_stock
        if units > 0:
            out += job.missing(f"{grp}@{location}", grp, connector, target_has=False)
    return out


# ------------------------------------------------------------------ customers


def _consent_time(record: Customer) -> datetime:
    return record.consent_updated_at or _EPOCH


def merge_customers(
    records: Mapping[str, Customer], source: str, rules: Mapping[str, MergeRule] | None = None
) -> Customer:
    """The golden customer from every connector's record of one e-mail.

    Profile fields come from the source of truth, else from the most recently updated record
    that has them (``newest``); ``email_marketing`` is ``most_restrictive`` unless configured
    otherwise: an unsubscribe anywhere wins over any subscribe that is not strictly newer.
    """
    rules = dict(rules or {})
    everyone = list(records.values())
    by_recency = sorted(everyone, key=lambda r: r.updated_at or _EPOCH, reverse=True)
    truth = records.get(source)
    golden: dict[str, Any] = {"email": everyone[0].email}
    for name in ("first_name", "last_name", "phone", "tags", "loyalty_points", "addresses"):
        rule = rules.get(name, "truth")
        candidates = by_recency if rule == "newest" or truth is None else [truth, *by_recency]
        for candidate in candidates:
            value = getattr(candidate, name)
            if value not in (None, (), ""):
                golden[name] = value
                break
    consent_rule = rules.get("email_marketing", "most_restrictive")
    if consent_rule == "truth" and truth is not None:
        golden["email_marketing"], golden["consent_updated_at"] = truth.email_marketing, truth.consent_updated_at
    elif consent_rule == "newest":
        explicit = [r for r in everyone if r.email_marketing is not Consent.never] or everyone
        newest = max(explicit, key=_consent_time)
        golden["email_marketing"], golden["consent_updated_at"] = newest.email_marketing, newest.consent_updated_at
    else:
        golden["email_marketing"], golden["consent_updated_at"] = _most_restrictive(everyone)
    golden["updated_at"] = max((r.updated_at for r in everyone if r.updated_at), default=None)
    return Customer.model_validate(golden)


def _most_restrictive(records: Iterable[Customer]) -> tuple[Consent, datetime | None]:
    unsubscribed = [r for r in records if r.email_marketing is Consent.unsubscribed]
    subscribed = [r for r in records if r.email_marketing is Consent.subscribed]
    last_unsub = max(unsubscribed, key=_consent_time, default=None)
    last_sub = max(subscribed, key=_consent_time, default=None)
    if last_unsub is not None and (last_sub is None or _consent_time(last_sub) <= _consent_time(last_unsub)):
        return Consent.unsubscribed, last_unsub.consent_updated_at
    if last_sub is not None:
        return Consent.subscribed, last_sub.consent_updated_at
    return Consent.never, None


def _customers(job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]):  # type: ignore[no-untyped-def]
    present: dict[str, Customer] = {}
    for connector in dict.fromkeys((job.source, *job.sources, *job.targets)):
        found = records.get(connector, ())
        if found:
            record = found[0]
            assert isinstance(record, Customer)
            present[connector] = record
    findings: list[Finding] = []
    plans: list[Plan] = []
    known_to_truth = job.source in present or any(s in present for s in job.sources)
    if not known_to_truth:
        for target in job.targets:
            if target in present:
                findings += job.missing(grp, grp, target, target_has=True)
        return findings, plans, 0
    golden = merge_customers(present, job.source, job.merge)
    expected = golden.compared()
    compared = 0
    for connector in job.targets:
        actual = present.get(connector)
        if actual is None:
            # Customers are created where the job writes them (the plan), so the finding closes
            # once the channel confirms the new record.
            values = {k: v for k, v in expected.items() if k in job.fields[connector] and v not in (None, ())}
            if connector in job.unreadable and golden.key in job.unreadable[connector]:
                continue  # there, but unreadable: creating a second one would make it worse
            findings += job.missing(golden.key, grp, connector, target_has=False)
            plans.append(Plan(connector, golden.key, grp, values, {}, golden, create=True))
            continue
        compared += 1
        f, plan = _compare(job, grp, connector, expected, actual, _same(golden))
        findings += f
        if plan:
            plans.append(plan)
    return findings, plans, compared
