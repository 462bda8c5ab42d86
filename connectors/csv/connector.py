"""The ``csv`` connector: reads and writes products, prices, stock and customers in CSV files.

One file per entity (``path`` for a feed of one entity, or ``files: {prices: ..., stock: ...}``),
with configurable delimiter, encoding and decimal separator (Italian exports use ``;`` and
``,``). Column names come from ``mappings/csv.yaml``; ``columns:`` renames them for one feed
without writing a whole mapping file. Writes replace the file atomically (a temporary file in
the same folder, then a rename), so a reader never sees half a file and a crash leaves the old one.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hub.connector import READ_WRITE, Change, Connector, ConnectorSettings, PullPage, PushResult, RawRecord
from hub.errors import FatalError
from hub.mapping import register_transform
from hub.model import Entity, parse_decimal

__all__ = ["CsvConnector", "CsvSettings"]

PAGE = 2000


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
    settings_model = CsvSettings
    capabilities = {e: READ_WRITE for e in Entity}
    push_batch_size = 100_000  # one rewrite of the file per push

    settings: CsvSettings

    def _path(self, entity: Entity) -> Path:
        raw = self.settings.files.get(entity) or self.settings.path
        assert raw is not None
        path = Path(raw)
        return path if path.is_absolute() else self.context.base_dir / path

    def _renames(self, entity: Entity) -> dict[str, str]:
        """This feed's column -> the mapping's column."""
        if not self.settings.columns or self.context.mapping is None:
            return {}
        em = self.context.mapping[entity]
        out = {}
        for canonical, column in self.settings.columns.items():
            mapped = em.platform_field(canonical)
            if mapped is not None:
                out[column] = mapped
        return out

    def _load(self, entity: Entity) -> bytes:
        path = self._path(entity)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FatalError(
                f"feed file {path.name} not found (looked in {path.parent.name or '.'}/); check `path`/`files`",
                connector=self.name,
            ) from None
        except OSError as exc:
            raise FatalError(f"cannot read {path.name}: {exc.strerror}", connector=self.name) from None

    def _parse(self, entity: Entity, content: bytes) -> tuple[list[str], list[dict[str, str]]]:
        path = self._path(entity)
        try:
            text = content.decode(self.settings.encoding)
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=self.settings.delimiter)
            rows = list(reader)
            header = list(reader.fieldnames or [])
        except (UnicodeDecodeError, LookupError, csv.Error) as exc:
            raise FatalError(
                f"cannot read {path.name}: {exc}; check `encoding` and `delimiter`", connector=self.name
            ) from None
        if len(rows) < self.settings.min_rows:
            raise FatalError(
                f"{path.name} has {len(rows)} rows, fewer than min_rows={self.settings.min_rows}: "
                "refusing a feed that looks truncated",
                connector=self.name,
            )
        return header, rows

    def _read(self, entity: Entity) -> tuple[list[str], list[dict[str, str]]]:
        return self._parse(entity, self._load(entity))

    async def ping(self) -> None:
        for entity in self.settings.files or {}:
            if not self._path(entity).exists():
                raise FatalError(f"feed file {self._path(entity).name} not found", connector=self.name)
        if self.settings.path and not self._path(Entity.prices).exists():
            raise FatalError(f"feed file {Path(self.settings.path).name} not found", connector=self.name)

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:
        """Every row of the feed; nothing at all when the file is byte for byte the one of the last
        successful run (its digest is this connector's incremental cursor): re-exported, unchanged
        feeds are common, and recognizing one costs a hash of the file."""
        content = await asyncio.to_thread(self._load, entity)
        digest = hashlib.blake2b(content, digest_size=16).hexdigest()
        if since == digest:
            yield PullPage([], cursor=digest, complete=False)
            return
        path = self._path(entity)
        try:
            text = content.decode(self.settings.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise FatalError(f"cannot read {path.name}: {exc}; check `encoding`", connector=self.name) from None
        del content
        total = text.count("\n") - 1  # for the progress bar; a multi-line quoted cell makes it an estimate
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.settings.delimiter)
        renames = self._renames(entity)
        page: list[RawRecord] = []
        count = 0
        try:
            header = [renames.get(name, name) for name in next(reader, [])]
            width = len(header)
            name = path.name
            # Rows are read page by page: a feed is never held as a list of dicts besides its text.
            # A plain reader zipped with the header costs half of ``DictReader`` per row.
            for cells in reader:
                if not cells:
                    continue  # a blank line, as DictReader skips it
                data = dict(zip(header, cells, strict=False)) if len(cells) == width else _ragged(header, cells)
                page.append(RawRecord(data, {}, f"{name}:{reader.line_num}"))
                if len(page) >= PAGE:
                    count += len(page)
                    yield PullPage(page, total=total, cursor=digest)
                    page = []
            count += len(page)
        except csv.Error as exc:
            raise FatalError(f"cannot read {path.name}: {exc}; check `delimiter`", connector=self.name) from None
        if count < self.settings.min_rows:
            raise FatalError(
                f"{path.name} has {count} rows, fewer than min_rows={self.settings.min_rows}: "
                "refusing a feed that looks truncated",
                connector=self.name,
            )
        yield PullPage(page, total=total, cursor=digest)

    async def push(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        return await asyncio.to_thread(self._write, entity, changes)

    def _write(self, entity: Entity, changes: Sequence[Change]) -> list[PushResult]:
        assert self.context.mapping is not None
        em = self.context.mapping[entity]
        header, rows = self._read(entity)
        renames = self._renames(entity)
        back = {v: k for k, v in renames.items()}  # the mapping's column -> this feed's column
        index: dict[str, dict[str, str]] = {}
        for row in rows:
            data = {renames.get(k, k): v for k, v in row.items()}
            try:
                index[em.key_of(RawRecord(data))] = row
            except Exception:  # a row the pull quarantined: kept as it is
                continue
        results = []
        for change in changes:
            try:
                values = em.to_platform(change.values)
            except (ValueError, TypeError) as exc:
                results.append(PushResult(change.key, False, "unwritable", str(exc)))
                continue
            row = index.get(change.key)
            if row is None:
                if change.record is None:
                    results.append(PushResult(change.key, False, "not_found", "no row with this key"))
                    continue
                row = {c: "" for c in header}
                rows.append(row)
                index[change.key] = row
                values = {**em.to_platform(change.record.model_dump()), **values}
            for column, value in values.items():
                column = back.get(column, column)
                if column not in header:
                    header.append(column)
                row[column] = "" if value is None else str(value)
            results.append(PushResult(change.key, True))
        self._replace(entity, header, rows)
        return results

    def _replace(self, entity: Entity, header: list[str], rows: list[dict[str, str]]) -> None:
        path = self._path(entity)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding=self.settings.encoding) as handle:
                writer = csv.DictWriter(
                    handle, fieldnames=header, delimiter=self.settings.delimiter, extrasaction="ignore"
                )
                writer.writeheader()
                writer.writerows(rows)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
