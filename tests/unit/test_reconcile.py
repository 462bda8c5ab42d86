"""The pure reconciler: channel rules for prices and stock, products, and the golden customer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config.models import ChannelRules
from hub.model.base import Consent, Entity, Record
from hub.model.catalogue import Price, Product, StockLevel
from hub.model.customers import Customer
from hub.sync.reconcile import (
    ReconcileInput,
    as_text,
    channel_price,
    group_of,
    merge_customers,
    reconcile_group,
    reconcile_keyed,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _job(
    entity: Entity,
    targets: Sequence[str] = ("web",),
    rules: Mapping[str, ChannelRules] | None = None,
    fields: Sequence[str] | None = None,
    source: str = "truth",
    **kwargs: Any,
) -> ReconcileInput:
    from hub.model.records import ENTITY_MODELS

    compared = list(fields or ENTITY_MODELS[entity].compared_fields)
    return ReconcileInput(
        entity=entity,
        source=source,
        targets=list(targets),
        rules=dict(rules or {}),
        fields={t: compared for t in targets},
        **kwargs,
    )


def _price(amount: str, compare_at: str | None = None, sku: str = "A") -> Price:
    return Price(sku=sku, amount=amount, compare_at=compare_at)


# ------------------------------------------------------------------ helpers


def test_group_of_and_as_text() -> None:
    assert group_of(Entity.stock, "SKU-1@milano@x") == "SKU-1"
    assert group_of(Entity.prices, "SKU-1") == "SKU-1"
    assert group_of(Entity.customers, "a@example.com") == "a@example.com"
    assert as_text(None) is None
    assert as_text(Consent.unsubscribed) == "unsubscribed"
    assert as_text(("a", "b")) == "a,b"
    assert as_text(Decimal("79.90")) == "79.90"
    assert as_text(T0) == "2024-05-01T12:00:00+00:00"


# ------------------------------------------------------------------ prices


def test_equal_prices_give_nothing_and_count_one_comparison() -> None:
    findings, plans, compared = reconcile_group(
        _job(Entity.prices), "A", {"truth": [_price("10.00")], "web": [_price("10.0")]}
    )
    assert (findings, plans, compared) == ([], [], 1)


def test_price_difference_is_a_finding_and_a_plan() -> None:
    findings, plans, _ = reconcile_group(
        _job(Entity.prices), "A", {"truth": [_price("10.00", "12.00")], "web": [_price("9.00", "12.00")]}
    )
    [finding] = findings
    assert (finding.key, finding.grp, finding.connector, finding.field) == ("A", "A", "web", "amount")
    assert (finding.expected, finding.actual) == (Decimal("10.00"), Decimal("9.00"))
    [plan] = plans
    assert plan.values == {"amount": Decimal("10.00")}
    assert plan.previous == {"amount": Decimal("9.00"), "compare_at": Decimal("12.00")}
    assert plan.record == _price("10.00", "12.00")
    assert plan.create is False


def test_removed_compare_at_is_planned_as_none() -> None:
    findings, plans, _ = reconcile_group(
        _job(Entity.prices), "A", {"truth": [_price("10.00")], "web": [_price("10.00", "15.00")]}
    )
    assert [(f.field, f.expected, f.actual) for f in findings] == [("compare_at", None, Decimal("15.00"))]
    assert plans[0].values == {"compare_at": None}


def test_markup_and_price_ending() -> None:
    rules = ChannelRules(markup_percent=Decimal(10), price_ending=Decimal("0.90"))
    golden = channel_price(_price("19.99", "30.00"), rules)
    assert golden["amount"] == Decimal("22.90")  # 21.989 -> 21.99 -> up to .90 -> 22.90
    assert golden["compare_at"] == Decimal("33.90")  # 33.00 -> 33.90
    job = _job(Entity.prices, rules={"web": rules})
    findings, plans, _ = reconcile_group(
        job, "A", {"truth": [_price("19.99", "30.00")], "web": [_price("22.90", "33.90")]}
    )
    assert findings == [] and plans == []  # an intended difference is not a mismatch
    findings, plans, _ = reconcile_group(
        job, "A", {"truth": [_price("19.99", "30.00")], "web": [_price("21.99", "33.90")]}
    )
    assert [(f.field, f.expected) for f in findings] == [("amount", Decimal("22.90"))]
    assert plans[0].record == Price(sku="A", amount=Decimal("22.90"), compare_at=Decimal("33.90"))


@pytest.mark.parametrize(
    ("amount", "markup", "ending", "expected"),
    [
        ("10.00", "0", None, "10.00"),
        ("10.00", "10", None, "11.00"),
        ("9.99", "15", None, "11.49"),  # 11.4885 rounds half up to 11.49
        ("21.50", "0", "0.90", "21.90"),
        ("21.90", "0", "0.90", "21.90"),  # already there
        ("21.95", "0", "0.90", "22.90"),
        ("22.00", "0", "0.90", "22.90"),
        ("10.01", "0", "0.00", "11.00"),
        ("10.00", "0", "0.00", "10.00"),
        ("9.99", "0", "0.98", "10.98"),  # a fraction one cent above the ending goes to the next whole
    ],
)
def test_channel_price_table(amount: str, markup: str, ending: str | None, expected: str) -> None:
    rules = ChannelRules(markup_percent=Decimal(markup), price_ending=None if ending is None else Decimal(ending))
    assert channel_price(_price(amount), rules)["amount"] == Decimal(expected)


@given(
    st.decimals(min_value=0, max_value=100000, places=2),
    st.decimals(min_value=0, max_value=100, places=1),
    st.integers(min_value=0, max_value=99).map(lambda c: Decimal(c) / 100),
)
def test_price_ending_rounds_up_to_the_ending(amount: Decimal, markup: Decimal, ending: Decimal) -> None:
    marked = channel_price(_price(str(amount)), ChannelRules(markup_percent=markup))["amount"]
    result = channel_price(_price(str(amount)), ChannelRules(markup_percent=markup, price_ending=ending))["amount"]
    assert result % 1 == ending
    assert marked <= result < marked + 1
    assert result >= 0
    # applying the rule to a price that already has the ending changes nothing
    assert channel_price(_price(str(result)), ChannelRules(price_ending=ending))["amount"] == result


def test_price_tolerance() -> None:
    job = _job(Entity.prices, rules={"web": ChannelRules(price_tolerance=Decimal("0.05"))})
    assert reconcile_group(job, "A", {"truth": [_price("10.00")], "web": [_price("10.05")]})[0] == []
    assert reconcile_group(job, "A", {"truth": [_price("10.00")], "web": [_price("9.95")]})[0] == []
    findings = reconcile_group(job, "A", {"truth": [_price("10.00")], "web": [_price("10.06")]})[0]
    assert [f.field for f in findings] == ["amount"]
    # tolerance does not hide a missing value
    assert [f.field for f in reconcile_group(job, "A", {"truth": [_price("1", "2")], "web": [_price("1")]})[0]] == [
        "compare_at"
    ]


def test_a_sku_the_truth_does_not_know_is_a_presence_finding_on_each_channel_that_has_it() -> None:
    findings, plans, compared = reconcile_group(
        _job(Entity.prices, targets=["web", "shop"]), "A", {"web": [_price("1")], "shop": [_price("2")]}
    )
    assert [(f.key, f.connector, f.field, f.expected, f.actual) for f in findings] == [
        ("A", "web", "presence", "missing", "present"),
        ("A", "shop", "presence", "missing", "present"),
    ]
    assert (plans, compared) == ([], 0)  # reported, never deleted


def test_a_sku_missing_from_a_channel_is_a_presence_finding_and_nothing_is_created() -> None:
    findings, plans, compared = reconcile_group(
        _job(Entity.products, targets=["web", "shop"]),
        "A",
        {"truth": [Product(sku="A", title="Jacket")], "shop": [Product(sku="A", title="Jacket")]},
    )
    assert [(f.key, f.connector, f.field, f.expected, f.actual) for f in findings] == [
        ("A", "web", "presence", "present", "missing")
    ]
    assert (plans, compared) == ([], 1)


def test_only_the_configured_fields_are_compared() -> None:
    job = _job(Entity.prices, fields=["amount"])
    findings, _, _ = reconcile_group(job, "A", {"truth": [_price("1", "5")], "web": [_price("1", "9")]})
    assert findings == []


# ------------------------------------------------------------------ products


def test_products_compare_title_barcode_status() -> None:
    truth = Product(sku="A", title="Shirt", barcode="8001234567890", status="active", group="shirts")
    web = Product(sku="A", title="Shirt (old)", barcode="8001234567890", status="draft", group="other")
    findings, plans, _ = reconcile_group(_job(Entity.products), "A", {"truth": [truth], "web": [web]})
    assert sorted((f.field, f.expected, f.actual) for f in findings) == [
        ("status", "active", "draft"),
        ("title", "Shirt", "Shirt (old)"),
    ]
    assert plans[0].values == {"title": "Shirt", "status": "active"}
    assert plans[0].record is truth


# ------------------------------------------------------------------ stock


def _level(location: str, available: int, sku: str = "S") -> StockLevel:
    return StockLevel(sku=sku, location=location, available=available)


def test_stock_same_location_code_by_default() -> None:
    findings, plans, compared = reconcile_group(
        _job(Entity.stock, targets=["shop"]),
        "S",
        {"truth": [_level("milano", 7), _level("roma", 1)], "shop": [_level("milano", 5)]},
    )
    [finding] = findings
    assert (finding.key, finding.field, finding.expected, finding.actual) == ("S@milano", "available", 7, 5)
    [plan] = plans
    assert plan.values == {"available": 7}
    assert plan.previous == {"available": 5}  # what compare-and-set needs
    assert isinstance(plan.record, StockLevel)
    assert (plan.record.key, plan.record.available, plan.record.on_hand) == ("S@milano", 7, None)
    assert compared == 1


def test_stock_location_mapping_sums_several_truth_locations_and_holds_back_safety_stock() -> None:
    rules = ChannelRules(locations={"web-warehouse": ["milano", "roma", "napoli"]}, safety_stock=2)
    job = _job(Entity.stock, targets=["web"], rules={"web": rules})
    records = {
        "truth": [_level("milano", 4), _level("roma", 3), _level("torino", 100)],  # napoli unknown: not counted
        "web": [_level("web-warehouse", 0)],
    }
    findings, plans, _ = reconcile_group(job, "S", records)
    assert [(f.key, f.expected, f.actual) for f in findings] == [("S@web-warehouse", 5, 0)]  # 4 + 3 - 2
    assert plans[0].values == {"available": 5}


@given(st.lists(st.integers(min_value=-5, max_value=50), min_size=1, max_size=4), st.integers(0, 60))
def test_safety_stock_never_goes_below_zero(quantities: list[int], safety: int) -> None:
    locations = [f"l{i}" for i in range(len(quantities))]
    rules = ChannelRules(locations={"web": locations}, safety_stock=safety)
    job = _job(Entity.stock, targets=["web"], rules={"web": rules})
    truth = [_level(loc, q) for loc, q in zip(locations, quantities, strict=True)]
    findings, _, _ = reconcile_group(job, "S", {"truth": truth, "web": [_level("web", -1)]})
    [finding] = findings
    assert finding.expected == max(0, sum(quantities) - safety)
    assert finding.expected >= 0


def test_stock_the_truth_lacks_at_a_channel_location_is_reported_never_zeroed() -> None:
    job = _job(Entity.stock, targets=["shop", "web"], rules={"web": ChannelRules(locations={"web": ["milano"]})})
    findings, plans, compared = reconcile_group(
        job, "S", {"truth": [_level("roma", 3)], "shop": [_level("torino", 1)], "web": [_level("web", 9)]}
    )
    # never assume zero (that would empty a shop): the channels' rows are keys the truth does not know
    assert [(f.key, f.connector, f.expected, f.actual) for f in findings] == [
        ("S@torino", "shop", "missing", "present"),
        ("S@web", "web", "missing", "present"),
    ]
    assert (plans, compared) == ([], 0)
    assert reconcile_group(job, "S", {"shop": [_level("roma", 1)]})[2] == 0


def test_stock_at_a_location_the_truth_never_reports_is_a_config_gap_not_a_presence_finding() -> None:
    job = _job(Entity.stock, targets=["shop"])
    job.truth_locations = frozenset({"main-wh"})
    findings, plans, compared = reconcile_group(job, "S", {"truth": [_level("main-wh", 3)], "shop": [_level("x", 1)]})
    assert (findings, plans, compared) == ([], [], 0)  # the job names the unmapped location instead


def test_stock_missing_from_a_channel_location_the_truth_feeds() -> None:
    rules = ChannelRules(locations={"web-warehouse": ["main-wh", "north-wh"]}, safety_stock=2)
    job = _job(Entity.stock, targets=["shop", "web"], rules={"web": rules})
    job.target_locations = {"shop": frozenset({"main-wh", "milano"}), "web": frozenset({"web-warehouse"})}
    truth = [_level("main-wh", 3), _level("north-wh", 0)]
    findings, _, compared = reconcile_group(job, "S", {"truth": truth, "shop": [_level("milano", 0)]})
    # shop lists S at milano only, while main-wh holds 3: missing there; web would get 3 - 2 = 1: missing too
    assert [(f.key, f.connector, f.field, f.expected, f.actual) for f in findings] == [
        ("S@milano", "shop", "presence", "missing", "present"),
        ("S@main-wh", "shop", "presence", "present", "missing"),
        ("S@web-warehouse", "web", "presence", "present", "missing"),
    ]
    assert compared == 0
    # nothing to sell after the safety stock: a channel not listing the SKU misses nothing
    findings, _, _ = reconcile_group(job, "S", {"truth": [_level("main-wh", 2)], "shop": [_level("main-wh", 2)]})
    assert findings == []


def test_stock_tolerance() -> None:
    job = _job(Entity.stock, targets=["shop"], rules={"shop": ChannelRules(stock_tolerance=2)})
    assert reconcile_group(job, "S", {"truth": [_level("m", 10)], "shop": [_level("m", 8)]})[0] == []
    assert len(reconcile_group(job, "S", {"truth": [_level("m", 10)], "shop": [_level("m", 7)]})[0]) == 1


# ------------------------------------------------------------------ customers: merge


def _customer(**kwargs: Any) -> Customer:
    return Customer(email=kwargs.pop("email", "ann@example.com"), **kwargs)


def test_profile_from_the_truth_first_then_the_newest() -> None:
    records = {
        "crm": _customer(first_name="Ann", phone=None, updated_at=T0 - timedelta(days=10)),
        "shop": _customer(first_name="Annie", phone="+391111111", last_name="Old", updated_at=T0 - timedelta(days=5)),
        "news": _customer(first_name="A.", phone="+392222222", updated_at=T0),
    }
    golden = merge_customers(records, "crm")
    assert golden.first_name == "Ann"  # the truth has it
    assert golden.phone == "+392222222"  # the truth lacks it: the newest record that has it
    assert golden.last_name == "Old"
    assert golden.updated_at == T0
    newest = merge_customers(records, "crm", {"first_name": "newest"})
    assert newest.first_name == "A."


def test_merge_without_the_truth_uses_the_newest() -> None:
    records = {
        "shop": _customer(first_name="Old", updated_at=T0),
        "news": _customer(first_name="New", updated_at=T0 + timedelta(1)),
    }
    assert merge_customers(records, "crm").first_name == "New"


def _consents(*items: tuple[str, Consent, datetime | None]) -> dict[str, Customer]:
    return {name: _customer(email_marketing=consent, consent_updated_at=when) for name, consent, when in items}


def test_unsubscribe_wins_over_an_older_or_equally_old_subscribe() -> None:
    older = _consents(("crm", Consent.subscribed, T0 - timedelta(hours=1)), ("news", Consent.unsubscribed, T0))
    assert merge_customers(older, "crm").email_marketing is Consent.unsubscribed
    same = _consents(("crm", Consent.subscribed, T0), ("news", Consent.unsubscribed, T0))
    golden = merge_customers(same, "crm")
    assert (golden.email_marketing, golden.consent_updated_at) == (Consent.unsubscribed, T0)
    unknown_times = _consents(("crm", Consent.subscribed, None), ("news", Consent.unsubscribed, None))
    assert merge_customers(unknown_times, "crm").email_marketing is Consent.unsubscribed


def test_a_strictly_newer_subscribe_wins() -> None:
    records = _consents(
        ("crm", Consent.unsubscribed, T0),
        ("news", Consent.subscribed, T0 + timedelta(seconds=1)),
        ("shop", Consent.never, T0 + timedelta(days=1)),
    )
    golden = merge_customers(records, "crm")
    assert (golden.email_marketing, golden.consent_updated_at) == (Consent.subscribed, T0 + timedelta(seconds=1))


def test_never_only_when_nobody_has_explicit_consent() -> None:
    assert merge_customers(
        _consents(("crm", Consent.never, T0), ("news", Consent.never, None)), "crm"
    ).email_marketing is (Consent.never)
    late_never = _consents(("crm", Consent.subscribed, T0), ("news", Consent.never, T0 + timedelta(days=9)))
    assert merge_customers(late_never, "crm").email_marketing is Consent.subscribed


def test_consent_rules_truth_and_newest() -> None:
    records = _consents(
        ("crm", Consent.subscribed, T0 - timedelta(days=2)),
        ("news", Consent.unsubscribed, T0 - timedelta(days=1)),
        ("shop", Consent.never, T0),
    )
    assert merge_customers(records, "crm", {"email_marketing": "truth"}).email_marketing is Consent.subscribed
    assert merge_customers(records, "crm", {"email_marketing": "newest"}).email_marketing is Consent.unsubscribed
    assert merge_customers(records, "crm").email_marketing is Consent.unsubscribed


_when = st.one_of(st.none(), st.integers(min_value=0, max_value=5).map(lambda h: T0 + timedelta(hours=h)))
_states = st.lists(st.tuples(st.sampled_from(list(Consent)), _when), min_size=1, max_size=5)


def _at(when: datetime | None) -> datetime:
    return when or datetime(1970, 1, 1, tzinfo=UTC)


@given(_states, st.integers(min_value=0, max_value=4))
def test_most_restrictive_consent_properties(states: list[tuple[Consent, datetime | None]], truth_index: int) -> None:
    records = {f"c{i}": _customer(email_marketing=c, consent_updated_at=w) for i, (c, w) in enumerate(states)}
    source = f"c{truth_index}"
    golden = merge_customers(records, source).email_marketing
    unsubs = [_at(w) for c, w in states if c is Consent.unsubscribed]
    subs = [_at(w) for c, w in states if c is Consent.subscribed]
    if unsubs and not any(s > max(unsubs) for s in subs):
        assert golden is Consent.unsubscribed  # never overridden by an older or equally old subscribe
    elif subs:
        assert golden is Consent.subscribed  # a strictly newer subscribe (or no unsubscribe at all)
    else:
        assert golden is Consent.never
    # the answer does not depend on which connector is the truth or on the order of the records
    assert merge_customers(dict(reversed(list(records.items()))), "c0").email_marketing is golden


# ------------------------------------------------------------------ customers: reconcile


def _customer_job(targets: Sequence[str] = ("news", "shop"), **kwargs: Any) -> ReconcileInput:
    fields = ["first_name", "last_name", "phone", "email_marketing", "tags", "loyalty_points"]
    return _job(Entity.customers, targets=targets, fields=fields, source="crm", **kwargs)


def test_customers_unsubscribe_reaches_every_channel_including_the_truth() -> None:
    key = "ann@example.com"
    records: dict[str, Sequence[Record]] = {
        "crm": [_customer(first_name="Ann", email_marketing=Consent.subscribed, consent_updated_at=T0)],
        "news": [
            _customer(first_name="Ann", email_marketing=Consent.unsubscribed, consent_updated_at=T0 + timedelta(1))
        ],
        "shop": [_customer(first_name="Ann", email_marketing=Consent.subscribed, consent_updated_at=T0)],
    }
    job = _customer_job(targets=["news", "shop", "crm"])
    findings, plans, compared = reconcile_group(job, key, records)
    assert compared == 3
    assert sorted((f.connector, f.field, f.expected, f.actual) for f in findings) == [
        ("crm", "email_marketing", Consent.unsubscribed, Consent.subscribed),
        ("shop", "email_marketing", Consent.unsubscribed, Consent.subscribed),
    ]
    assert {p.connector: p.values for p in plans} == {
        "crm": {"email_marketing": Consent.unsubscribed},
        "shop": {"email_marketing": Consent.unsubscribed},
    }
    shop_plan = next(p for p in plans if p.connector == "shop")
    assert shop_plan.previous["email_marketing"] is Consent.subscribed
    assert isinstance(shop_plan.record, Customer)
    assert shop_plan.record.email_marketing is Consent.unsubscribed


def test_customers_missing_in_a_target_are_created() -> None:
    crm = _customer(first_name="Ann", last_name=None, email_marketing=Consent.subscribed, consent_updated_at=T0)
    findings, plans, _ = reconcile_group(_customer_job(), "ann@example.com", {"crm": [crm], "shop": [crm]})
    assert [(f.connector, f.field, f.expected, f.actual) for f in findings] == [
        ("news", "presence", "present", "missing")
    ]
    [plan] = plans
    assert plan.create is True
    assert plan.connector == "news"
    assert plan.values == {"first_name": "Ann", "email_marketing": Consent.subscribed}  # no None, no empty tags
    assert plan.previous == {}
    assert isinstance(plan.record, Customer)
    assert plan.record.key == "ann@example.com"


def test_customer_values_are_never_erased_when_the_golden_is_none() -> None:
    records: dict[str, Sequence[Record]] = {
        "crm": [_customer(first_name="Ann", loyalty_points=None, tags=())],
        "shop": [_customer(first_name="Ann", loyalty_points=5, tags=("vip",))],
        "news": [_customer(first_name=None, loyalty_points=None)],
    }
    job = _customer_job(merge={"loyalty_points": "truth", "tags": "truth", "first_name": "truth"})
    findings, plans, _ = reconcile_group(job, "ann@example.com", records)
    assert all(f.connector != "shop" for f in findings)  # the shop keeps what only it knows
    assert all(f.expected is not None for f in findings)
    assert all(v is not None for p in plans for v in p.values.values())
    assert {p.connector: p.values for p in plans} == {
        "news": {"first_name": "Ann", "loyalty_points": 5, "tags": ("vip",)}
    }


def test_a_channel_value_is_kept_when_the_truth_has_none_for_it() -> None:
    records: dict[str, Sequence[Record]] = {
        "crm": [_customer(first_name="Ann", phone=None, updated_at=T0)],
        "shop": [_customer(first_name="Ann", phone="+393331234567", updated_at=T0 - timedelta(days=1))],
        "news": [_customer(first_name="Ann", phone=None)],
    }
    findings, plans, _ = reconcile_group(_customer_job(), "ann@example.com", records)
    # the golden phone comes from the shop (newest that has one), so news gets it; the shop keeps its own
    assert [(f.connector, f.field, f.expected, f.actual) for f in findings] == [
        ("news", "phone", "+393331234567", None)
    ]
    assert [p.connector for p in plans] == ["news"]


def test_customer_unknown_to_every_source_is_a_presence_finding_on_each_channel() -> None:
    records = {"news": [_customer()], "shop": [_customer()]}
    findings, plans, compared = reconcile_group(_customer_job(), "ann@example.com", records)
    assert sorted((f.connector, f.field, f.expected, f.actual) for f in findings) == [
        ("news", "presence", "missing", "present"),
        ("shop", "presence", "missing", "present"),
    ]
    assert (plans, compared) == ([], 0)


def test_extra_sources_feed_the_golden_consent() -> None:
    job = _customer_job(targets=["shop"], sources=["forms"])
    records = {
        "forms": [_customer(email_marketing=Consent.unsubscribed, consent_updated_at=T0 + timedelta(1))],
        "shop": [_customer(email_marketing=Consent.subscribed, consent_updated_at=T0)],
    }
    findings, plans, compared = reconcile_group(job, "ann@example.com", records)
    assert compared == 1  # known to a source, even without the truth
    assert [(f.field, f.expected) for f in findings] == [("email_marketing", Consent.unsubscribed)]
    assert [(p.connector, p.values) for p in plans] == [("shop", {"email_marketing": Consent.unsubscribed})]


# ------------------------------------------------------------------ whole catalogues by key

amounts = st.sampled_from(["9.90", "10.00", "10.01", "79.90", "0"])
price_records = st.builds(
    lambda amount, compare_at, currency: (amount, compare_at, currency),
    amounts,
    st.one_of(st.none(), amounts),
    st.sampled_from(["EUR", "EUR", "EUR", "USD"]),
)
catalogues = st.dictionaries(st.sampled_from([f"SKU-{i}" for i in range(12)]), price_records, max_size=12)
channel_rules = st.builds(
    ChannelRules,
    markup_percent=st.sampled_from([Decimal(0), Decimal(10)]),
    price_ending=st.sampled_from([None, Decimal("0.90")]),
    price_tolerance=st.sampled_from([Decimal(0), Decimal("0.01")]),
)


def _prices(catalogue: dict[str, tuple[str, str | None, str]]) -> dict[str, Price]:
    return {
        sku: Price(sku=sku, amount=amount, compare_at=compare_at, currency=currency)
        for sku, (amount, compare_at, currency) in catalogue.items()
    }


def _decided(findings: list[Any], plans: list[Any]) -> tuple[list[Any], list[Any]]:
    """Findings and plans in a stable order (key by key and target by target decide alike)."""

    def plan_row(p: Any) -> tuple[Any, ...]:
        return (p.connector, p.key, p.grp, p.values, p.previous, p.record, p.create)

    return sorted(findings, key=repr), sorted((plan_row(p) for p in plans), key=repr)


@given(catalogues, catalogues, catalogues, channel_rules, st.sampled_from([None, ["amount"], ["compare_at"]]))
def test_reconciling_by_key_decides_as_group_by_group(
    truth: dict[str, Any], web: dict[str, Any], app: dict[str, Any], rules: ChannelRules, fields: list[str] | None
) -> None:
    """The first sync's shortcut (each target compared key by key, no groups built) finds the same
    mismatches (presence included), plans the same corrections and counts the same comparisons as
    reconciling group by group, whatever the rules, currencies and missing keys."""
    job = _job(Entity.prices, targets=("web", "app"), rules={"web": rules}, fields=fields)
    held = {"truth": _prices(truth), "web": _prices(web), "app": _prices(app)}
    findings, plans, compared = [], [], 0
    for sku in sorted(held["truth"].keys() | held["web"].keys() | held["app"].keys()):
        group = {name: [records[sku]] for name, records in held.items() if sku in records}
        f, p, u = reconcile_group(job, sku, group)
        findings += f
        plans += p
        compared += u
    keyed = reconcile_keyed(job, held["truth"], {"web": held["web"], "app": held["app"]})
    assert _decided(keyed[0], keyed[1]) == _decided(findings, plans)
    assert keyed[2] == compared


def test_reconciling_by_key_covers_products_and_refuses_grouped_entities() -> None:
    truth = {"A": Product(sku="A", title="Jacket", status="active")}
    web = {"A": Product(sku="A", title="Jacket (old)", status="active"), "B": Product(sku="B")}
    findings, plans, compared = reconcile_keyed(_job(Entity.products), truth, {"web": web})
    assert [(f.key, f.field, f.expected, f.actual) for f in findings] == [
        ("A", "title", "Jacket", "Jacket (old)"),
        ("B", "presence", "missing", "present"),
    ]
    assert [(p.key, p.values) for p in plans] == [("A", {"title": "Jacket"})]
    assert compared == 1
    with pytest.raises(ValueError, match="by group"):
        reconcile_keyed(_job(Entity.stock), {}, {"web": {}})


# ------------------------------------------------------------------ what the platform derived


def test_a_derived_price_that_differs_from_the_right_amount_is_a_finding_and_rewrites_the_amount() -> None:
    torn = Price(sku="A", amount="80.00", effective="79.00")
    findings, plans, _ = reconcile_group(_job(Entity.prices), "A", {"truth": [_price("80.00")], "web": [torn]})
    assert [(f.field, f.expected, f.actual) for f in findings] == [("effective", Decimal("80.00"), Decimal("79.00"))]
    [plan] = plans
    assert plan.values == {"amount": Decimal("80.00"), "effective": Decimal("80.00")}
    # a wrong amount is written anyway: its derived price is not a second finding
    stale = Price(sku="A", amount="79.00", effective="79.00")
    findings, _, _ = reconcile_group(_job(Entity.prices), "A", {"truth": [_price("80.00")], "web": [stale]})
    assert [f.field for f in findings] == ["amount"]
    fine = Price(sku="A", amount="80.00", effective="80.00")
    assert reconcile_group(_job(Entity.prices), "A", {"truth": [_price("80.00")], "web": [fine]})[:2] == ([], [])


def test_an_in_stock_flag_that_contradicts_the_right_quantity_is_a_finding_and_a_rewrite() -> None:
    job = _job(Entity.stock, targets=["web"])
    torn = StockLevel(sku="S", location="wh", available=5, in_stock=False)
    findings, plans, _ = reconcile_group(job, "S", {"truth": [_level("wh", 5)], "web": [torn]})
    assert [(f.key, f.field, f.expected, f.actual) for f in findings] == [("S@wh", "in_stock", True, False)]
    assert plans[0].values == {"available": 5, "in_stock": True}
    backorders = StockLevel(sku="S", location="wh", available=0, in_stock=None)
    assert reconcile_group(job, "S", {"truth": [_level("wh", 0)], "web": [backorders]})[:2] == ([], [])


def test_a_markup_lands_on_the_currency_s_own_precision() -> None:
    rules = ChannelRules(markup_percent=Decimal(10))
    yen = Price(sku="A", amount="1005", currency="JPY")
    assert channel_price(yen, rules)["amount"] == Decimal("1106")  # 1105.5 rounded to whole yen
    dinar = Price(sku="A", amount="1.005", currency="KWD")
    assert channel_price(dinar, rules)["amount"] == Decimal("1.106")  # 1.1055 to fils
    assert channel_price(_price("10.05"), rules)["amount"] == Decimal("11.06")
