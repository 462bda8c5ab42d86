"""The CSV connector's pull: blank lines, ragged rows and multi-line cells read as a spreadsheet
user expects, with each row's origin naming its line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.csv.connector import CsvConnector, CsvSettings
from hub.connector import ConnectorContext, RawRecord
from hub.mapping import load_mapping
from hub.model import Entity


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
