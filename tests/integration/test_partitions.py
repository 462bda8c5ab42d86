"""Partitions of a job's keys, on both databases: the rows a partition reads in SQL are exactly
the groups ``bucket_of`` puts in it, every group falls in one partition, and a partitioned
decision finds the same mismatches as the whole one."""

from __future__ import annotations

import pytest

from hub.state.partitions import Partition, bucket_of
from hub.state.store import Store


def _write(store: Store, connector: str, groups: list[str]) -> None:
    rows = [(f"{g}@main", g, n + 1, '{"sku": "' + g + '"}') for n, g in enumerate(groups)]
    store.observations.write(connector, "stock", rows, run_id=None)


def test_a_partition_reads_exactly_its_groups_and_every_group_is_in_one(db_url: str) -> None:
    groups = [f"SKU-{n:04d}" for n in range(300)] + ["ÉTÉ-Ü", "sku with spaces", "x.y"]
    store = Store.open(db_url)
    try:
        _write(store, "wms", groups)
        for count in (1, 2, 3, 7):
            seen: list[str] = []
            for index in range(count):
                part = Partition(index, count)
                mine = [grp for grp, _ in store.observations.iter_groups(["wms"], "stock", None, part)]
                # the database puts in it what Python does
                assert mine == sorted(g for g in groups if bucket_of(g, count) == index)
                assert store.observations.count("wms", "stock", part) == len(mine)
                keyed = {key.split("@")[0] for key, _, _ in store.observations.iter_keyed(["wms"], "stock", part)}
                assert keyed == set(mine)
                seen += mine
            assert sorted(seen) == sorted(groups)  # each group once, in one partition
        assert len({bucket_of(g, 3) for g in groups}) == 3  # the hash spreads the groups
    finally:
        store.close()


def test_the_partition_of_a_group_is_stable() -> None:
    """Pinned: a change of the hash would move every key to another partition between versions."""
    groups = ("SKU-0001", "JKT-ALPINE-L", "ana@example.com")
    assert [bucket_of(g, 8) for g in groups] == [6, 5, 2]
    assert [bucket_of(g, 1000) for g in groups] == [766, 677, 274]
    assert Partition(6, 8).holds("SKU-0001") and not Partition(5, 8).holds("SKU-0001")
    with pytest.raises(ValueError):
        Partition(3, 3)
