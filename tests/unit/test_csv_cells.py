"""The formula guard of CSV cells: nothing the hub writes starts a formula, and reading gives back
exactly the value written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.csv.cells import TRIGGERS, guard, has_guarded_cells, unguard

# Text biased towards the characters that matter here: quotes and formula triggers up front.
_cells = st.text(alphabet=st.sampled_from([*TRIGGERS, "'", "a", "1", " ", ",", '"']), max_size=8) | st.text(max_size=8)


@given(_cells)
def test_reading_a_guarded_cell_gives_the_value_back(value: str) -> None:
    assert unguard(guard(value)) == value


@given(_cells)
def test_a_guarded_cell_never_starts_a_formula(value: str) -> None:
    assert not guard(value).startswith(TRIGGERS)


@given(_cells)
def test_the_whole_text_scan_never_misses_a_guarded_cell(value: str) -> None:
    if guard(value) != value:
        assert has_guarded_cells(f"sku,title\nA,{guard(value)}\n")


def test_the_owasp_examples() -> None:
    assert [guard(v) for v in ("=cmd|' /C calc'!A0", "@SUM(1+1)", "+1-2+3", "-2+3", "\t=1", "\r=1")] == [
        "'=cmd|' /C calc'!A0",
        "'@SUM(1+1)",
        "'+1-2+3",
        "'-2+3",
        "'\t=1",
        "'\r=1",
    ]
    assert [guard(v) for v in ("plain", "O'Neil", "1-2", "")] == ["plain", "O'Neil", "1-2", ""]
