"""The pull ledger: a pull's keys and the stored rows it compares with, on disk, asked by SQL."""

from __future__ import annotations

from pathlib import Path

from hub.state.ledger import PullLedger


def _ledger() -> PullLedger:
    ledger = PullLedger()
    ledger.add_stored([("A@main", 1), ("B@main", 2), ("C@north", 3), ("Z@south", -7)])
    ledger.index_stored()
    return ledger


def test_every_copy_of_a_key_comes_back_with_its_origin_in_order() -> None:
    ledger = _ledger()
    try:
        ledger.add_window({"A@main": "f.csv:2", "B@main": "f.csv:3"}, {"A@main": ["f.csv:2", "f.csv:4"]})
        ledger.add_window({"A@main": "f.csv:9", "D@east": "f.csv:10"}, {})
        ledger.finish()
        assert ledger.duplicates() == {"A@main": ["f.csv:2", "f.csv:4", "f.csv:9"]}
        assert ledger.count_seen() == 3
    finally:
        ledger.close()


def test_deletions_census_and_locations_come_from_disk() -> None:
    ledger = _ledger()
    try:
        ledger.add_window({"A@main": "f:1", "D@east": "f:2", "Q@west": "f:3"}, {"Q@west": ["f:3", "f:4"]})
        ledger.finish()
        assert sorted(ledger.unseen_stored()) == ["B@main", "C@north", "Z@south"]
        assert ledger.count_held() == 6  # A B C Z stored, D Q pulled
        # A complete pull: the locations of the keys it read once (Q's copies are used by no one).
        assert ledger.locations(with_stored=False) == {"main", "east"}
        # An incremental pull: what it did not bring is still held as stored.
        assert ledger.locations(with_stored=True) == {"main", "north", "south", "east", "west"}
    finally:
        ledger.close()


def test_a_page_of_digests_finds_its_stored_keys_but_the_forgotten_ones() -> None:
    ledger = _ledger()
    try:
        found = ledger.known(iter([1, 3, 99, -7, *range(1000, 2000)]), ignore=-7)
        assert found == {1: "A@main", 3: "C@north"}  # more digests than one IN (...) holds
        assert ledger.stored == 4
    finally:
        ledger.close()


def test_the_file_is_gone_once_closed() -> None:
    ledger = PullLedger()
    path = Path(ledger._path)
    assert path.exists()
    ledger.close()
    assert not path.exists()
