"""``hub.sync.discover``: what a connector's pages show, read through its mapping, within bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from hub.model.base import Entity
from hub.plugins.contract import READ, Connector, ConnectorContext, ConnectorSettings, PullPage, RawRecord
from hub.plugins.mapping import load_mapping
from hub.sync.discover import discover, raw_fields


class _Wms(Connector):
    """Three pages of stock rows (the shipped Shopify mapping), at two locations of which one is mapped."""

    type_name = "shopify"
    capabilities: ClassVar = {Entity.stock: READ}

    def __init__(self, total: int | None) -> None:
        mapping = load_mapping("shopify", settings={"locations": {"WH-1": "milano-store"}})
        super().__init__("wms", ConnectorSettings(type="shopify"), ConnectorContext(mapping=mapping))
        self.total = total
        self.pages_sent = 0

    async def pull(self, entity: Entity, since: str | None = None) -> AsyncIterator[PullPage]:  # type: ignore[override]
        for page in range(3):
            self.pages_sent += 1
            rows = [
                RawRecord({"sku": f"SKU-{page}-{n}", "location_id": f"WH-{n % 2 + 1}", "available": n,
                           "on_hand": n, "extra": {"bin": "A1"}}, origin=f"page {page}")
                for n in range(4)
            ]  # fmt: skip
            yield PullPage(rows, total=self.total)


def test_locations_fields_and_refusals_are_reported_and_the_read_stops_at_its_bound() -> None:
    wms = _Wms(total=12)
    found = asyncio.run(discover(wms, max_pages=2))
    (stock,) = found.entities
    assert wms.pages_sent == 2 and stock.read == 8 and stock.cut and stock.reported == 12
    assert stock.locations == {"milano-store": 4}
    assert stock.platform_locations == {"WH-1": "milano-store", "WH-2": None}  # WH-2: not mapped
    assert stock.invalid == 4 and "not mapped" in stock.reasons[0]
    assert "location_id" in stock.mapped_fields and stock.ignored_fields == ["extra.bin"]
    assert len(stock.samples) == 3 and stock.samples[0]["location"] == "milano-store"
    assert found.as_json()["entities"][0]["cut"] is True


def test_a_read_that_ends_within_the_bounds_is_not_cut() -> None:
    found = asyncio.run(discover(_Wms(total=None), max_records=100))
    (stock,) = found.entities
    assert stock.read == 12 and not stock.cut and stock.reported is None
    capped = asyncio.run(discover(_Wms(total=None), max_records=5))
    assert capped.entities[0].read == 5 and capped.entities[0].cut


def test_raw_fields_are_dotted_paths_of_nested_values() -> None:
    assert sorted(raw_fields({"a": 1, "b": {"c": 2, "d": {}}, "e": [1]})) == ["a", "b.c", "b.d", "e"]
