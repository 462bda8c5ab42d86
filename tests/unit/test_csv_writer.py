"""The CSV connector's push: a rewritten feed differs from the old one in the cells the hub set and
nowhere else (byte order mark, line endings, permissions, owner, a symbolic link, cells it does
not know), stays atomic, refuses to make a cut last row look whole, and tells the hub the digest
of what it wrote."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.csv import files
from connectors.csv.connector import CUT_REASON, CsvConnector, CsvSettings
from hub.model.base import Entity
from hub.model.catalogue import Product, StockLevel
from hub.plugins.contract import Change, ConnectorContext, PushResult, RawRecord
from hub.plugins.mapping import load_mapping


def _connector(folder: Path, **settings: object) -> CsvConnector:
    config = CsvSettings(path="feed.csv", **settings)  # type: ignore[arg-type]
    context = ConnectorContext(base_dir=folder, mapping=load_mapping("csv", settings=dict(config)))
    return CsvConnector("feed", config, context)


def _change(key: str, entity: Entity = Entity.prices, **values: object) -> Change:
    return Change(
        entity=entity, key=key, connector="feed", values=values, previous={}, record=None, link={}, idempotency_key=key
    )


def _push(connector: CsvConnector, *changes: Change, entity: Entity = Entity.prices) -> list[PushResult]:
    return asyncio.run(connector.push(entity, list(changes)))


def _pull(connector: CsvConnector, entity: Entity = Entity.prices) -> list[RawRecord]:
    async def collect() -> list[RawRecord]:
        return [raw async for page in connector.pull(entity) for raw in page.records]

    return asyncio.run(collect())


def _feed(folder: Path, content: bytes, mode: int = 0o644) -> Path:
    path = folder / "feed.csv"
    path.write_bytes(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_rewrite_keeps_the_file_s_line_endings(tmp_path: Path, newline: str) -> None:
    path = _feed(tmp_path, newline.join(["sku,price", "A,1.00", "B,2.00", ""]).encode())
    (result,) = _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert result.ok
    assert path.read_bytes() == newline.join(["sku,price", "A,3.00", "B,2.00", ""]).encode()


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["without", "with"])
def test_a_rewrite_keeps_a_byte_order_mark_and_never_adds_one(tmp_path: Path, bom: bytes) -> None:
    path = _feed(tmp_path, bom + b"sku,price\nA,1.00\n")
    _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert path.read_bytes() == bom + b"sku,price\nA,3.00\n"


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o640, 0o600])
def test_a_rewrite_keeps_the_file_s_permissions(tmp_path: Path, mode: int) -> None:
    path = _feed(tmp_path, b"sku,price\nA,1.00\n", mode)
    _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert b"3.00" in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["feed.csv"]  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another owner")
def test_a_rewrite_keeps_the_file_s_owner_and_group(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,price\nA,1.00\n")
    os.chown(path, 4321, 4322)
    _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)


def test_a_writer_that_may_not_change_the_owner_still_writes_with_the_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _feed(tmp_path, b"sku,price\nA,1.00\n", 0o664)
    calls: list[tuple[int, int]] = []

    def refuse(fd: int, uid: int, gid: int) -> None:
        calls.append((uid, gid))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(files.os, "fchown", refuse)
    like = os.stat_result((0o100664, 0, 0, 1, 4321, 4322, 0, 0, 0, 0))  # another user's file
    files.replace_file(path, b"sku,price\nA,3.00\n", like)
    assert calls == [(4321, 4322), (-1, 4322)]  # the owner and group, then the group alone
    assert path.read_bytes() == b"sku,price\nA,3.00\n" and stat.S_IMODE(path.stat().st_mode) == 0o664


def test_a_symbolic_link_to_a_feed_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    real = tmp_path / "exports" / "prices.csv"
    real.write_bytes(b"sku,price\nA,1.00\n")
    (tmp_path / "feed.csv").symlink_to(real)
    _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert (tmp_path / "feed.csv").is_symlink()
    assert real.read_bytes() == b"sku,price\nA,3.00\n"


def test_cells_the_hub_does_not_write_survive_a_rewrite(tmp_path: Path) -> None:
    path = _feed(tmp_path, b'sku,price,note\nA,1.00,"=HYPERLINK(""x"")"\n\nB,2.00,kept,extra cell\n')
    _push(_connector(tmp_path), _change("B", amount=Decimal("3.00")))
    # a blank line, a ragged row's extra cell and another program's formula are not the hub's to change
    assert path.read_bytes() == b'sku,price,note\nA,1.00,"=HYPERLINK(""x"")"\n\nB,3.00,kept,extra cell\n'


def test_a_cell_holding_a_bare_carriage_return_is_quoted_in_a_file_of_line_feeds(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,title\nA,old\nB,other\n")
    connector = _connector(tmp_path)
    _push(connector, _change("A", Entity.products, title="two\rparts"), entity=Entity.products)
    assert path.read_bytes() == b'sku,title\nA,"two\rparts"\nB,other\n'
    assert [r.data["title"] for r in _pull(connector, Entity.products)] == ["two\rparts", "other"]


def test_a_push_that_changes_nothing_leaves_the_file_untouched(tmp_path: Path) -> None:
    content = b"sku,price\r\nA,1.00\n"  # mixed endings: any rewrite would show
    path = _feed(tmp_path, content)
    (result,) = _push(_connector(tmp_path), _change("Z", amount=Decimal("3.00")))
    assert (result.ok, result.code) == (False, "not_found")
    assert path.read_bytes() == content


def test_a_feed_cut_in_its_last_line_is_not_rewritten(tmp_path: Path) -> None:
    content = b"sku,price\nA,1.00\nB,2.0"
    path = _feed(tmp_path, content)
    (result,) = _push(_connector(tmp_path), _change("A", amount=Decimal("3.00")))
    assert (result.ok, result.code, result.retriable) == (False, "feed_cut", True)
    assert result.message is not None and "feed.csv" in result.message and CUT_REASON in result.message
    assert path.read_bytes() == content  # a line ending added now would make "2.0" look whole


def test_after_a_push_the_cursor_is_the_digest_of_the_file_on_disk(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,price\nA,1.00\n")
    connector = _connector(tmp_path)
    _pull(connector)
    _push(connector, _change("A", amount=Decimal("3.00")))
    pulled = hashlib.blake2b(b"sku,price\nA,1.00\n", digest_size=16).hexdigest()
    written = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    assert connector.cursor_after_push(Entity.prices, pulled) == written


def test_a_feed_edited_between_the_pull_and_the_push_is_read_in_full_next_time(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,price\nA,1.00\nB,2.00\n")
    connector = _connector(tmp_path)
    _pull(connector)
    path.write_bytes(b"sku,price\nA,1.00\nB,2.50\n")  # someone's edit, never pulled
    _push(connector, _change("A", amount=Decimal("3.00")))
    assert path.read_bytes() == b"sku,price\nA,3.00\nB,2.50\n"
    assert connector.cursor_after_push(Entity.prices, "the pull's digest") is None


def test_formula_characters_in_text_cells_are_neutralized(tmp_path: Path) -> None:
    values = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1-2+3", "-2+3", "\t=1", "\r=1", "'=1", "plain", "O'Neil"]
    lines = ["sku,title", *(f"S{i},old" for i in range(len(values)))]
    path = _feed(tmp_path, ("\n".join(lines) + "\n").encode())
    connector = _connector(tmp_path)
    changes = [_change(f"S{i}", Entity.products, title=v) for i, v in enumerate(values)]
    assert all(r.ok for r in _push(connector, *changes, entity=Entity.products))
    written = {r.data["sku"]: r.data["title"] for r in _pull(connector, Entity.products)}
    # read back as the values they hold, so the next sync finds them equal
    assert [written[f"S{i}"] for i in range(len(values))] == values
    text = path.read_text()
    for cell in ("'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'+1-2+3", "'-2+3", "''=1", "plain", "O'Neil"):
        assert f",{cell}\n" in text or f',"{cell}"\n' in text, cell


def test_numbers_the_hub_formats_are_written_as_numbers(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,location,available\nA,wh,4\n")
    _push(_connector(tmp_path), _change("A@wh", Entity.stock, available=-3), entity=Entity.stock)
    assert path.read_bytes() == b"sku,location,available\nA,wh,-3\n"
    prices = tmp_path / "prices"
    prices.mkdir()
    price_path = _feed(prices, b"sku,price\nA,1.00\n")
    _push(_connector(prices), _change("A", amount=Decimal("-5.00")))
    assert price_path.read_bytes() == b"sku,price\nA,-5.00\n"


def test_a_row_whose_key_cell_is_guarded_is_found_and_not_written_twice(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,price\n'-A,1.00\n")
    (result,) = _push(_connector(tmp_path), _change("-A", amount=Decimal("3.00")))
    assert result.ok
    assert path.read_bytes() == b"sku,price\n'-A,3.00\n"


def test_a_created_row_guards_its_text_and_writes_its_numbers_as_numbers(tmp_path: Path) -> None:
    path = _feed(tmp_path, b"sku,title\nA,Jacket\n")
    record = Product(sku="-B", title='=HYPERLINK("x")', group="@SUM(1)")
    change = Change(
        entity=Entity.products,
        key="-B",
        connector="feed",
        values={"title": record.title},
        previous={},
        record=record,
        link={},
        idempotency_key="c",
    )
    (result,) = _push(_connector(tmp_path), change, entity=Entity.products)
    assert result.ok
    first, created = csv.DictReader(io.StringIO(path.read_text()))
    assert first == {"sku": "A", "title": "Jacket", "product": "", "barcode": "", "status": ""}  # columns added
    assert (created["sku"], created["product"], created["title"]) == ("'-B", "'@SUM(1)", '\'=HYPERLINK("x")')
    stock = tmp_path / "stock"
    stock.mkdir()
    stock_path = _feed(stock, b"sku,location,available\n")
    level = StockLevel(sku="C", location="wh", available=-2)
    create = Change(Entity.stock, "C@wh", "feed", {"available": -2}, {}, level, {}, "s")
    assert _push(_connector(stock), create, entity=Entity.stock)[0].ok
    assert stock_path.read_text().splitlines()[1].startswith("C,wh,-2")


def test_two_writers_at_once_keep_each_other_s_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The partitions of a distributed run write one feed from two processes: each rewrite reads
    the file, so without the folder's lock the slower writer would put back what the other changed."""
    import threading

    rows = "".join(f"K{n:03d},1.00\n" for n in range(200))
    path = _feed(tmp_path, ("sku,price\n" + rows).encode())
    original = files.replace_file
    first_in = threading.Event()

    def slow_replace(target: Path, data: bytes, like: os.stat_result) -> None:
        first_in.set()
        threading.Event().wait(0.2)  # the other writer has read the file by now, unless it waits for the lock
        original(target, data, like)

    monkeypatch.setattr("connectors.csv.connector.replace_file", slow_replace)
    even = [_change(f"K{n:03d}", amount=Decimal("2.00")) for n in range(0, 200, 2)]
    odd = [_change(f"K{n:03d}", amount=Decimal("3.00")) for n in range(1, 200, 2)]
    writer = threading.Thread(target=lambda: _push(_connector(tmp_path), *even))
    writer.start()
    first_in.wait(5)
    assert all(r.ok for r in _push(_connector(tmp_path), *odd))
    writer.join(5)
    prices = {row["sku"]: row["price"] for row in csv.DictReader(io.StringIO(path.read_text()))}
    assert [prices[f"K{n:03d}"] for n in range(4)] == ["2.00", "3.00", "2.00", "3.00"]
    assert sorted(set(prices.values())) == ["2.00", "3.00"]
