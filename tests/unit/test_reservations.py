"""The reservation ledger: what open orders hold, where, and what every channel may then sell.

The rule (README "Orders and reservations"): a channel shows ``truth on hand - reserved - safety
stock`` at the locations it sells from. Open orders of every reserving channel count, the channel's
own included: Shopify's ``available`` already leaves its own ``committed`` out and WooCommerce's
``stock_quantity`` is what it may still sell, so the value written is the same for both and no sale
is counted twice or not at all. Orders the truth already subtracts (``counted_by_truth``) are listed
but not subtracted again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.config.models import ChannelRules, JobConfig
from hub.errors import ConfigError
from hub.model.base import Entity
from hub.model.catalogue import StockLevel
from hub.model.orders import Order, OrderStatus
from hub.state.store import Store
from hub.sync.findings import ReconcileInput
from hub.sync.orders import reserved_for
from hub.sync.reconcile import reconcile_group

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def order(
    channel: str,
    order_id: str,
    lines: dict[str, int],
    status: OrderStatus = OrderStatus.open,
    location: str | None = "wms-main",
    *,
    minutes: int = 0,
    pickup: bool = False,
) -> Order:
    return Order(
        channel=channel,
        order_id=order_id,
        status=status,
        created_at=T0,
        updated_at=T0 + timedelta(minutes=minutes),
        lines=tuple({"sku": sku, "quantity": n} for sku, n in lines.items()),  # type: ignore[misc]
        location=location,
        pickup=pickup,
    )


def stock_job(**settings: Any) -> JobConfig:
    return JobConfig.model_validate({"entity": "stock", "targets": ["shop", "web"], **settings})


def decide(job: JobConfig, orders: list[Order], truth: dict[str, int], shown: dict[str, list[StockLevel]]):  # type: ignore[no-untyped-def]
    reserved = reserved_for(job, [], orders)
    job_input = ReconcileInput(
        entity=Entity.stock,
        source="wms",
        targets=job.targets,
        rules=job.rules,
        fields={t: ["available"] for t in job.targets},
        reserved=reserved,
    )
    records = {"wms": [StockLevel(sku="S", location=loc, available=n) for loc, n in truth.items()], **shown}
    return reconcile_group(job_input, "S", records)


def level(location: str, available: int) -> StockLevel:
    return StockLevel(sku="S", location=location, available=available)


def expected(findings: list[Any]) -> dict[tuple[str, str], int]:
    return {(f.connector, f.key): f.expected for f in findings}


def test_every_channel_shows_the_truth_less_what_open_orders_of_every_channel_reserve() -> None:
    job = stock_job(reservations=["shop", "web"])
    orders = [order("shop", "1", {"S": 2}), order("web", "7", {"S": 1})]
    findings, plans, compared = decide(
        job, orders, {"wms-main": 10}, {"shop": [level("wms-main", 8)], "web": [level("wms-main", 9)]}
    )
    # Shopify shows 8 available (its own order of 2 moved to committed), WooCommerce 9 (it reduced
    # its own sale): both must show 10 - 3 = 7, the other channel's sale taken off too.
    assert expected(findings) == {("shop", "S@wms-main"): 7, ("web", "S@wms-main"): 7}
    assert {p.connector: p.values["available"] for p in plans} == {"shop": 7, "web": 7}
    assert compared == 2


def test_the_last_unit_sold_on_two_channels_is_shown_on_neither() -> None:
    job = stock_job(reservations=["shop", "web"])
    orders = [order("shop", "1", {"S": 1}), order("web", "7", {"S": 1})]
    findings, _, _ = decide(
        job, orders, {"wms-main": 1}, {"shop": [level("wms-main", 0)], "web": [level("wms-main", 0)]}
    )
    assert findings == []  # both show 0: nothing is left to sell (the unit sold twice is in both orders)


@pytest.mark.parametrize(
    ("status", "reserved"),
    [
        (OrderStatus.open, 3),
        (OrderStatus.pending, 0),
        (OrderStatus.fulfilled, 0),
        (OrderStatus.cancelled, 0),
        (OrderStatus.refunded, 0),
    ],
)
def test_only_open_orders_reserve(status: OrderStatus, reserved: int) -> None:
    job = stock_job(reservations=["web"])
    findings, _, _ = decide(
        job, [order("web", "7", {"S": 3}, status)], {"wms-main": 10}, {"shop": [level("wms-main", 0)]}
    )
    assert expected(findings) == {("shop", "S@wms-main"): 10 - reserved}


def test_orders_the_truth_already_subtracts_are_not_subtracted_again() -> None:
    job = stock_job(reservations=["shop", "web"], counted_by_truth=["shop"])
    orders = [order("shop", "1", {"S": 2}), order("web", "7", {"S": 1})]
    findings, _, _ = decide(job, orders, {"wms-main": 10}, {"web": [level("wms-main", 0)]})
    assert expected(findings) == {("web", "S@wms-main"): 9}


def test_a_pickup_order_reserves_the_store_it_is_collected_from_and_nothing_elsewhere() -> None:
    job = stock_job(reservations=["web"], rules={"shop": {"locations": {"online": ["wms-main"]}}})
    pickup = order("web", "9", {"S": 2}, location="milano-store", pickup=True)
    findings, _, _ = decide(
        job,
        [pickup],
        {"wms-main": 10, "milano-store": 4},
        {"shop": [level("online", 0), level("milano-store", 0)]},
    )
    assert expected(findings) == {("shop", "S@online"): 10, ("shop", "S@milano-store"): 2}


def test_an_order_is_placed_through_its_own_channel_location_rule_and_reserves_every_location_fed_by_it() -> None:
    rules = {"web": {"locations": {"web-warehouse": ["wms-main"]}}, "shop": {"locations": {"online": ["wms-main"]}}}
    job = stock_job(reservations=["web"], rules=rules)
    findings, _, _ = decide(
        job,
        [order("web", "7", {"S": 4}, location="web-warehouse")],
        {"wms-main": 10},
        {"shop": [level("online", 0)], "web": [level("web-warehouse", 0)]},
    )
    assert expected(findings) == {("shop", "S@online"): 6, ("web", "S@web-warehouse"): 6}


def test_an_order_without_a_location_reserves_everywhere_rather_than_nowhere() -> None:
    job = stock_job(reservations=["web"])
    findings, _, _ = decide(
        job,
        [order("web", "7", {"S": 1}, location=None)],
        {"wms-main": 5, "milano-store": 5},
        {"shop": [level("wms-main", 0), level("milano-store", 0)]},
    )
    assert expected(findings) == {("shop", "S@wms-main"): 4, ("shop", "S@milano-store"): 4}


def test_channels_a_job_does_not_reserve_for_reserve_nothing_in_it() -> None:
    job = stock_job(reservations=["web"])
    findings, _, _ = decide(job, [order("pos", "1", {"S": 5})], {"wms-main": 10}, {"shop": [level("wms-main", 0)]})
    assert expected(findings) == {("shop", "S@wms-main"): 10}


def test_safety_stock_comes_off_after_the_reservations_and_never_below_zero() -> None:
    job = stock_job(reservations=["web"], rules={"shop": ChannelRules(safety_stock=2).model_dump()})
    findings, _, _ = decide(job, [order("web", "7", {"S": 7})], {"wms-main": 8}, {"shop": [level("wms-main", 5)]})
    assert expected(findings) == {("shop", "S@wms-main"): 0}


# ---------------------------------------------------------------- the ledger in the store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened  # type: ignore[misc]
    opened.close()


def test_storing_orders_answers_the_skus_whose_reservations_moved(store: Store) -> None:
    assert store.orders.apply([order("web", "7", {"S": 2, "T": 1})]) == {"S", "T"}
    assert store.orders.apply([order("web", "7", {"S": 2, "T": 1}, minutes=1)]) == set()  # same holding
    assert store.orders.apply([order("web", "7", {"S": 2}, minutes=2)]) == {"S", "T"}  # a line removed
    cancelled = order("web", "7", {"S": 2}, OrderStatus.cancelled, minutes=3)
    assert store.orders.apply([cancelled]) == {"S"}
    assert store.orders.open_orders() == []


def test_an_older_version_read_after_a_newer_one_does_not_take_the_ledger_back(store: Store) -> None:
    store.orders.apply([order("web", "7", {"S": 2}, OrderStatus.cancelled, minutes=5)])
    assert store.orders.apply([order("web", "7", {"S": 2}, OrderStatus.open, minutes=1)]) == set()
    stored = store.orders.get("web", "7")
    assert stored is not None and stored.status is OrderStatus.cancelled


def test_a_full_read_forgets_open_orders_the_platform_no_longer_answers(store: Store) -> None:
    store.orders.apply([order("web", "7", {"S": 2}), order("web", "8", {"T": 1}), order("shop", "1", {"U": 1})])
    assert store.orders.close_unseen("web", ["8"]) == {"S"}
    assert sorted((o.channel, o.order_id) for o in store.orders.open_orders()) == [("shop", "1"), ("web", "8")]


def test_hints_wait_per_job_until_a_run_consumes_them(store: Store) -> None:
    store.hints.add(["stock", "stock-eu"], ["S", "T"], "webhook:web")
    top, groups = store.hints.pending("stock")
    store.hints.add(["stock"], ["U"], "orders:web")  # arrives during the run
    store.hints.consume("stock", top)
    assert groups == {"S", "T"}
    assert store.hints.pending("stock")[1] == {"U"}
    assert store.hints.pending("stock-eu")[1] == {"S", "T"}


def test_the_ledger_lists_units_by_sku_at_location_with_the_orders_holding_them(store: Store) -> None:
    store.orders.apply(
        [
            order("web", "7", {"S": 2}),
            order("shop", "1", {"S": 1}),
            order("web", "9", {"S": 1}, location="milano-store", pickup=True),
            order("web", "10", {"S": 5}, OrderStatus.cancelled),
        ]
    )
    rows = store.orders.ledger()
    assert rows == [
        {
            "key": "S@wms-main",
            "reserved": 3,
            "orders": [
                {"connector": "shop", "order": "1", "quantity": 1, "pickup": False},
                {"connector": "web", "order": "7", "quantity": 2, "pickup": False},
            ],
        },
        {
            "key": "S@milano-store",
            "reserved": 1,
            "orders": [{"connector": "web", "order": "9", "quantity": 1, "pickup": True}],
        },
    ]


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"entity": "prices", "targets": ["web"], "reservations": ["web"]}, "stock jobs only"),
        ({"entity": "stock", "targets": ["web"], "reservations": ["web"], "counted_by_truth": ["shop"]}, "shop"),
    ],
)
def test_reservations_belong_to_stock_jobs_and_counted_channels_must_reserve(job: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JobConfig.model_validate(job)


def test_a_reserving_channel_must_exist_and_read_orders(tmp_path: Path) -> None:
    from hub.config.loader import load_config

    path = tmp_path / "omnihub.yaml"
    path.write_text(
        "version: 1\n"
        "connectors:\n"
        "  wms: {type: rest_wms, base_url: 'https://wms.example/api', api_key: k_123456789}\n"
        "  feed: {type: csv, path: feeds}\n"
        "truth: {stock: wms}\n"
        "jobs:\n"
        "  stock: {entity: stock, targets: [feed], reservations: [feed, ghost]}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    text = str(error.value)
    assert "'feed' (csv) cannot read orders" in text and "unknown connector 'ghost'" in text
    assert "omnihub.yaml:7" in text
