"""Products and prices: each target record against the truth's record of the same key.

``by_key`` decides one group (one key) as ``reconcile_group`` asks; ``reconcile_keyed`` decides a
whole catalogue held in memory, target by target, without building a group per key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from hub.config.models import ChannelRules
from hub.model.base import Entity, Record
from hub.model.catalogue import Price, Product
from hub.model.currencies import minor_units
from hub.sync.findings import NO_RULES, Finding, Plan, ReconcileInput, compare, copy_with, differs, same

__all__ = ["by_key", "channel_price", "reconcile_keyed"]


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


def by_key(job: ReconcileInput, grp: str, records: Mapping[str, Sequence[Record]]):  # type: ignore[no-untyped-def]
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
        rules = job.rules.get(connector) or NO_RULES
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
        rules = job.rules.get(connector) or NO_RULES
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
        record = copy_with(golden, expected)
    else:
        assert isinstance(golden, Product)
        expected = golden.compared()
        record = same(golden)
    found, plan = compare(job, grp, connector, expected, actual, record, rules)
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
    if not differs(job.entity, "amount", want, actual.effective, rules):
        return plan
    findings.append(Finding(actual.key, grp, connector, "effective", want, actual.effective))
    if plan is None:
        previous = {name: getattr(actual, name) for name in job.fields[connector]}
        previous["effective"] = actual.effective
        return Plan(connector, actual.key, grp, {"amount": want, "effective": want}, previous, record())
    plan.values.update({"amount": want, "effective": want})
    return plan
