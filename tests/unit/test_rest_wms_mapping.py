"""Rows of the common WMS shape through the shipped mapping: locations, derived available, rejects."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.rest_wms.rows import RowShape, shape_rows
from hub.model.base import Entity, RecordInvalid
from hub.model.catalogue import Product, StockLevel
from hub.plugins.contract import RawRecord
from hub.plugins.mapping import load_mapping
from hub.transport.endpoints import CursorTracker, Incremental

STOCK_SHAPE = RowShape(
    sku_path="sku",
    id_path="item_id",
    location_path="warehouse_id",
    available_path="available",
    on_hand_path="on_hand",
    committed_path="committed",
)
LOCATIONS = {"WH-1": "milano-store", "WH-2": "web-warehouse"}


def stock(record: RawRecord, locations: dict[str, str] = LOCATIONS) -> StockLevel:
    level = load_mapping("rest_wms", settings={"locations": locations})[Entity.stock].to_canonical(record)
    assert isinstance(level, StockLevel)
    return level


def shape(rows: list[Any], locations: dict[str, str] = LOCATIONS, path: RowShape = STOCK_SHAPE) -> Any:
    return shape_rows(rows, path, locations, origin="/v1/inventory", first_index=10)


def test_a_full_row_maps_to_a_stock_level_at_the_canonical_location() -> None:
    page = shape([{"item_id": 9, "sku": " A-1 ", "warehouse_id": "WH-2", "on_hand": 7, "committed": 2, "available": 5}])

    assert stock(page.records[0]) == StockLevel(sku="A-1", location="web-warehouse", available=5, on_hand=7)
    assert page.records[0].link == {"warehouse_id": "WH-2", "item_id": "9"}
    assert page.records[0].origin == "/v1/inventory[10]"


def test_available_is_on_hand_minus_committed_when_the_wms_gives_none() -> None:
    row = {"sku": "A", "warehouse_id": "WH-1", "on_hand": "12", "committed": 5}
    page = shape([row])

    assert stock(page.records[0]).available == 7
    assert "available" not in row  # the WMS's own row is left as it came


def test_an_available_the_wms_states_is_trusted_over_the_difference() -> None:
    page = shape([{"sku": "A", "warehouse_id": "WH-1", "on_hand": 12, "committed": 5, "available": 3}])

    assert stock(page.records[0]).available == 3


def test_an_oversold_sku_keeps_its_negative_available() -> None:
    page = shape([{"sku": "A", "warehouse_id": "WH-1", "on_hand": 2, "committed": 5}])

    assert stock(page.records[0]).available == -3


def test_available_is_derived_at_a_nested_path() -> None:
    nested = RowShape(
        location_path="wh.id",
        available_path="qty.free",
        on_hand_path="qty.on_hand",
        committed_path="qty.allocated",
    )
    page = shape([{"wh": {"id": "WH-1"}, "qty": {"on_hand": 9, "allocated": 4}}], path=nested)

    assert page.records[0].data["qty"] == {"on_hand": 9, "allocated": 4, "free": 5}


def test_a_row_without_a_number_for_committed_is_left_for_the_mapping_to_refuse() -> None:
    page = shape([{"sku": "A", "warehouse_id": "WH-1", "on_hand": 4, "committed": "lots"}])

    with pytest.raises(RecordInvalid, match="available"):
        stock(page.records[0])


def test_unmapped_warehouses_are_skipped_and_counted_not_a_crash() -> None:
    rows = [
        {"sku": "A", "warehouse_id": "WH-1", "on_hand": 1, "committed": 0},
        {"sku": "A", "warehouse_id": "WH-9", "on_hand": 1, "committed": 0},
        {"sku": "B", "warehouse_id": "WH-9", "on_hand": 1, "committed": 0},
    ]
    page = shape(rows)

    assert [r.data["sku"] for r in page.records] == ["A"]
    assert page.skipped == {"WH-9": 2}
    assert page.rejected == []


def test_without_locations_warehouse_ids_are_the_location_codes() -> None:
    page = shape([{"sku": "A", "warehouse_id": "WH-9", "on_hand": 1, "committed": 0}], locations={})

    assert stock(page.records[0], locations={}).location == "WH-9"


def test_rows_without_a_warehouse_or_not_objects_are_rejected_with_where_they_were() -> None:
    page = shape([{"sku": "A", "on_hand": 1}, ["not", "a", "row"]])

    assert page.records == []
    assert page.rejected[0] == ("A", "the row has no warehouse id at 'warehouse_id'", "/v1/inventory[10]")
    assert page.rejected[1][2] == "/v1/inventory[11]" and "JSON object" in page.rejected[1][1]


def test_available_above_on_hand_is_refused_by_the_model() -> None:
    page = shape([{"sku": "A", "warehouse_id": "WH-1", "on_hand": 1, "committed": 0, "available": 4}])

    with pytest.raises(RecordInvalid, match="exceeds on_hand"):
        stock(page.records[0])


def test_items_map_to_products() -> None:
    mapping = load_mapping("rest_wms")[Entity.products]
    product = mapping.to_canonical(
        RawRecord({"id": 1, "sku": "A", "name": "Tee", "barcode": "8001234567890", "status": "inactive"})
    )

    assert product == Product(sku="A", title="Tee", barcode="8001234567890", status="archived")
    assert mapping.to_canonical(RawRecord({"sku": "B", "name": "Cap", "barcode": ""})).barcode is None


def test_newest_timestamp_compares_times_not_strings() -> None:
    tracker = CursorTracker(Incremental("updated_at", raw=True))  # the WMS's cursor: its own text
    tracker.see("2026-01-01T10:00:00Z")
    tracker.see("2026-01-01T11:30:00+02:00")  # 09:30 UTC, older
    tracker.see("not a time")

    assert tracker.cursor == "2026-01-01T10:00:00Z"
