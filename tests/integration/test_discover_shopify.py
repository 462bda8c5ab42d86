"""``omnihub discover`` on Shopify lists every store location there is to map, not only the mapped
ones: the stock pull skips locations ``locations:`` does not name, so without the platform's own
list an admin (and ``omnihub init``) would never learn their gids."""

from __future__ import annotations

from connectors.shopify import ShopifyConnector, ShopifySettings
from connectors.shopify.sandbox import create_app, location_gids
from hub.model.base import Entity
from hub.plugins.contract import ConnectorContext
from hub.plugins.mapping import load_mapping
from hub.sandbox.kit import serve
from hub.sandbox.seed import demo_store
from hub.sync.discover import discover
from tests.conftest import TEST_SECRETS

TOKEN = TEST_SECRETS[0]


def connector(url: str, locations: dict[str, str]) -> ShopifyConnector:
    settings = ShopifySettings(
        shop="demo.myshopify.com", access_token=TOKEN, base_url=url, verify_tls=False, locations=locations
    )
    mapping = load_mapping("shopify", settings={"locations": settings.locations})
    return ShopifyConnector("shop", settings, ConnectorContext(mapping=mapping))


async def test_discovery_lists_the_unmapped_store_locations_beside_the_mapped_ones() -> None:
    catalogue = demo_store()
    gids = location_gids(catalogue)  # gid -> code, as the sandbox's store has them
    (first_gid, first_code), *rest = sorted(gids.items())
    assert rest, "the demo store needs two locations for this test"
    with serve(create_app(catalogue, access_token=TOKEN)) as served:
        async with connector(served.url, {first_gid: first_code}) as shop:
            one_mapped = await discover(shop, entities=[Entity.stock])
        async with connector(served.url, {}) as shop:
            none_mapped = await discover(shop, entities=[Entity.stock])
            names = await shop.platform_locations()
    stock = one_mapped.entity(Entity.stock)
    assert stock is not None and stock.locations == {first_code: stock.locations[first_code]}
    assert stock.platform_locations == {first_gid: first_code, **{gid: None for gid, _ in rest}}
    bare = none_mapped.entity(Entity.stock)
    assert bare is not None and bare.read == 0  # nothing mapped: nothing pulled ...
    assert bare.platform_locations == dict.fromkeys(sorted(gids))  # ... but every gid to map is listed
    assert set(names) == set(gids) and all(names.values())
    assert bare.location_names == dict(sorted(names.items()))
