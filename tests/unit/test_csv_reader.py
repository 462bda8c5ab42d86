"""The CSV connector's pull: blank lines, ragged rows and multi-line cells read as a spreadsheet
user expects, with each row's origin naming its line; a file cut in its last line has that row
quarantined; cells guarded against formula injection read as the values they hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from connectors.csv.connector import CUT_REASON, PAGE, CsvConnector, CsvSettings
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext, PullPage, RawRecord
from hub.plugins.mapping import load_mapping


def _pull(folder: Path, text: str, **settings: object) -> list[RawRecord]:
    (folder / "feed.csv").write_text(text, newline="")
    config = CsvSettings(path="feed.csv", **settings)  # type: ignore[arg-type]
    context = ConnectorContext(base_dir=folder, mapping=load_mapping("csv", settings=dict(config)))
    connector = CsvConnector("feed", config, context)

    async def collect() -> list[RawRecord]:
        return [raw async for page in connector.pull(Entity.prices) for raw in page.records]

    return asyncio.run(collect())


def test_rows_become_dicts_keyed_by_the_header_with_their_line(tmp_path: Path) -> None:
    rows = _pull(tmp_path, "sku,price\nA,1.00\n\nB,2.00\n")
    assert [(r.data, r.origin) for r in rows] == [
        ({"sku": "A", "price": "1.00"}, "feed.csv:2"),
        ({"sku": "B", "price": "2.00"}, "feed.csv:4"),  # the blank line is skipped, and counted
    ]


def test_a_quoted_cell_over_two_lines_keeps_the_origin_on_the_right_line(tmp_path: Path) -> None:
    rows = _pull(tmp_path, 'sku,title,price\nA,"two\nlines",1.00\nB,plain,2.00\n')
    assert rows[0].data["title"] == "two\nlines"
    assert [r.origin for r in rows] == ["feed.csv:3", "feed.csv:4"]


def test_ragged_rows_keep_missing_cells_empty_and_extra_cells_apart(tmp_path: Path) -> None:
    rows = _pull(tmp_path, "sku,price,currency\nA,1.00\nB,2.00,EUR,surplus,more\n")
    assert rows[0].data == {"sku": "A", "price": "1.00", "currency": None}
    assert rows[1].data == {"sku": "B", "price": "2.00", "currency": "EUR", "__extra__": "surplus,more"}


def test_renamed_columns_are_read_under_the_mapping_s_names(tmp_path: Path) -> None:
    rows = _pull(tmp_path, "Codice;Prezzo\nA;1,50\n", delimiter=";", decimal_comma=True, columns={"amount": "Prezzo"})
    assert rows[0].data == {"Codice": "A", "price": "1,50"}


def _pages(folder: Path, text: str, entity: Entity = Entity.prices) -> list[PullPage]:
    (folder / "feed.csv").write_text(text, newline="")
    config = CsvSettings(path="feed.csv")
    connector = CsvConnector("feed", config, ConnectorContext(base_dir=folder))

    async def collect() -> list[PullPage]:
        return [page async for page in connector.pull(entity)]

    return asyncio.run(collect())


def test_a_last_line_cut_mid_way_is_quarantined_and_the_rest_is_read(tmp_path: Path) -> None:
    (page,) = _pages(tmp_path, "sku,location,available\nSKU-00998,loc-1,12\nSKU-00999,loc-1,5", Entity.stock)
    assert [r.data["sku"] for r in page.records] == ["SKU-00998"]
    assert page.rejected == [("SKU-00999@loc-1", CUT_REASON, "feed.csv:3")]
    assert not page.complete  # rows the cut took away are not deletions


def test_a_cut_row_found_on_a_full_page_is_still_the_one_quarantined(tmp_path: Path) -> None:
    lines = [f"S{i},1.00" for i in range(PAGE)]
    pages = _pages(tmp_path, "\n".join(["sku,price", *lines]))
    assert [len(p.records) for p in pages] == [PAGE - 1]
    assert pages[-1].rejected == [(f"S{PAGE - 1}", CUT_REASON, f"feed.csv:{PAGE + 1}")]


def test_a_single_data_line_without_a_line_ending_is_suspect_too(tmp_path: Path) -> None:
    (page,) = _pages(tmp_path, "sku,price\nA,1.0")
    assert page.records == [] and page.rejected == [("A", CUT_REASON, "feed.csv:2")]


def test_a_cut_row_without_a_readable_key_is_quarantined_without_one(tmp_path: Path) -> None:
    (page,) = _pages(tmp_path, "sku,location,available\nA,wh,1\n,")
    assert page.rejected == [(None, CUT_REASON, "feed.csv:3")]


@pytest.mark.parametrize("text", ["sku,price\nA,1.00\n", "sku,price\r\nA,1.00\r\n", "sku,price\rA,1.00\r", "sku,price"])
def test_files_whose_data_lines_all_end_are_whole(tmp_path: Path, text: str) -> None:
    (page,) = _pages(tmp_path, text)  # a lone header without a line ending holds no data line to doubt
    assert page.rejected == [] and page.complete


def test_cells_guarded_against_formulas_are_read_as_the_values_they_hold(tmp_path: Path) -> None:
    rows = _pull(tmp_path, "sku,title,price\n'-A,'=1+1,1.00\nB,\"x,'@y\",2.00\nC,O'Neil,'3.00\nD,''+z,4\n")
    assert [(r.data["sku"], r.data["title"], r.data["price"]) for r in rows] == [
        ("-A", "=1+1", "1.00"),
        ("B", "x,'@y", "2.00"),  # a quote inside a cell is no guard
        ("C", "O'Neil", "'3.00"),  # nor one before something a spreadsheet would not run
        ("D", "'+z", "4"),
    ]
