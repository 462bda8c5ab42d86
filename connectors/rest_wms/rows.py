"""Turning the rows of one WMS page into ``RawRecord``s: the little the connector decides itself.

The mapping file does the renaming and conversion. Before it, the connector must still: skip rows
of warehouses the admin did not map (counted, not a crash), supply ``available`` = on hand -
committed for a WMS that only reports those two, and remember the WMS ids a row carries (the
newest change time is the endpoint's ``Incremental`` cursor). The paths it reads come from the mapping (where
``location``, ``available`` and ``on_hand`` sit) and from the settings (committed, updated at, id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.sdk import RawRecord, dig

__all__ = ["PageRows", "RowShape", "shape_rows"]


@dataclass(frozen=True)
class RowShape:
    """Dotted paths into a WMS row; ``None`` where the row has no such value."""

    sku_path: str | None = None
    id_path: str | None = None
    #: Stock only: the warehouse id, and the quantities available is derived from.
    location_path: str | None = None
    available_path: str | None = None
    on_hand_path: str | None = None
    committed_path: str | None = None


@dataclass
class PageRows:
    """What one page of rows became."""

    records: list[RawRecord] = field(default_factory=list)
    rejected: list[tuple[str | None, str, str]] = field(default_factory=list)
    #: Rows skipped because their warehouse is not in ``locations``, by warehouse id.
    skipped: Counter[str] = field(default_factory=Counter)


def shape_rows(
    rows: Sequence[Any], shape: RowShape, locations: Mapping[str, str], *, origin: str, first_index: int
) -> PageRows:
    """Sort one page's rows into records, rejections and skipped warehouses."""
    out = PageRows()
    for index, row in enumerate(rows, start=first_index):
        where = f"{origin}[{index}]"
        if not isinstance(row, Mapping):
            out.rejected.append((None, f"a row must be a JSON object, not {type(row).__name__}", where))
            continue
        link: dict[str, str] = {}
        if shape.location_path is not None:
            warehouse = dig(row, shape.location_path)
            if warehouse is None or str(warehouse).strip() == "":
                reason = f"the row has no warehouse id at {shape.location_path!r}"
                out.rejected.append((_sku_hint(row, shape.sku_path), reason, where))
                continue
            warehouse = str(warehouse)
            if locations and warehouse not in locations:
                out.skipped[warehouse] += 1
                continue
            link["warehouse_id"] = warehouse
            row = _with_available(row, shape)
        if shape.id_path is not None and (wms_id := dig(row, shape.id_path)) is not None:
            link[shape.id_path.rsplit(".", 1)[-1]] = str(wms_id)
        out.records.append(RawRecord(data=dict(row), link=link, origin=where))
    return out


def _with_available(row: Mapping[str, Any], shape: RowShape) -> Mapping[str, Any]:
    """The row with ``available`` = on hand - committed filled in when the WMS left it out.

    A row that states its own available is trusted as it is (the WMS may hold back more than the
    committed quantity, e.g. damaged or quarantined stock). The difference is not clamped at 0: an
    oversold SKU is information the channels need.
    """
    if shape.available_path is None or dig(row, shape.available_path) is not None:
        return row
    if shape.on_hand_path is None or shape.committed_path is None:
        return row
    on_hand, committed = dig(row, shape.on_hand_path), dig(row, shape.committed_path)
    if not _is_whole(on_hand) or not _is_whole(committed):
        return row  # the mapping reports the bad or missing value with the field's name
    filled = _deep_copy_path(row, shape.available_path)
    _put(filled, shape.available_path, int(on_hand) - int(committed))
    return filled


def _is_whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, str):
        return value.strip().lstrip("-").isdigit()
    return False


def _deep_copy_path(row: Mapping[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``row`` whose dicts along ``path`` are copies too (the original stays untouched)."""
    top = dict(row)
    target = top
    for part in path.split(".")[:-1]:
        child = target.get(part)
        target[part] = dict(child) if isinstance(child, Mapping) else {}
        target = target[part]
    return top


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


def _sku_hint(row: Mapping[str, Any], path: str | None) -> str | None:
    sku = dig(row, path) if path else None
    return str(sku) if sku is not None else None
