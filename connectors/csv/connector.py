"""The ``csv`` connector: reads and writes products, prices, stock and customers in CSV files.

One file per entity (``path`` for a feed of one entity, or ``files: {prices: ..., stock: ...}``),
with configurable delimiter, encoding and decimal separator (Italian exports use ``;`` and
``,``). Column names come from ``mappings/csv.yaml``; ``columns:`` renames them for one feed
without writing a whole mapping file. Writes replace the file atomically and keep its layout
(``files``), and guard the text cells they write against formula injection (``cells``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from connectors.csv.cells import guard, has_guarded_cells, unguard_row
from connectors.csv.files import Layout, ends_mid_line, feed_lock, replace_file, serialize
from connectors.csv.scan import ascii_compatible, digest_of, scan_feed
from hub.sdk import (
    READ_WRITE,
    Change,
    Connector,
    ConnectorContext,
    ConnectorSettings,
    Entity,
    EntityMapping,
    FatalError,
    PullPage,
    PushResult,
    RawRecord,
    RecordInvalid,
    parse_decimal,
    register_transform,
)

__all__ = ["CUT_REASON", "CsvConnector", "CsvSettings"]

PAGE = 2000
#: Why the last row of a file that ends in the middle of a line is quarantined.
CUT_REASON = "last line has no line ending: the file may have been cut while being written; fix or re-export the feed"


def _money(value: object, ctx: object) -> object:
    """A decimal amount, with a comma as decimal separator when the feed's settings say so; an
    empty cell is no amount."""
    if value is None or value == "":
        return None
    # Read straight from the settings: this runs for every amount of a feed.
    return parse_decimal(value, decimal_comma=bool(ctx.settings.get("decimal_comma")))  # type: ignore[attr-defined]


def _money_reverse(value: object, ctx: object) -> object:
    if value is None:
        return ""
    text = format(value, "f")
    return text.replace(".", ",") if ctx.setting("decimal_comma") else text  # type: ignore[attr-defined]


register_transform("money", _money, _money_reverse, "a decimal amount; decimal comma when `decimal_comma: true`")


def _ragged(header: list[str], cells: list[str]) -> dict[str, str | None]:
    """A row with fewer or more cells than the header: missing cells are empty (``None``, as
    ``DictReader`` has them) and extra cells are kept under ``__extra__`` (so they still count in
    the row's hash, and the mapping never reads them)."""
    data: dict[str, str | None] = dict(zip(header, cells, strict=False))
    for name in header[len(cells) :]:
        data[name] = None
    if len(cells) > len(header):
        data["__extra__"] = ",".join(cells[len(header) :])
    return data


class CsvSettings(ConnectorSettings):
    type: Literal["csv"] = "csv"
    #: The file of a feed that holds one entity (relative paths: from the config file's folder).
    path: str | None = None
    #: One file per entity, for a feed that holds several.
    files: dict[Entity, str] = {}
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    decimal_comma: bool = False
    #: Canonical field -> this feed's column name, when it differs from the mapping's.
    columns: dict[str, str] = {}
    #: Fewer data rows than this in a file is refused as truncated (0: no check).
    min_rows: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _some_file(self) -> CsvSettings:
        if not self.path and not self.files:
            raise ValueError("give `path` (one feed file) or `files` (a file per entity)")
        return self


class CsvConnector(Connector):
    type_name = "csv"
    display_name = "CSV"
    settings_model = CsvSettings
    capabilities = {e: READ_WRITE for e in Entity}
    push_batch_size = 100_000  # one rewrite of the file per push

    settings: CsvSettings

    def __init__(self, name: str, settings: ConnectorSettings, context: ConnectorContext | None = None) -> None:
        super().__init__(name, settings, context)
        #: Digest of each feed file as this connector last read or wrote it, None once it cannot
        #: tell (the file changed between the pull and a write): the cursor to save after a push.
        self._digests: dict[Entity, str | None] = {}

    def _path(self, entity: Entity) -> Path:
        raw = self.settings.files.get(entity) or self.settings.path
        assert raw is not None
        path = Path(raw)
        return path if path.is_absolute() else self.context.base_dir / path

    def _renames(self, entity: Entity) -> dict[str, str]:
        """This feed's column -> the mapping's column."""
        if not self.settings.columns:
            return {}
        em = self.field_mapping[entity]
        out = {}
        for canonical, column in self.settings.columns.items():
            mapped = em.platform_field(canonical)
            if mapped is not None:
                out[column] = mapped
        return out

    def _load(self, entity: Entity) -> tuple[bytes, os.stat_result]:
        """The feed's bytes, and the status of the very file they were read from (for a rewrite)."""
        path = self._path(entity)
        try:
            with path.open("rb") as handle:
                return handle.read(), os.fstat(handle.fileno())
        except FileNotFoundError:
            raise FatalError(
                f"feed file {path.name} not found (looked in {path.parent.name or '.'}/); check `path`/`files`",
                connector=self.name,
            ) from None
        except OSError as exc:
            raise FatalError(f"cannot read {path.name}: {exc.strerror}", connector=self.name) from None

    def _decode(self, entity: Entity, content: bytes) -> str:
        try:
            return content.decode(self.settings.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise FatalError(
                f"cannot read {self._path(entity).name}: {exc}; check `encoding`", connector=self.name
            ) from None

    def _refuse_truncated(self, entity: Entity, count: int) -> None:
        if count < self.settings.min_rows:
            raise FatalError(
                f"{self._path(entity).name} has {count} rows, fewer than min_rows={self.settings.min_rows}: "
                "refusing a feed that looks truncated",
                connector=self.name,
            )

    async def ping(self) -> None:
        for entity in self.settings.files or {}:
            if not self._path(entity).exists():
                raise FatalError(f"feed file {self._path(entity).name} not found", connector=self.name)
        if self.settings.path and not self._path(Entity.prices).exists():
            raise FatalError(f"feed file {Path(self.settings.path).name} not found", connector=self.name)

    def cursor_after_push(self, entity: Entity, cursor: str) -> str | None:
        """The digest of the file as this connector wrote it: the hub remembers the feed as it is on
        disk now, so any later edit, even one that puts the old content back, is read. None when
        the file had changed since the pull (that change was never read: read everything)."""
        return self._digests.get(entity, cursor)

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Every row of the feed; nothing at all when the file is byte for byte the one of the last
        successful run (its digest is this connector's incremental cursor): re-exported, unchanged
        feeds are common, and recognizing one costs a hash of the file.

        A last data line without a line ending, in a file that has line endings, is how a file cut
        while it was being written looks (``59`` read as ``5``): that row is quarantined, the others
        are read, and the pull does not count as complete, so rows missing after the cut are not
        taken as deleted. This holds for a file whose only data line is the last one too."""
        path = self._path(entity)
        if not ascii_compatible(self.settings.encoding):  # UTF-16 and the like: decoded whole
            async for page in self._pull_decoded(entity, since):
                yield page
            return
        try:
            scan = await asyncio.to_thread(scan_feed, path)
        except FileNotFoundError:
            self._load(entity)  # says which file is missing, as a pull always has
            raise
        self._digests[entity] = scan.digest
        if since == scan.digest:
            yield PullPage([], cursor=scan.digest, complete=False)
            return
        try:
            with path.open(encoding=self.settings.encoding, newline="") as handle:  # streamed, never held
                async for page in self._pages(
                    entity, handle, scan.digest, scan.newlines - 1, scan.guarded, scan.ends_mid_line
                ):
                    yield page
        except UnicodeDecodeError as exc:
            raise FatalError(f"cannot read {path.name}: {exc}; check `encoding`", connector=self.name) from None

    async def _pull_decoded(self, entity: Entity, since: str | None) -> AsyncIterator[PullPage]:
        """A feed in an encoding whose bytes cannot be scanned for line endings: read and decoded whole."""
        content, _ = await asyncio.to_thread(self._load, entity)
        digest = digest_of(content)
        self._digests[entity] = digest
        if since == digest:
            yield PullPage([], cursor=digest, complete=False)
            return
        text = self._decode(entity, content)
        del content
        reader = io.StringIO(text, newline="")
        async for page in self._pages(
            entity, reader, digest, text.count("\n") - 1, has_guarded_cells(text), ends_mid_line(text)
        ):
            yield page

    async def _pages(
        self, entity: Entity, lines: Iterable[str], digest: str, total: int, guarded: bool, cut: bool
    ) -> AsyncIterator[PullPage]:
        """The feed's rows, page by page, from its lines. ``guarded``: a cell may carry the formula
        guard; ``cut``: the file's last line has no line ending."""
        path = self._path(entity)
        delimiter = self.settings.delimiter
        reader = csv.reader(lines, delimiter=delimiter)
        renames = self._renames(entity)
        page: list[RawRecord] = []
        count = 0
        try:
            header = [renames.get(name, name) for name in next(reader, [])]
            width = len(header)
            name = path.name
            # Cells guarded against formula injection are read as the values they hold; one scan of
            # the bytes spares the cell-by-cell look to the feeds that have none.
            rows = map(unguard_row, reader) if guarded else reader
            # Rows are read page by page: a feed is never held as a list of dicts besides its text.
            # A plain reader zipped with the header costs half of ``DictReader`` per row. A full page
            # is sent when the next row comes, so the last row is still at hand after the loop.
            for cells in rows:
                if not cells:
                    continue  # a blank line, as DictReader skips it
                if len(page) >= PAGE:
                    count += len(page)
                    yield PullPage(page, total=total, cursor=digest)
                    page = []
                data = dict(zip(header, cells, strict=False)) if len(cells) == width else _ragged(header, cells)
                page.append(RawRecord(data, {}, f"{name}:{reader.line_num}"))
        except csv.Error as exc:
            raise FatalError(f"cannot read {path.name}: {exc}; check `delimiter`", connector=self.name) from None
        rejected = []
        if page and cut:
            last = page.pop()
            rejected.append((self._key_or_none(entity, last), CUT_REASON, last.origin))
        count += len(page)
        self._refuse_truncated(entity, count)
        yield PullPage(page, total=total, cursor=digest, complete=not rejected, rejected=rejected)

    def _key_or_none(self, entity: Entity, raw: RawRecord) -> str | None:
        try:
            return self.field_mapping[entity].key_of(raw)
        except RecordInvalid:
            return None

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        return await asyncio.to_thread(self._write, entity, changes)

    def _write(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        """Set the changed cells and replace the file, one writer at a time (``feed_lock``)."""
        with feed_lock(self._path(entity)):
            return self._rewrite(entity, changes)

    def _rewrite(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        """Set the changed cells and replace the file; every other cell, row and byte of layout stays.

        A feed whose last line is cut is not rewritten: the line ending the rewrite would add
        would make the cut row look whole to the next read."""
        em = self.field_mapping[entity]
        path = self._path(entity)
        content, file_status = self._load(entity)
        text = self._decode(entity, content)
        delimiter = self.settings.delimiter
        try:
            header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)) or [[]]
        except csv.Error as exc:
            raise FatalError(f"cannot read {path.name}: {exc}; check `delimiter`", connector=self.name) from None
        self._refuse_truncated(entity, sum(1 for row in rows if row))
        if rows and ends_mid_line(text):
            message = f"{path.name} not rewritten, so that its cut last row is not made to look whole: {CUT_REASON}"
            return [PushResult(c.key, False, "feed_cut", message, retriable=True) for c in changes]
        renames = self._renames(entity)
        back = {v: k for k, v in renames.items()}  # the mapping's column -> this feed's column
        index = self._index(em, [renames.get(name, name) for name in header], rows)
        width = len(header)
        results = [_apply(em, change, header, rows, index, back) for change in changes]
        if not any(r.ok for r in results):
            return results  # nothing to change: the file is left as it is
        if len(header) > width:  # a new column: every row gets its cell, as a spreadsheet writes them
            for row in rows:
                if row and len(row) < len(header):
                    row.extend([""] * (len(header) - len(row)))
        layout = Layout.of(content, text)
        data = layout.encode(serialize([header, *rows], delimiter, layout.newline), self.settings.encoding)
        replace_file(path, data, file_status)
        pulled = self._digests.get(entity)
        self._digests[entity] = digest_of(data) if pulled == digest_of(content) else None
        return results

    def _index(self, em: EntityMapping, names: list[str], rows: list[list[str]]) -> dict[str, list[str]]:
        """Key -> the row that holds it, read as the pull reads it (guards undone)."""
        index: dict[str, list[str]] = {}
        for cells in rows:
            if not cells:
                continue
            try:
                index[em.key_of(RawRecord(_ragged(names, unguard_row(cells))))] = cells
            except RecordInvalid:  # a row the pull quarantined: kept as it is
                continue
        return index


def _apply(
    em: EntityMapping,
    change: Change,
    header: list[str],
    rows: list[list[str]],
    index: dict[str, list[str]],
    back: dict[str, str],
) -> PushResult:
    """Set one change's cells in its row (a new row for a create). Text cells are guarded against
    formula injection; numbers the hub formats itself (canonical ints and decimals) are not."""
    row = index.get(change.key)
    if row is not None:
        canonical = dict(change.values)
    elif change.record is not None:
        canonical = {**change.record.model_dump(), **change.values}
    else:
        return PushResult(change.key, False, "not_found", "no row with this key")
    try:
        values = em.to_platform(canonical)
    except (ValueError, TypeError) as exc:
        return PushResult(change.key, False, "unwritable", str(exc))
    if row is None:
        row = index[change.key] = [""] * len(header)
        rows.append(row)
    numbers = {em.platform_field(name) for name, value in canonical.items() if _is_number(value)}
    for column, value in values.items():
        text = "" if value is None else str(value)
        _set(header, row, back.get(column, column), text if column in numbers else guard(text))
    return PushResult(change.key, True)


def _set(header: list[str], row: list[str], column: str, value: str) -> None:
    """Set one cell of a row, adding the column (to the header) or cells (to a short row) it needs."""
    if column not in header:
        header.append(column)
    position = header.index(column)
    if position >= len(row):
        row.extend([""] * (position + 1 - len(row)))
    row[position] = value


def _is_number(value: object) -> bool:
    """A number the hub formats itself (a price, a quantity): written as a number, never guarded."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
