"""A feed is parsed straight from its file: what it costs in memory, and the encodings it is read in."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest

from connectors.csv.connector import CsvConnector, CsvSettings
from connectors.csv.scan import ascii_compatible, digest_of, scan_feed
from hub.errors import FatalError
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext
from hub.plugins.mapping import load_mapping


def _connector(folder: Path, **settings: object) -> CsvConnector:
    config = CsvSettings(path="feed.csv", **settings)  # type: ignore[arg-type]
    context = ConnectorContext(base_dir=folder, mapping=load_mapping("csv", settings=dict(config)))
    return CsvConnector("feed", config, context)


def _rows(connector: CsvConnector) -> list[dict]:
    async def collect() -> list[dict]:
        return [dict(raw.data) async for page in connector.pull(Entity.prices) for raw in page.records]

    return asyncio.run(collect())


def test_a_large_feed_is_not_held_in_memory_while_it_is_read(tmp_path: Path) -> None:
    rows = "".join(f"SKU-{i:06d},{10 + i % 50}.00,,EUR\n" for i in range(200_000))
    (tmp_path / "feed.csv").write_text("sku,price,compare_at_price,currency\n" + rows, newline="")
    size_mb = (tmp_path / "feed.csv").stat().st_size / 1e6
    connector = _connector(tmp_path)

    async def drain() -> int:
        count = 0
        async for page in connector.pull(Entity.prices):
            count += len(page.records)  # each page is let go, as the engine does past its budget
        return count

    tracemalloc.start()
    try:
        assert asyncio.run(drain()) == 200_000
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    # the feed itself (decoded, or as StringIO's four bytes a character) would be 1x to 5x its size
    assert peak < size_mb, f"peak {peak:.1f} MB for a {size_mb:.1f} MB feed"


def test_the_scan_agrees_with_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    for text, cut, guarded in [
        ("sku,price\nA,1\nB,'=2\n", False, True),
        ("sku,price\r\nA,1\r\nB,5", True, False),
        ("sku,price\rA,1\r", False, False),
        ("", False, False),
    ]:
        path.write_bytes(text.encode())
        scan = scan_feed(path)
        assert (scan.digest, scan.ends_mid_line, scan.guarded) == (digest_of(text.encode()), cut, guarded)
        assert scan.newlines == text.count("\n")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_feeds_in_other_encodings_read_the_same(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "feed.csv").write_bytes("sku,price,compare_at_price,currency\nCAFÉ-1,9.50,,EUR\n".encode(encoding))
    assert ascii_compatible(encoding) == (encoding != "utf-16")
    [row] = _rows(_connector(tmp_path, encoding=encoding))
    assert (row["sku"], row["price"]) == ("CAFÉ-1", "9.50")


def test_bytes_the_encoding_cannot_read_name_the_setting_to_check(tmp_path: Path) -> None:
    (tmp_path / "feed.csv").write_bytes(b"sku,price,compare_at_price,currency\nA\xff\xfe,1.00,,EUR\n")
    with pytest.raises(FatalError, match=r"feed\.csv.*check `encoding`"):
        _rows(_connector(tmp_path))
