"""A value a target cannot hold fails that record alone when it is checked before sending
(``hub.model.limits.out_of_range``); sent as it is, it fails the whole call it travels in. Against the
Shopify sandbox, whose GraphQL execution refuses an ``Int`` past 32 bits as Shopify does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import create_app, location_gids
from hub.errors import FatalError
from hub.model.base import Entity
from hub.model.catalogue import StockLevel
from hub.model.limits import out_of_range
from hub.plugins.contract import Change, ConnectorContext
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import ServedApp, serve
from hub.sandbox.seed import Catalogue, demo_store
from tests.conftest import TEST_SECRETS


@pytest.fixture
def catalogue() -> Catalogue:
    return demo_store()


@pytest.fixture
def served(catalogue: Catalogue) -> Iterator[ServedApp]:
    with serve(create_app(catalogue, access_token=TEST_SECRETS[0])) as running:
        yield running


def _connector(served: ServedApp, catalogue: Catalogue) -> ShopifyConnector:
    settings = ShopifySettings(
        shop="demo.myshopify.com",
        access_token=TEST_SECRETS[0],
        base_url=served.url,
        verify_tls=False,
        locations=location_gids(catalogue),
    )
    mapping = load_mapping("shopify", settings={"locations": settings.locations})
    return ShopifyConnector("shop", settings, ConnectorContext(mapping=mapping))


async def _changes(connector: ShopifyConnector, too_many: int) -> list[Change]:
    """Four stock corrections, the second of them ``too_many``."""
    mapping = connector.field_mapping[Entity.stock]
    levels = []
    async for page in connector.pull(Entity.stock):
        levels += [(mapping.to_canonical(raw), raw.link) for raw in page.records]
    changes = []
    for i, (level, link) in enumerate(levels[:4]):
        assert isinstance(level, StockLevel)
        wanted = too_many if i == 1 else level.available + 10
        changes.append(
            Change(
                Entity.stock,
                level.key,
                "shop",
                {"available": wanted},
                {"available": level.available},
                None,
                link,
                f"k{i}",
            )
        )
    return changes


async def test_a_quantity_shopify_cannot_hold_fails_alone_when_checked_before_sending(
    served: ServedApp, catalogue: Catalogue
) -> None:
    state = served.app.state.sandbox
    async with _connector(served, catalogue) as connector:
        changes = await _changes(connector, 2**31)

        # Sent as it is, one quantity past 32 bits refuses the whole call: nothing lands.
        with pytest.raises(FatalError, match="Int cannot represent non 32-bit signed integer value"):
            await connector.push(Entity.stock, changes)
        assert state.stock_writes == []

        refused = {c.key: out_of_range(c, connector.value_limits, connector.name) for c in changes}
        sendable = [c for c in changes if refused[c.key] is None]
        results = await connector.push(Entity.stock, sendable)

    bad = changes[1]
    assert refused[bad.key] == "value out of range for shop: available 2147483648 is above 1000000000, its most"
    assert [r.key for r in results if r.ok] == [c.key for c in sendable] and len(sendable) == 3
    written = {(sku, location): n for sku, location, n in state.stock_writes}
    for change in sendable:
        sku, location = change.key.split("@")
        assert written[(sku, location)] == change.values["available"]
    assert (bad.key.split("@")[0], bad.key.split("@")[1]) not in written
