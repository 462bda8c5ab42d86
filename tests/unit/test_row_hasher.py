"""The row digest that recognizes an unchanged row: stable, seeded by the mapping, fits the column."""

from __future__ import annotations

import subprocess
import sys

from hub.plugins.contract import RawRecord
from hub.sync.row_hash import RowHasher

ROW = RawRecord({"sku": "SKU-1", "price": "79.90", "currency": "EUR"}, {"variant": "gid://1"})


def test_the_same_row_has_the_same_digest_in_another_process() -> None:
    """Digests are stored and compared by the next run: they must not depend on the process
    (Python's own ``hash`` of a string does)."""
    code = (
        "from hub.plugins.contract import RawRecord; from hub.sync.row_hash import RowHasher; "
        "print(RowHasher(b'mapping-1')(RawRecord({'sku': 'SKU-1', 'price': '79.90', 'currency': 'EUR'}, "
        "{'variant': 'gid://1'})))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == RowHasher(b"mapping-1")(ROW)


def test_any_change_of_row_link_or_mapping_changes_the_digest() -> None:
    digest = RowHasher(b"mapping-1")(ROW)
    assert RowHasher(b"mapping-2")(ROW) != digest  # a changed mapping re-reads every row
    assert RowHasher(b"mapping-1")(RawRecord({**ROW.data, "price": "79.91"}, ROW.link)) != digest
    assert RowHasher(b"mapping-1")(RawRecord(ROW.data, {"variant": "gid://2"})) != digest
    assert RowHasher(b"mapping-1")(RawRecord(dict(ROW.data), dict(ROW.link), "elsewhere.csv:9")) == digest


def test_digests_fit_a_signed_64_bit_column() -> None:
    hasher = RowHasher(b"mapping-1")
    digests = [hasher(RawRecord({"sku": f"SKU-{i}"})) for i in range(2000)]
    assert all(-(2**63) <= d < 2**63 for d in digests)
    assert min(digests) < 0 < max(digests)  # the whole signed range is used, not half of it
    assert len(set(digests)) == len(digests)
