"""The reconciler: a pure function from observed records to findings and planned changes.

No I/O here. For one *group* (a SKU, or a customer's e-mail) it takes what the source of truth
and every target show, derives what each target *should* show (channel rules: safety stock,
location mapping, price markup and ending, tolerances; customer merge rules), and returns every
difference as a ``Finding`` and, per target record, the ``Plan`` that would correct it.

This module is the reconciler's one entry (``reconcile_group``) and decides stock and customers;
products and prices are decided key by key in ``hub.sync.keyed``; the types and the comparison of
one record are in ``hub.sync.findings``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.config.models import ChannelRules, MergeRule
from hub.model.base import Consent, Entity, Record
from hub.model.catalogue import StockLevel
from hub.model.customers import Customer
from hub.sync.findings import (
    MISSING,
    NO_RULES,
    PRESENCE,
    PRESENT,
    Finding,
    Plan,
    ReconcileInput,
    as_text,
    compare,
    copy_with,
    group_of,
    same,
)
from hub.sync.keyed import by_key, channel_price, reconcile_keyed

__all__ = [
    "MISSING",
    "PRESENCE",
    "PRESENT",
    "Finding",
    "Plan",
    "ReconcileInput",
    "as_text",
    "channel_price",
    "group_of",
    "merge_customers",
    "reconcile_group",
    "reconcile_keyed",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    return by_key(job, grp, records)


# ------------------------------------------------------------------ stock


def _stock(job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]):  # type: ignore[no-untyped-def]
    truth: dict[str, StockLevel] = {r.location: r for r in records.get(job.source, ()) if isinstance(r, StockLevel)}
    fed = job.truth_locations
    findings: list[Finding] = []
    plans: list[Plan] = []
    compared = 0
    reserved = job.reserved.get(grp)
    held = reserved.at if reserved is not None else _nothing_held
    for connector in job.targets:
        rules = job.rules.get(connector) or NO_RULES
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
            golden = max(0, sum(level.available for level in known) - held(sources) - rules.safety_stock)
            expected_record = copy_with(actual, {"available": golden, "on_hand": None, "in_stock": None})
            f, plan = compare(job, grp, connector, {"available": golden}, actual, expected_record, rules)
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
            findings += _stock_missing(job, grp, connector, rules, truth, shown, held)
    return findings, plans, compared


def _nothing_held(sources: Sequence[str]) -> int:
    return 0


def _stock_missing(
    job: ReconcileInput,
    grp: str,
    connector: str,
    rules: ChannelRules,
    truth: Mapping[str, StockLevel],
    shown: set[str],
    held: Callable[[Sequence[str]], int],
) -> list[Finding]:
    """The locations of a channel where the truth has units of this SKU to sell but the channel
    does not list the SKU at all. A location the truth would give nothing (no units after the
    safety stock) is not missing anything a customer could buy."""
    out = []
    for location in sorted(job.target_locations.get(connector, frozenset()) - shown):
        sources = rules.locations.get(location, [location])
        units = sum(truth[loc].available for loc in sources if loc in truth) - held(sources) - rules.safety_stock
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
        f, plan = compare(job, grp, connector, expected, actual, same(golden))
        findings += f
        if plan:
            plans.append(plan)
    return findings, plans, compared
